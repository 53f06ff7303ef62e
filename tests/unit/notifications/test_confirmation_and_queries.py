"""Confirmation links (forged, expired, replayed), the three queries, and a rebuild of the
read model from the event store giving the same documents."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from functions.bootstrap import InMemoryPlatform
from functions.notifications import wiring
from infra.local.mail import MailSink
from shared.domain.clock import FixedClock
from tests.unit.notifications.helpers import (
    SUBSCRIPTIONS_EVENTS,
    Bus,
    created,
    declined,
    envelope_of,
    paid,
)

MAIN = str(Path(__file__).parents[3] / "main.py")


def client(target: str) -> Any:
    return functions_framework.create_app(target, MAIN).test_client()  # type: ignore[no-untyped-call]


def link_in(mail: Any) -> str:
    found = re.search(r"confirm\?token=(\S+)", mail.get_content())
    assert found
    return found.group(1)


def confirm(token: str) -> Any:
    return client("notifications_commands_http").post("/confirm", json={"token": token})


def test_a_link_confirms_once_and_a_replay_forgery_or_expired_link_is_refused(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, clock: FixedClock
) -> None:
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.run()
    token = link_in(sink.messages[0])
    page = client("notifications_commands_http").get(f"/confirm?token={token}")
    assert page.status_code == 200 and b"<form" in page.data  # a GET confirms nothing
    assert confirm(token).status_code == 200
    assert confirm(token).get_json()["error"]["reason"] == "link_already_used"
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert confirm(forged).status_code == 403
    assert confirm("garbage").status_code == 403
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert row["status"] == "confirmed"
    assert bus.events()[-1] == "confirmed"

    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created(code="0002")))
    bus.run()
    late = link_in(sink.messages[1])
    clock.advance(days=4)
    answer = confirm(late)
    assert (answer.status_code, answer.get_json()["error"]["reason"]) == (410, "link_expired")


def test_a_link_signed_with_the_previous_key_still_confirms(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    w = wiring.build(platform)
    old = w.links.__class__(keys=[b"old-key"], base_url="x")
    rotated = w.links.__class__(keys=[b"new-key", b"old-key"], base_url="x")
    token = old.token("n-1", platform.clock())
    assert rotated.verify(token, platform.clock()) == "n-1"


def test_queries_answer_a_recipients_notifications_one_with_its_history_and_by_cause(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, clock: FixedClock
) -> None:
    creation = created()
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(creation))
    clock.advance(seconds=1)
    declining = envelope_of(declined(creation.subscription_id))
    bus.send(SUBSCRIPTIONS_EVENTS, declining)
    clock.advance(seconds=1)
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(paid(creation.subscription_id)))
    bus.run()
    queries = client("notifications_queries_http")
    first = queries.get("/recipients/client-0001/notifications?limit=2").get_json()
    assert [i["template"] for i in first["items"]] == ["subscription_paid", "payment_declined"]
    rest = queries.get(
        f"/recipients/client-0001/notifications?limit=2&cursor={first['next_cursor']}"
    )
    assert [i["template"] for i in rest.get_json()["items"]] == ["subscription_created"]
    assert all(i["status"] == "sent" for i in first["items"])

    by_cause = queries.get(f"/causes/{declining.id}/notifications").get_json()["items"]
    assert [(i["template"], i["status"], i["channel"]) for i in by_cause] == [
        ("payment_declined", "sent", "email")
    ]
    detail = queries.get(f"/notifications/{by_cause[0]['notification_id']}").get_json()
    assert [h["type"].rsplit(".", 2)[-2] for h in detail["history"]] == [
        "created", "attempt_started", "sent",
    ]  # fmt: skip
    assert detail["facts"]["reason"] == "card_declined"
    assert "email" not in str(detail["facts"]) and "@" not in str(detail)
    assert queries.get("/notifications/nope").status_code == 404
    assert queries.get("/recipients/client-0001/notifications?x=1").status_code == 400


def test_a_rebuild_from_the_event_store_gives_the_same_read_model(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, clock: FixedClock
) -> None:
    sink.refuse_with("451 later")
    for code in ("0001", "0002", "0003"):
        bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created(code=code)))
    bus.run()
    sink.refuse_with(None)
    clock.advance(seconds=5)
    bus.run()
    w = wiring.build(platform)
    live = {i: d for i, d in platform.store.query(w.storage.view.collection, limit=100).items}
    result = w.projection_runner("rebuilt_view").rebuild()
    rebuilt = {i: d for i, d in platform.store.query("rebuilt_view", limit=100).items}
    assert rebuilt == live and len(live) == 3
    assert result.applied == 3 * 5 and result.skipped == 0  # created, 2 x (started, outcome)
    again = w.projection_runner("rebuilt_view").catch_up()
    assert again.applied == 0  # positions were kept: nothing new


@pytest.mark.parametrize("unknown", ["co.saludtech.notifications.notification.archived.v9"])
def test_an_unknown_stored_event_is_skipped_and_counted(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, unknown: str
) -> None:
    from functions.notifications.domain import Notification
    from shared.ports.event_store import NewEvent
    from shared.service.event_sourcing import EventSourcedRepository

    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.run()
    w = wiring.build(platform)
    [nid] = [i for i, _ in platform.store.query(w.storage.view.collection).items]

    def add_unknown(tx: Any) -> None:
        streams = w.storage.events.streams(tx)
        streams.append(
            nid, [NewEvent("e-x", unknown, {"x": 1})], expected_version=streams.version(nid)
        )

    platform.store.run_in_transaction(add_unknown)

    def load(tx: Any) -> tuple[Notification | None, int]:
        repository = EventSourcedRepository(w.storage.events.streams(tx), Notification)
        return repository.get(nid), repository.skipped

    notification, skipped = platform.store.run_in_transaction(load)
    assert notification is not None and notification.status.value == "sent"
    assert skipped == 1
    assert w.projection_runner("rebuilt").rebuild().skipped == 1


def test_the_mailed_link_opens_on_the_public_api_and_confirms_once(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    """The link points at the api (the notifications door is internal in the cloud): a GET
    answers the page and confirms nothing, the page's form confirms, a replay is refused."""
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.run()
    content = sink.messages[0].get_content()
    found = re.search(r"https?://\S+?(/v1/notifications/confirm)\?token=(\S+)", content)
    assert found, "the link names the api's confirm route"
    path, token = found.group(1), found.group(2)
    api = client("api_http")

    page = api.get(f"{path}?token={token}")
    assert page.status_code == 200 and b'<form method="post">' in page.data
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert row["status"] != "confirmed"

    by_form = api.post(f"{path}?token={token}", data={"token": token})
    assert (by_form.status_code, by_form.get_json()["status"]) == (200, "confirmed")
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert row["status"] == "confirmed"

    again = api.post(path, json={"token": token})
    assert (again.status_code, again.get_json()["error"]["reason"]) == (409, "link_already_used")
    assert api.post(path, json={"token": "garbage"}).status_code == 403
