"""The local mailbox: a real SMTP server keeping messages as files and showing them as a page."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import requests

from infra.local.mail import MailSink, free_port, mailbox_page, stored_messages


def test_the_sink_keeps_what_it_is_sent_and_the_page_lists_it(tmp_path: Path) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@saludtech.local", "b@example.com", "Hello <b>"
    mail.set_content("text")
    with MailSink(directory=tmp_path) as sink:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
            client.send_message(mail)
        [kept] = sink.wait_for(1, timeout=10)
        port = free_port()
        page = mailbox_page(sink, port)
        try:
            listing = requests.get(f"http://127.0.0.1:{port}/", timeout=5).text
            one = requests.get(f"http://127.0.0.1:{port}/1", timeout=5).text
        finally:
            page.shutdown()
    assert kept["Subject"] == "Hello <b>"
    assert [(n, str(m["To"])) for n, m in stored_messages(tmp_path)] == [
        ("000001", "b@example.com")
    ]
    assert "Hello &lt;b&gt;" in listing and "<b>" not in listing.split("<table>")[1]
    assert "text" in one


def test_the_sink_can_refuse_with_a_chosen_reply() -> None:
    with MailSink() as sink:
        sink.refuse_with("550 5.1.1 no such user")
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
            try:
                client.sendmail("a@x", ["b@y"], "Subject: x\n\ny")
                refused = None
            except smtplib.SMTPDataError as error:
                refused = error.smtp_code
    assert refused == 550 and sink.messages == []
