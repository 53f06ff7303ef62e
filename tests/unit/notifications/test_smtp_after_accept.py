"""A mail the SMTP server accepted is delivered, whatever QUIT then does (a 421, a dropped
connection, no answer): otherwise the next attempt sends it again."""

from __future__ import annotations

import pytest

from functions.notifications.adapters.smtp_email import SmtpEmailChannel
from tests.unit.notifications.scripted_smtp import OUTGOING, TO, ScriptedServer


@pytest.mark.parametrize("on_quit", ["221", "421", "close", "hang"])
def test_accepted_is_delivered_whatever_quit_answers(smtp: ScriptedServer, on_quit: str) -> None:
    smtp.on_quit = on_quit
    channel = SmtpEmailChannel("127.0.0.1", smtp.server_address[1], "a@b.c", timeout=0.5)
    outcome = channel.send(OUTGOING, TO)
    assert (outcome.delivered, smtp.accepted) == (True, 1)


@pytest.mark.parametrize(("answer", "reason", "permanent"), [
    ("451 4.3.0 try later", "smtp_451", False),
    ("554 5.7.1 refused", "smtp_554", True),
])  # fmt: skip
def test_a_refused_end_of_data_is_not_delivered(
    smtp: ScriptedServer, answer: str, reason: str, permanent: bool
) -> None:
    smtp.on_data_end = answer
    channel = SmtpEmailChannel("127.0.0.1", smtp.server_address[1], "a@b.c", timeout=0.5)
    outcome = channel.send(OUTGOING, TO)
    assert (outcome.delivered, outcome.reason, outcome.permanent) == (False, reason, permanent)
