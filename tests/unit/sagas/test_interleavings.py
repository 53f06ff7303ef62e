"""Random interleavings of replies, failures, duplicates, reorders and timeouts (hypothesis).

After every run, once the saga is left alone long enough for every deadline to pass, it
ends COMPLETED, COMPENSATED or STUCK (visible), never half-way; a data service was only
ever created for an active, paid subscription (world.py asserts it when the command
arrives); no data service is left for a saga that did not complete; a client is told
"ready" only for a completed saga; a start is only ever sent for a data service with an
expert and a prepared dataset, whatever the order of the two parallel branches (world.py
asserts it too).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions import bootstrap
from functions.subscriptions.messages import PaymentDeclined
from tests.unit.sagas.world import World, new_world, saga

FAULTS = ["", "", "lost", "reply_lost", "rejected", "dead_lettered", "failed"]
COMMANDS = [
    "CreateDataServiceV2",
    "AssignExpert",
    "PrepareDataset",
    "StartDataService",
    "CancelDataService",
    "RefundPayment",
]
# Pub/Sub loses nothing: a message is late (reordered) or repeated, never gone; commands
# are lost or their replies lost through the faults, and the saga's resends recover them.
ACTIONS = st.sampled_from(
    ["next", "next", "next", "duplicate", "reorder", "tick", "cancel", "decline"]
)


def _decline(world: World, subscription_id: str) -> None:
    """A card declined, delivered first (before or after the payment that succeeded): the
    third one fails the payment step, and a payment that then arrives is refunded."""
    world.event(
        PaymentDeclined(
            subscription_id=subscription_id, client_code="0001", plan="PRO",
            payment_id=f"declined-{len(world.inbox)}", amount_cents=49_900, currency="USD",
            reason="card_declined", declined_at="2026-12-02T12:00:00.000Z",
        )
    )  # fmt: skip
    world.inbox.insert(0, world.inbox.pop())


def _drive(world: World, actions: list[str], subscriptions: list[str]) -> None:
    for action in actions:
        if action == "tick":
            world.tick(minutes=7)
        elif action == "cancel":
            world.cancel_by_client(subscriptions[0])
        elif action == "decline":
            _decline(world, subscriptions[-1])
        elif not world.inbox:
            continue
        elif action == "next":
            world.process(world.inbox.pop(0))
        elif action == "duplicate":
            world.process(world.inbox[0])
        elif action == "reorder":
            world.inbox.append(world.inbox.pop(0))


def _settle(world: World) -> None:
    """Left alone: every message delivered, every deadline passed, many times over."""
    for _ in range(52):  # past the saga's deadline (100 hours) and every retry
        world.run(limit=400)
        world.tick(hours=2)
    world.run(limit=400)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=st.sampled_from(["PRO", "ENTERPRISE"]),
    faults=st.dictionaries(st.sampled_from(COMMANDS), st.sampled_from(FAULTS), max_size=3),
    actions=st.lists(ACTIONS, max_size=40),
    two=st.booleans(),
)
def test_every_interleaving_ends_completed_compensated_or_stuck(
    plan: str, faults: dict[str, str], actions: list[str], two: bool
) -> None:
    world = new_world()
    world.redeliver = True
    try:
        world.faults.update({k: v for k, v in faults.items() if v})
        subscriptions = ["sub-1", "sub-2"] if two else ["sub-1"]
        for subscription_id in subscriptions:
            world.create_subscription(subscription_id, plan=plan)
            world.pay(subscription_id, f"pay-{subscription_id}")
        _drive(world, actions, subscriptions)
        _settle(world)
        for subscription_id in subscriptions:
            found = saga(world, subscription_id)
            status = found["status"]
            assert status in ("COMPLETED", "COMPENSATED", "STUCK"), found
            services = [found["facts"].get("data_service_id"), found["facts"].get("holdout_id")]
            live = {
                world.data_services.get(s) for s in services if s and s in world.data_services
            } - {"CANCELLED", "FAILED"}
            told_ready = subscription_id in world.told_ready
            if status == "COMPLETED":
                assert told_ready
            else:
                assert not told_ready
            state = world.subscriptions[subscription_id]
            if status == "COMPENSATED":
                assert not live, (found, world.data_services)
                assert state.paid <= state.refunded
            if status == "COMPLETED":  # its data service is for a paid subscription
                assert state.paid - state.refunded
    finally:
        bootstrap.use(None)
