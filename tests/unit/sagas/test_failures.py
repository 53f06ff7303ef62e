"""Failure injected at every step, before the side effect, after it and after the reply:
every done step is compensated, in reverse order, and the client hears "failed", never
"ready"."""

from __future__ import annotations

import pytest

from functions.sagas.messages import SagaCompensated
from tests.unit.sagas.world import World, log_of, saga

UNDO_ALL = ["CancelDataService", "RefundPayment", "CancelSubscription"]


def _paid_saga(world: World) -> None:
    world.create_subscription("sub-1")
    world.pay("sub-1")
    world.run()


def _compensations(world: World) -> list[str]:
    undo = {"CancelDataService", "RefundPayment", "CancelSubscription", "ChangePlan"}
    return [
        type(e.payload).__name__ for e in world.commands_seen if type(e.payload).__name__ in undo
    ]


@pytest.mark.parametrize(
    ("command", "undone"),
    [
        ("CreateDataServiceV2", ["RefundPayment", "CancelSubscription"]),
        ("AssignExpert", UNDO_ALL),
        ("PrepareDataset", UNDO_ALL),
        ("StartDataService", UNDO_ALL),
    ],
)
@pytest.mark.parametrize("fault", ["rejected", "dead_lettered"])
def test_a_refused_step_undoes_every_done_step_in_reverse_order(
    world: World, command: str, undone: list[str], fault: str
) -> None:
    world.faults[command] = fault
    _paid_saga(world)
    found = saga(world, "sub-1")
    assert found["status"] == "COMPENSATED", found
    assert _compensations(world) == undone
    assert world.told_failed == {"sub-1"} and not world.told_ready
    # What the client is told was reversed, in the order it was: the steps of those commands.
    steps = {"CancelDataService": "data_service", "RefundPayment": "payment",
             "CancelSubscription": "subscription"}  # fmt: skip
    [compensated] = [
        e.payload
        for e in world.platform.publisher.messages("sagas-events")
        if isinstance(e.payload, SagaCompensated)
    ]
    assert compensated.undone == [steps[kind] for kind in undone]
    assert world.subscriptions["sub-1"].status == "CANCELLED"
    assert world.subscriptions["sub-1"].refunded == {"pay-1"}


def test_a_delivery_that_fails_after_its_start_is_compensated(world: World) -> None:
    world.faults["StartDataService"] = "failed"
    _paid_saga(world)
    assert saga(world, "sub-1")["failure"] == "image_missing"
    assert _compensations(world) == UNDO_ALL
    assert world.data_services and set(world.data_services.values()) == {"CANCELLED"}


@pytest.mark.parametrize(
    "command", ["CreateDataServiceV2", "AssignExpert", "PrepareDataset", "StartDataService"]
)
def test_a_lost_command_is_resent_with_the_same_id_then_times_out(
    world: World, command: str
) -> None:
    world.faults[command] = "lost"
    _paid_saga(world)
    world.tick(minutes=6)  # resend_after passed: the same command again
    world.run()
    sent = [e for e in world.commands_seen if type(e.payload).__name__ == command]
    assert len(sent) == 2 and sent[0].id == sent[1].id
    world.tick(hours=73)  # the step's deadline passed (the delivery's is 72 hours)
    world.run()
    found = saga(world, "sub-1")
    assert found["status"] == "COMPENSATED"
    assert found["failure"] == "step_deadline_exceeded"
    assert not world.told_ready


@pytest.mark.parametrize("command", ["CreateDataServiceV2", "AssignExpert", "PrepareDataset"])
def test_a_lost_reply_is_recovered_by_resending_the_same_command(
    world: World, command: str
) -> None:
    world.faults[command] = "reply_lost"
    _paid_saga(world)
    assert saga(world, "sub-1")["status"] == "RUNNING"
    world.faults.pop(command)
    world.tick(minutes=6)  # the receiver's inbox answers the resend with its first reply
    world.run()
    assert saga(world, "sub-1")["status"] == "COMPLETED"
    assert world.told_ready == {"sub-1"}


