"""The email channel keeps its SMTP connections: a burst of mails goes over a few of them
instead of one connection (connect, EHLO, STARTTLS, AUTH, QUIT) per mail; a kept connection
that does not answer NOOP, or whose send failed, is never used again."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from functions.notifications.adapters.smtp_email import SmtpEmailChannel
from tests.unit.notifications.scripted_smtp import OUTGOING, TO, ScriptedServer


def _channel(
    server: ScriptedServer, keep_idle: int = 4, mails_per_connection: int = 50
) -> SmtpEmailChannel:
    return SmtpEmailChannel(
        "127.0.0.1", server.server_address[1], "a@b.c", timeout=2,
        keep_idle=keep_idle, mails_per_connection=mails_per_connection,
    )  # fmt: skip


def test_mails_one_after_another_share_one_connection(smtp: ScriptedServer) -> None:
    channel = _channel(smtp)
    outcomes = [channel.send(OUTGOING, TO) for _ in range(5)]
    assert all(o.delivered for o in outcomes) and smtp.accepted == 5
    assert channel.connections_opened == 1
    channel.close()


def test_a_burst_from_many_threads_uses_a_few_connections(smtp: ScriptedServer) -> None:
    channel = _channel(smtp, keep_idle=4)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: channel.send(OUTGOING, TO), range(80)))
    assert all(o.delivered for o in outcomes) and smtp.accepted == 80
    # At most one per thread at once, and a few more when more than 4 were idle at once.
    assert channel.connections_opened <= 20
    channel.close()


def test_a_kept_connection_that_fails_its_check_is_replaced(smtp: ScriptedServer) -> None:
    channel = _channel(smtp)
    assert channel.send(OUTGOING, TO).delivered
    smtp.on_noop = "421 4.4.2 idle too long"
    assert channel.send(OUTGOING, TO).delivered
    assert (smtp.accepted, channel.connections_opened) == (2, 2)


def test_the_connection_of_a_failed_send_is_not_kept(smtp: ScriptedServer) -> None:
    channel = _channel(smtp)
    smtp.on_data_end = "451 4.3.0 try later"
    assert not channel.send(OUTGOING, TO).delivered
    smtp.on_data_end = "250 2.0.0 queued"
    assert channel.send(OUTGOING, TO).delivered
    assert channel.connections_opened == 2


def test_a_connection_is_dropped_after_its_share_of_mails(smtp: ScriptedServer) -> None:
    channel = _channel(smtp, mails_per_connection=2)
    for _ in range(5):
        assert channel.send(OUTGOING, TO).delivered
    assert channel.connections_opened == 3
