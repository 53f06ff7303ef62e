"""A scripted SMTP server for the channel's tests: just enough of RFC 5321 for smtplib, with
configurable answers to the end of DATA, NOOP and QUIT (the `smtp` fixture in conftest.py
serves it on 127.0.0.1)."""

from __future__ import annotations

import socket
import socketserver
import threading

from functions.notifications.messages import ChannelPreference
from functions.notifications.ports import Outgoing


class ScriptedServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    on_quit = "221"
    on_data_end = "250 2.0.0 queued"
    on_noop = "250 ok"  # what a kept connection's check is answered (test_smtp_connections)
    accepted = 0


class ScriptedSmtp(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib, with a configurable answer to QUIT."""

    server: ScriptedServer

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


OUTGOING = Outgoing(
    notification_id="n-1", recipient_id="client-1", template="t", subject="s", text="x",
    facts={}, cause_event_id="e", cause_event_type="t", created_at="c", confirm_url="",
)  # fmt: skip
TO = ChannelPreference(channel="email", address="someone@example.com")
