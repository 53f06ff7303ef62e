"""Email over SMTP (the stack's aiosmtpd sink locally, a relay in the cloud).

The Message-ID is derived from the notification id, so a mail that had to be sent again
(its first attempt's outcome was lost) is recognisable as the same one. Reply codes decide:
5xx refusals are permanent (`smtp_550`), 4xx and an unreachable or slow server are retried
on the schedule; the socket timeout bounds how long a slow server holds one delivery. Once
the server has answered the end of DATA with 2xx the mail is delivered, whatever QUIT then
answers: treating a failed QUIT as a failed attempt used to send the mail again.

Connections are kept and reused by the instance (a few idle ones, each used by one send at a
time): a new connection per mail cost a TCP connect, EHLO, STARTTLS and AUTH (four round
trips and a TLS handshake against a relay) and QUIT, for every mail of a burst. A kept
connection is checked with NOOP before it is used, and one that failed in any way is closed,
never kept: a send goes on a connection in a known state, or on a new one.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from email.utils import formatdate

from functions.notifications.domain import Outcome
from functions.notifications.messages import ChannelPreference
from functions.notifications.ports import Outgoing


class SmtpEmailChannel:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = 10.0,
        keep_idle: int = 4,
        idle_for: float = 30.0,
        mails_per_connection: int = 50,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username, password
        self._starttls, self._timeout = starttls, timeout
        # Idle connections, the last one used on top: (connection, idle since, mails sent).
        # A relay closes idle sessions and may refuse a session's 100th mail (421), so a
        # connection is dropped after `idle_for` seconds or `mails_per_connection` mails.
        self._idle: list[tuple[smtplib.SMTP, float, int]] = []
        self._lock = threading.Lock()
        self._keep_idle, self._idle_for = keep_idle, idle_for
        self._mails_per_connection = mails_per_connection
        self.connections_opened = 0  # for tests and benchmarks

    def message(self, outgoing: Outgoing, address: str) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = address
        mail["Subject"] = outgoing.subject
        mail["Date"] = formatdate(usegmt=True)
        domain = self._sender.rpartition("@")[2] or "saludtech.local"
        mail["Message-ID"] = f"<{outgoing.notification_id}@{domain}>"
        mail["X-Saludtech-Notification"] = outgoing.notification_id
        text = outgoing.text
        if outgoing.confirm_url:
            text += f"\n\nPlease confirm you received this message:\n{outgoing.confirm_url}\n"
        mail.set_content(text)
        return mail

    def send(self, outgoing: Outgoing, preference: ChannelPreference) -> Outcome:
        if not preference.address:
            return Outcome(False, "no_email_address", permanent=True)
        mail = self.message(outgoing, preference.address)
        try:
            server, sent = self._checkout()
        except (smtplib.SMTPException, OSError) as error:
            return _refusal(error)
        try:
            server.send_message(mail)
        except (smtplib.SMTPException, OSError) as error:
            server.close()  # in an unknown state: never used again, not even for QUIT
            return _refusal(error)
        # The server answered the end of DATA with 2xx: the mail is its now. Nothing after
        # this (keeping the connection, or QUIT when it is not kept) can make it an attempt
        # to repeat.
        self._checkin(server, sent + 1)
        return Outcome(True)

    def close(self) -> None:
        """QUIT every idle connection (a connection in use is closed by its send)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for server, _, _ in idle:
            _close(server)

    def _checkout(self) -> tuple[smtplib.SMTP, int]:
        """A kept connection that answers NOOP, else a new one (connected, logged in)."""
        while True:
            with self._lock:
                found = self._idle.pop() if self._idle else None
            if found is None:
                break
            server, since, sent = found
            if time.monotonic() - since > self._idle_for:
                server.close()  # the server may have dropped it: QUIT could wait the timeout
                continue
            try:
                alive = server.noop()[0] == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if alive:
                return server, sent
            server.close()
        server = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        with self._lock:
            self.connections_opened += 1
        try:
            if self._starttls:
                server.starttls(context=ssl.create_default_context())
            if self._username:
                server.login(self._username, self._password)
        except BaseException:
            server.close()
            raise
        return server, 0

    def _checkin(self, server: smtplib.SMTP, sent: int) -> None:
        with self._lock:
            keep = sent < self._mails_per_connection and len(self._idle) < self._keep_idle
            if keep:
                self._idle.append((server, time.monotonic(), sent))
        if not keep:
            _close(server)


def _close(server: smtplib.SMTP) -> None:
    """QUIT, whatever it answers (a 4xx, a drop, no answer), then the socket."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        server.quit()
    server.close()


def _refusal(error: Exception) -> Outcome:
    """What a failure before the server took the mail means (reply codes, never its text)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code = next(iter(error.recipients.values()))[0]
        return Outcome(False, f"smtp_{code}", permanent=500 <= code < 600)
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        return Outcome(False, f"smtp_{code}", permanent=500 <= code < 600)
    if isinstance(error, TimeoutError | smtplib.SMTPServerDisconnected):
        return Outcome(False, "smtp_timeout")
    if isinstance(error, OSError):
        return Outcome(False, "smtp_unreachable")
    return Outcome(False, f"smtp_{type(error).__name__}"[:100])
