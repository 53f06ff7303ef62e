"""A mail the SMTP server accepted is delivered, whatever QUIT then does (a 421, a dropped
connection, no answer): otherwise the next attempt sends it again."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from functions.notifications.adapters.smtp_email import SmtpEmailChannel
from functions.notifications.messages import ChannelPreference
from functions.notifications.ports import Outgoing


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    on_quit = "221"
    on_data_end = "250 2.0.0 queued"
    on_noop = "250 ok"  # what a kept connection's check is answered (test_smtp_connections)
    accepted = 0


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib, with a configurable answer to QUIT."""

    server: _Server

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 test ESMTP")
        in_data = False
        for raw in self.rfile:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if in_data:
                if line == ".":
                    in_data = False
                    if self.server.on_data_end.startswith("2"):
                        self.server.accepted += 1
                    self._say(self.server.on_data_end)
                continue
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 test")
            elif verb in ("MAIL", "RCPT", "RSET"):
                self._say("250 ok")
            elif verb == "NOOP":
                self._say(self.server.on_noop)
            elif verb == "DATA":
                in_data = True
                self._say("354 go on")
            elif verb == "QUIT":
                if self.server.on_quit == "close":
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif self.server.on_quit == "hang":
                    threading.Event().wait(2)
                else:
                    self._say(f"{self.server.on_quit} bye")
                return


@pytest.fixture
def smtp() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Smtp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


OUTGOING = Outgoing(
    notification_id="n-1", recipient_id="client-1", template="t", subject="s", text="x",
    facts={}, cause_event_id="e", cause_event_type="t", created_at="c", confirm_url="",
)  # fmt: skip
TO = ChannelPreference(channel="email", address="someone@example.com")


@pytest.mark.parametrize("on_quit", ["221", "421", "close", "hang"])
def test_accepted_is_delivered_whatever_quit_answers(smtp: _Server, on_quit: str) -> None:
    smtp.on_quit = on_quit
    channel = SmtpEmailChannel("127.0.0.1", smtp.server_address[1], "a@b.c", timeout=0.5)
    outcome = channel.send(OUTGOING, TO)
    assert (outcome.delivered, smtp.accepted) == (True, 1)


@pytest.mark.parametrize(("answer", "reason", "permanent"), [
    ("451 4.3.0 try later", "smtp_451", False),
    ("554 5.7.1 refused", "smtp_554", True),
])  # fmt: skip
def test_a_refused_end_of_data_is_not_delivered(
    smtp: _Server, answer: str, reason: str, permanent: bool
) -> None:
    smtp.on_data_end = answer
    channel = SmtpEmailChannel("127.0.0.1", smtp.server_address[1], "a@b.c", timeout=0.5)
    outcome = channel.send(OUTGOING, TO)
    assert (outcome.delivered, outcome.reason, outcome.permanent) == (False, reason, permanent)
