"""The local mailbox keeps runs apart: a restart numbers on, never over a kept message, and
`mail list` shows this run's messages unless asked for every run's."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import requests
from typer.testing import CliRunner

from infra.local.mail import (
    MailSink,
    free_port,
    mail_app,
    mailbox_page,
    run_messages,
    runs,
    stored_messages,
)


def _send(sink: MailSink, subject: str) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@saludtech.local", "b@example.com", subject
    mail.set_content(f"the text of {subject}")
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
        client.send_message(mail)


def _run(directory: Path, run: str, *subjects: str) -> list[tuple[int, str]]:
    with MailSink(directory=directory, run=run) as sink:
        for subject in subjects:
            _send(sink, subject)
        kept = sink.wait_for(len(subjects), timeout=10)
        assert len(kept) == len(subjects)
        return [(n, str(m["Subject"])) for n, m in sink.numbered()]


def test_a_restart_numbers_on_and_keeps_the_earlier_run(tmp_path: Path) -> None:
    assert _run(tmp_path, "first", "one", "two") == [(1, "one"), (2, "two")]
    earlier = (tmp_path / "000001.eml").read_bytes()
    assert _run(tmp_path, "second", "three") == [(3, "three")]
    assert (tmp_path / "000001.eml").read_bytes() == earlier  # never written over
    assert [(n, str(m["Subject"])) for n, m in stored_messages(tmp_path)] == [
        ("000001", "one"), ("000002", "two"), ("000003", "three"),
    ]  # fmt: skip
    assert [(r.run, r.first) for r in runs(tmp_path)] == [("first", 1), ("second", 3)]
    latest = [(n, run, str(m["Subject"])) for n, run, m in run_messages(tmp_path)]
    assert latest == [("000003", "second", "three")]
    every = [(n, run) for n, run, _ in run_messages(tmp_path, "*")]
    assert every == [("000001", "first"), ("000002", "first"), ("000003", "second")]
    assert [n for n, _, _ in run_messages(tmp_path, "first")] == ["000001", "000002"]


def test_a_run_without_messages_still_ends_the_one_before(tmp_path: Path) -> None:
    _run(tmp_path, "first", "one")
    assert _run(tmp_path, "quiet") == []
    assert run_messages(tmp_path) == []  # the latest run sent nothing
    assert _run(tmp_path, "third", "two") == [(2, "two")]


def test_messages_kept_before_runs_were_recorded_are_not_numbered_over(tmp_path: Path) -> None:
    (tmp_path / "000001.eml").write_bytes(b"Subject: stale\n\nold\n")
    (tmp_path / "000007.eml").write_bytes(b"Subject: stale too\n\nold\n")
    assert _run(tmp_path, "fresh", "new") == [(8, "new")]
    assert [(n, run) for n, run, _ in run_messages(tmp_path, "*")] == [
        ("000001", "-"), ("000007", "-"), ("000008", "fresh"),
    ]  # fmt: skip
    assert (tmp_path / "000001.eml").read_bytes() == b"Subject: stale\n\nold\n"


def test_mail_list_shows_this_run_unless_told_all(tmp_path: Path) -> None:
    _run(tmp_path, "first", "stale subject")
    _run(tmp_path, "second", "fresh subject")
    runner = CliRunner()
    latest = runner.invoke(mail_app, ["list", "--dir", str(tmp_path)], terminal_width=200)
    every = runner.invoke(mail_app, ["list", "--all", "--dir", str(tmp_path)], terminal_width=200)
    shown = runner.invoke(mail_app, ["show", "1", "--dir", str(tmp_path)], terminal_width=200)
    assert latest.exit_code == every.exit_code == shown.exit_code == 0, latest.output
    assert "fresh subject" in latest.output and "stale subject" not in latest.output
    assert "run second" in latest.output and "1 of other runs" in latest.output
    assert "fresh subject" in every.output and "stale subject" in every.output
    assert "stale subject" in shown.output  # a kept message keeps its number


def test_the_page_shows_this_run_by_the_numbers_of_its_files(tmp_path: Path) -> None:
    _run(tmp_path, "first", "stale subject")
    with MailSink(directory=tmp_path, run="second") as sink:
        _send(sink, "fresh subject")
        sink.wait_for(1, timeout=10)
        port = free_port()
        page = mailbox_page(sink, port)
        try:
            listing = requests.get(f"http://127.0.0.1:{port}/", timeout=5).text
            two = requests.get(f"http://127.0.0.1:{port}/2", timeout=5).text
        finally:
            page.shutdown()
    assert "run second" in listing and "fresh subject" in listing
    assert "stale subject" not in listing and 'href="/2"' in listing
    assert "fresh subject" in two
