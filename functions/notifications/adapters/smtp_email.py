"""Email over SMTP (the stack's aiosmtpd sink locally, a relay in the cloud).

The Message-ID is derived from the notification id, so a mail that had to be sent again
(its first attempt's outcome was lost) is recognisable as the same one. Reply codes decide:
5xx refusals are permanent (`smtp_550`), 4xx and an unreachable or slow server are retried
on the schedule; the socket timeout bounds how long a slow server holds one delivery. Once
the server has answered the end of DATA with 2xx the mail is delivered, whatever QUIT then
answers: treating a failed QUIT as a failed attempt used to send the mail again.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
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
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username, password
        self._starttls, self._timeout = starttls, timeout

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
            server = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        except (smtplib.SMTPException, OSError) as error:
            return _refusal(error)
        try:
            try:
                if self._starttls:
                    server.starttls(context=ssl.create_default_context())
                if self._username:
                    server.login(self._username, self._password)
                server.send_message(mail)
            except (smtplib.SMTPException, OSError) as error:
                return _refusal(error)
            # The server answered the end of DATA with 2xx: the mail is its now. Whatever
            # QUIT answers (4xx, a drop, a timeout) must not make it an attempt to repeat.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                server.quit()
            return Outcome(True)
        finally:
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