def test_a_duplicated_and_reordered_reply_changes_nothing(world: World) -> None:
    world.create_subscription("sub-1")
    world.pay("sub-1")
    world.process(world.inbox.pop(0))  # the saga starts
    world.process(world.inbox.pop(0))  # paid: CreateDataServiceV2 is sent
    created = world.inbox.pop(0)
    world.process(created)
    world.process(created)  # the very same reply again
    assigned = world.inbox.pop(0)
    world.inbox.insert(0, created)  # a stale duplicate overtakes the next reply
    world.inbox.append(assigned)
    world.run()
    found = saga(world, "sub-1")
    assert found["status"] == "COMPLETED"
    # A duplicate is answered from the inbox: the same command, same id, published again.
    sent = {(type(e.payload).__name__, e.id) for e in world.commands_seen}
    assert sorted(kind for kind, _ in sent) == [
        "AssignExpert",
        "CreateDataServiceV2",
        "PrepareDataset",
        "StartDataService",
    ]


def test_every_reply_delivered_again_is_answered_from_the_inbox(world: World) -> None:
    world.create_subscription("sub-1")
    world.pay("sub-1")
    world.run()  # completed; now replay every message the saga consumed
    before = len(log_of(world, "sub-1"))
    for replies in list(world.answered.values()):
        for reply in replies:
            world.process(reply)
    assert len(log_of(world, "sub-1")) == before  # the inbox answered every one of them


def test_a_payment_before_its_saga_started_is_retried_not_lost(world: World) -> None:
    from functions.sagas.handlers import SagaNotYetKnown

    created = world.create_subscription("sub-1")
    world.inbox.remove(created)
    paid = world.pay("sub-1")
    world.inbox.remove(paid)
    with pytest.raises(SagaNotYetKnown):
        world.process(paid)
    world.process(created)
    world.process(paid)
    world.run()
    assert saga(world, "sub-1")["status"] == "COMPLETED"


def test_a_declined_card_is_logged_and_the_client_may_pay_again(world: World) -> None:
    from functions.subscriptions.messages import PaymentDeclined

    world.create_subscription("sub-1")
    world.run()
    world.event(
        PaymentDeclined(
            subscription_id="sub-1",
            client_code="0001",
            plan="PRO",
            payment_id="pay-0",
            amount_cents=49_900,
            currency="USD",
            reason="card_declined",
            declined_at="2026-12-02T12:00:00.000Z",
        )
    )
    world.run()
    failed = [e for e in log_of(world, "sub-1") if e["status"] == "FAILED"]
    assert [(e["step"], e["reason"]) for e in failed] == [("payment", "card_declined")]
    world.pay("sub-1")
    world.run()
    assert saga(world, "sub-1")["status"] == "COMPLETED"


def test_no_payment_before_the_step_deadline_cancels_the_subscription(world: World) -> None:
    world.create_subscription("sub-1")
    world.run()
    world.tick(hours=25)
    world.run()
    found = saga(world, "sub-1")
    assert (found["status"], found["failed_step"]) == ("COMPENSATED", "payment")
    assert _compensations(world) == ["CancelSubscription"]


def test_the_saga_deadline_fails_it_even_if_each_step_is_in_time(world: World) -> None:
    world.faults["StartDataService"] = "reply_lost"
    _paid_saga(world)
    # Resends stay unanswered; the step lasts 72 hours (a start held for an expert's review).
    for _ in range(73):
        world.tick(hours=1)
    world.run()
    found = saga(world, "sub-1")
    assert found["failure"] == "step_deadline_exceeded"
    # A late success of a given-up step reopens the compensation: it is undone too.
    assert found["status"] == "COMPENSATED"


def test_a_success_after_the_saga_was_compensated_reopens_it_and_is_undone(world: World) -> None:
    from functions.data_services.messages import DataServiceCreated

    world.faults["CreateDataServiceV2"] = "reply_lost"
    _paid_saga(world)
    world.tick(minutes=11)  # the step's deadline: a last resend, whose answer we hold back
    late = [e for e in world.inbox if isinstance(e.payload, DataServiceCreated)]
    assert late
    for envelope in late:
        world.inbox.remove(envelope)
    world.run()
    assert saga(world, "sub-1")["status"] == "COMPENSATED"
    assert "CancelDataService" not in _compensations(world)
    world.inbox.extend(late)
    world.run()
    found = saga(world, "sub-1")
    assert found["status"] == "COMPENSATED"
    assert _compensations(world) == ["RefundPayment", "CancelSubscription", "CancelDataService"]
    assert set(world.data_services.values()) == {"CANCELLED"}


