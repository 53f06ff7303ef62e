"""HTTP → Pub/Sub → bridge (Eventarc) → function → Firestore → event on the events topic."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.conftest import ChaosSwitch
from tests.e2e.conftest import TopicWatcher, wait_for_outcome
from tests.unit.subscriptions.factories import CLIENT

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
CREATED = "co.saludtech.subscriptions.subscription.created.v1"
PAID = "co.saludtech.subscriptions.subscription.paid.v1"
REJECTED = "co.saludtech.subscriptions.command.rejected.v1"


def post(http: requests.Session, stack: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(
        f"{stack.functions_url}/subscriptions_commands_http{path}", json=body, timeout=10
    )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def test_create_and_pay_over_http(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher]
) -> None:
    events = watch("subscriptions-events")
    created = post(http, stack, "/subscriptions", {"client": CLIENT, "plan": "PRO"})
    assert wait_for_outcome(http, stack.functions_url, created["command_id"])["status"] == "applied"
    sid = created["subscription_id"]
    paid = post(http, stack, f"/subscriptions/{sid}/payments", {"card_token": "tok_visa"})
    assert wait_for_outcome(http, stack.functions_url, paid["command_id"])["status"] == "applied"

    view = http.get(f"{stack.functions_url}{created['links']['subscription']}", timeout=10).json()
    assert view["status"] == "ACTIVE" and view["version"] == 2
    seen = events.wait_for(
        lambda found: {CREATED, PAID} <= {e.type for e in found if e.subject == sid}
    )
    mine = [e for e in seen if e.subject == sid]
    assert [e.type for e in mine] == [CREATED, PAID]
    assert mine[0].causation_id == created["command_id"]
    assert mine[0].correlation_id == created["correlation_id"]


def test_a_refused_command_ends_as_a_failure_event(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher]
) -> None:
    events = watch("subscriptions-events")
    sid = post(http, stack, "/subscriptions", {"client": CLIENT, "plan": "PRO"})["subscription_id"]
    same = post(http, stack, f"/subscriptions/{sid}/plan", {"plan": "PRO"})
    status = wait_for_outcome(http, stack.functions_url, same["command_id"])
    assert (status["status"], status["reason"]) == ("rejected", "plan_unchanged")
    found = events.wait_for(
        lambda es: any(e.type == REJECTED and e.causation_id == same["command_id"] for e in es)
    )
    assert any(e.payload.reason == "plan_unchanged" for e in found if e.type == REJECTED)  # type: ignore[attr-defined]


def test_poison_message_is_dead_lettered_once_not_retried_forever(
    stack: Any, watch: Callable[[str], TopicWatcher]
) -> None:
    events, dead = watch("subscriptions-events"), watch("subscriptions-dead-letter")
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher = pubsub_v1.PublisherClient()
    command_id = str(uuid.uuid4())
    publisher.publish(
        publisher.topic_path(stack.project_id, "subscriptions-commands"),
        b"\xff not json",
        **{
            "ce-id": command_id,
            "ce-type": "co.saludtech.subscriptions.subscription.create.v1",
            "ce-source": "/test",
            "ce-specversion": "1.0",
        },
    ).result(timeout=10)
    found = events.wait_for(
        lambda es: any(e.type == REJECTED and e.payload.command_id == command_id for e in es)  # type: ignore[attr-defined]
    )
    failure = next(e for e in found if e.type == REJECTED and e.payload.command_id == command_id)  # type: ignore[attr-defined]
    assert failure.payload.reason == "malformed_json"  # type: ignore[attr-defined]
    dead.wait_for(lambda _: any(a.get("ce-id") == command_id for _, a in dead.raw), timeout=20)
    kept = [(d, a) for d, a in dead.raw if a.get("ce-id") == command_id]
    assert kept and kept[0][0] == b"\xff not json"


def test_gcloud_publish_reaches_the_command_handler(stack: Any, http: requests.Session) -> None:
    command_id, sid = str(uuid.uuid4()), str(uuid.uuid4())
    body = {"subscription_id": sid, "client": CLIENT, "plan": "BASIC"}
    attributes = ",".join(
        f"{k}={v}"
        for k, v in {
            "ce-id": command_id,
            "ce-type": "co.saludtech.subscriptions.subscription.create.v1",
            "ce-source": "/gcloud",
            "ce-specversion": "1.0",
            "content-type": "application/json",
        }.items()
    )
    subprocess.run(
        [
            "gcloud",
            "pubsub",
            "topics",
            "publish",
            "subscriptions-commands",
            f"--message={json.dumps(body)}",
            f"--attribute={attributes}",
        ],
        env={**__import__("os").environ, **stack.gcloud_env},
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert wait_for_outcome(http, stack.functions_url, command_id)["status"] == "applied"
    assert (
        http.get(
            f"{stack.functions_url}/subscriptions_queries_http/subscriptions/{sid}", timeout=10
        ).json()["plan"]["code"]
        == "BASIC"
    )


def test_chaos_duplicates_and_reordering_give_one_effect_per_command(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher], chaos: ChaosSwitch
) -> None:
    events = watch("subscriptions-events")
    chaos.set(
        stack,
        duplicate_rate=0.3,
        reorder_window=16,
        reorder_max_wait_seconds=0.2,
        seed=11,
        subscriptions=[
            "trigger-subscriptions-create-subscription",
            "trigger-subscriptions-pay-subscription",
        ],
    )
    count = 150
    created: list[dict[str, Any]] = []
    # BASIC: a paid PRO subscription starts the PRO saga, whose own commands (and, with no
    # expert seeded, its compensation) would add events this test does not count.
    with ThreadPoolExecutor(8) as pool:
        created = list(
            pool.map(
                lambda _: post(http, stack, "/subscriptions", {"client": CLIENT, "plan": "BASIC"}),
                range(count),
            )
        )
        sids = {c["subscription_id"] for c in created}
        paid = list(
            pool.map(
                lambda c: post(
                    http,
                    stack,
                    f"/subscriptions/{c['subscription_id']}/payments",
                    {"card_token": "tok_visa"},
                ),
                created,
            )
        )
    for accepted in created + paid:  # 300 commands
        assert (
            wait_for_outcome(http, stack.functions_url, accepted["command_id"], timeout=120)[
                "status"
            ]
            == "applied"
        )

    def complete(found: list[Any]) -> bool:
        return len({(e.subject, e.type) for e in found if e.subject in sids}) == 2 * count

    found = [e for e in events.wait_for(complete, timeout=60) if e.subject in sids]
    distinct = {e.id: e for e in found}
    assert sorted(e.type for e in distinct.values()) == sorted([CREATED] * count + [PAID] * count)
    for sid in sids:
        view = http.get(
            f"{stack.functions_url}/subscriptions_queries_http/subscriptions/{sid}", timeout=10
        ).json()
        assert (view["status"], view["version"], len(view["invoices"])) == ("ACTIVE", 2, 1)
    stats = http.get(f"{stack.bridge_url}/stats", timeout=10).json()
    for handler in ("create-subscription", "pay-subscription"):
        handler_stats = stats[f"trigger-subscriptions-{handler}"]
        assert handler_stats["duplicates_injected"] > 0 and handler_stats["reordered"] > 0


PLAN_CHANGED = "co.saludtech.subscriptions.subscription.plan_changed.v1"


def test_an_upgrade_mid_period_charges_the_prorated_difference(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher]
) -> None:
    """BASIC paid, then ENTERPRISE (monthly → yearly): the unused BASIC month is credited and
    the payment the ENTERPRISE saga awaits charges the year less that credit. BASIC first, so
    no PRO saga runs (and, with no expert seeded, undoes the subscription) meanwhile."""
    events = watch("subscriptions-events")
    base = stack.functions_url
    created = post(http, stack, "/subscriptions", {"client": CLIENT, "plan": "BASIC"})
    sid = created["subscription_id"]
    first = post(http, stack, f"/subscriptions/{sid}/payments", {"card_token": "tok_visa"})
    assert wait_for_outcome(http, base, first["command_id"])["status"] == "applied"
    upgrade = post(http, stack, f"/subscriptions/{sid}/plan", {"plan": "ENTERPRISE"})
    assert wait_for_outcome(http, base, upgrade["command_id"])["status"] == "applied"

    view = http.get(f"{base}{created['links']['subscription']}", timeout=10).json()
    change = view["plan_change"]
    # Seconds of the month are gone: 4,900 x remaining // length, rounded down.
    assert change["credit_cents"] in (4_899, 4_900) and change["proration_cents"] == 499_000
    owed = 499_000 - change["credit_cents"]
    assert change["owed_cents"] == view["amount_due_cents"] == owed

    second = post(http, stack, f"/subscriptions/{sid}/payments", {"card_token": "tok_visa"})
    assert wait_for_outcome(http, base, second["command_id"])["status"] == "applied"
    seen = events.wait_for(
        lambda found: sum(e.type == PAID for e in found if e.subject == sid) >= 2
    )
    mine = [e for e in seen if e.subject == sid]
    [changed] = [e.payload for e in mine if e.type == PLAN_CHANGED]
    assert changed.amount_due_cents == owed  # type: ignore[attr-defined]
    charged = [e.payload.amount_cents for e in mine if e.type == PAID]  # type: ignore[attr-defined]
    assert charged == [4_900, owed]