# -- the parallel branches: the expert and the dataset ------------------------------------
def _branches(world: World) -> dict[str, str]:
    steps = {s["name"]: s["status"] for s in saga(world, "sub-1")["steps"]}
    return {name: steps[name] for name in ("expert", "dataset", "delivery")}


@pytest.mark.parametrize(
    ("failing", "finished"), [("PrepareDataset", "expert"), ("AssignExpert", "dataset")]
)
def test_a_branch_that_fails_after_its_sibling_finished_undoes_the_sibling_too(
    world: World, failing: str, finished: str
) -> None:
    """The dataset resolves to no image after the expert was assigned (or no expert is free
    after the dataset was frozen): the finished branch is undone with the data service."""
    world.faults[failing] = "rejected"
    world.fault_reason[failing] = (
        "dataset_empty" if failing == "PrepareDataset" else "no_expert_available"
    )
    world.create_subscription("sub-1")
    world.pay("sub-1")
    for _ in range(3):  # started, paid, data service created: both branches sent at once
        world.process(world.inbox.pop(0))
    sent = [type(e.payload).__name__ for e in world.commands_seen]
    assert sent[-2:] == ["AssignExpert", "PrepareDataset"]
    # The sibling's success is delivered first, then the failure.
    world.inbox.sort(key=lambda e: "Rejected" in type(e.payload).__name__)
    world.run()
    found = saga(world, "sub-1")
    assert (found["status"], found["failed_step"]) == (
        "COMPENSATED",
        "dataset" if failing == "PrepareDataset" else "expert",
    )
    assert found["failure"] == world.fault_reason[failing]
    steps = _branches(world)
    assert steps[finished] == "COMPENSATED" and steps["delivery"] == "SKIPPED"
    assert _compensations(world) == UNDO_ALL  # the data service first: it frees the expert
    assert set(world.data_services.values()) == {"CANCELLED"}
    assert "StartDataService" not in sent and not world.told_ready
    undone = [e for e in log_of(world, "sub-1") if e["step"] == finished]
    assert undone[-1]["phase"] == "compensation" and undone[-1]["status"] == "PROCESSED"


def test_a_branch_in_flight_when_its_sibling_fails_is_waited_for_then_undone(
    world: World,
) -> None:
    world.faults["AssignExpert"] = "rejected"
    world.faults["PrepareDataset"] = "reply_lost"  # frozen, its reply late
    _paid_saga(world)
    assert saga(world, "sub-1")["status"] == "COMPENSATING"  # waits for the dataset
    assert "CancelDataService" not in _compensations(world)
    [prepare] = [e for e in world.commands_seen if type(e.payload).__name__ == "PrepareDataset"]
    world.inbox.extend(world.answered[prepare.id])
    world.run()
    assert saga(world, "sub-1")["status"] == "COMPENSATED"
    assert _branches(world)["dataset"] == "COMPENSATED"
    assert _compensations(world) == UNDO_ALL


def test_three_declined_cards_fail_the_payment_and_cancel_the_subscription(world: World) -> None:
    from functions.subscriptions.messages import PaymentDeclined

    world.create_subscription("sub-1")
    world.run()
    for attempt in range(3):
        world.event(
            PaymentDeclined(
                subscription_id="sub-1", client_code="0001", plan="PRO",
                payment_id=f"pay-{attempt}", amount_cents=49_900, currency="USD",
                reason="card_declined", declined_at="2026-12-02T12:00:00.000Z",
            )
        )  # fmt: skip
        world.run()
        expected = "RUNNING" if attempt < 2 else "COMPENSATED"
        assert saga(world, "sub-1")["status"] == expected
    found = saga(world, "sub-1")
    assert (found["failed_step"], found["failure"]) == ("payment", "card_declined")
    assert _compensations(world) == ["CancelSubscription"]
    assert world.told_failed == {"sub-1"}
