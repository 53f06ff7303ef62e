"""Parallel branches, two sagas of one client, a cancel mid-saga, plan changes, crashes,
and the stuck state an operator sees and retries."""

from __future__ import annotations

from typing import Any

import pytest

from functions.data_services.messages import StartDataService
from functions.sagas.messages import SagaStatus
from shared.ports.envelope import Envelope
from tests.unit.sagas.world import World, log_of, saga


def _kinds(world: World) -> list[str]:
    return [type(e.payload).__name__ for e in world.commands_seen]


def test_enterprise_runs_its_holdout_in_parallel_and_completes(world: World) -> None:
    world.create_subscription("sub-e", plan="ENTERPRISE")
    world.pay("sub-e")
    world.run()
    found = saga(world, "sub-e")
    assert found["status"] == "COMPLETED"
    assert _kinds(world)[:2] == ["CreateDataServiceV2", "CreateDataServiceV2"]  # both at once
    assert len(found["steps"]) == 7


def test_a_branch_done_before_its_sibling_failed_is_compensated_too(world: World) -> None:
    world.faults["AssignExpert"] = "rejected"
    world.create_subscription("sub-e", plan="ENTERPRISE")
    world.pay("sub-e")
    world.run()
    found = saga(world, "sub-e")
    assert found["status"] == "COMPENSATED"
    undo = [
        k
        for k in _kinds(world)
        if k in {"CancelDataService", "RefundPayment", "CancelSubscription"}
    ]
    assert undo == ["CancelDataService", "CancelDataService", "RefundPayment", "CancelSubscription"]
    assert set(world.data_services.values()) == {"CANCELLED"}  # the holdout as well


def test_a_branch_still_in_flight_is_waited_for_then_undone_when_it_succeeds(world: World) -> None:
    world.faults["CreateDataServiceV2"] = "reply_lost"
    world.create_subscription("sub-e", plan="ENTERPRISE")
    world.pay("sub-e")
    world.run()
    main, holdout = [
        e for e in world.commands_seen if type(e.payload).__name__ == "CreateDataServiceV2"
    ]
    # The main data service is refused; the holdout's reply is still on its way.
    from functions.data_services.messages import DataServicesCommandRejected

    world.inbox.append(
        main.caused(
            DataServicesCommandRejected(
                command_id=main.id, command_type=main.type, reason="no_expert"
            ),
            "/world",
        )
    )
    world.run()
    assert saga(world, "sub-e")["status"] == "COMPENSATING"  # waiting for the holdout
    assert "RefundPayment" not in _kinds(world)
    world.inbox.extend(world.answered[holdout.id])  # it did succeed, late
    world.run()
    assert saga(world, "sub-e")["status"] == "COMPENSATED"
    assert world.data_services[holdout.payload.data_service_id] == "CANCELLED"  # type: ignore[attr-defined]


def test_two_sagas_of_one_client_at_once_do_not_mix(world: World) -> None:
    world.faults["StartDataService"] = "reply_lost"
    world.create_subscription("sub-a")
    world.create_subscription("sub-b")
    world.pay("sub-a", "pay-a")
    world.pay("sub-b", "pay-b")
    world.run()
    world.faults.clear()
    # Interleave: sub-b's delivery finishes, then sub-a's is refused.
    started = {
        e.payload.data_service_id: e
        for e in world.commands_seen
        if isinstance(e.payload, StartDataService)
    }
    a, b = saga(world, "sub-a"), saga(world, "sub-b")
    world.inbox.extend(world.answered[started[b["facts"]["data_service_id"]].id])
    a_start = started[a["facts"]["data_service_id"]]
    from functions.data_services.messages import DataServicesCommandRejected

    world.inbox.append(
        a_start.caused(
            DataServicesCommandRejected(
                command_id=a_start.id, command_type=a_start.type, reason="dataset_empty"
            ),
            "/world",
        )
    )
    world.run()
    assert saga(world, "sub-a")["status"] == "COMPENSATED"
    assert saga(world, "sub-b")["status"] == "COMPLETED"
    assert (
        world.subscriptions["sub-a"].refunded == {"pay-a"}
        and not world.subscriptions["sub-b"].refunded
    )
    assert world.told_ready == {"sub-b"} and world.told_failed == {"sub-a"}


def test_a_cancel_by_the_client_mid_saga_undoes_the_rest_but_not_the_cancel(world: World) -> None:
    world.faults["AssignExpert"] = "reply_lost"
    world.create_subscription("sub-1")
    world.pay("sub-1")
    world.run()
    world.cancel_by_client("sub-1")
    world.run()  # the expert's reply is still out: waited for (its deadline)
    world.tick(minutes=11)
    world.run()
    found = saga(world, "sub-1")
    assert (found["status"], found["failure"]) == ("COMPENSATED", "subscription_cancelled")
    assert "CancelSubscription" not in _kinds(world)
    assert world.subscriptions["sub-1"].refunded == {"pay-1"}


def test_a_plan_change_to_pro_starts_a_saga_undone_by_changing_back(world: World) -> None:
    from functions.subscriptions.messages import PlanChanged

    world.create_subscription("sub-1", plan="BASIC")
    world.run()
    world.subscriptions["sub-1"].plan = "PRO"
    world.event(
        PlanChanged(
            subscription_id="sub-1",
            client_code="0001",
            previous_plan="BASIC",
            plan="PRO",
            price_cents=49_900,
            currency="USD",
            billing_period="monthly",
            provisions_data_service=True,
            changed_at="2026-12-02T12:00:00.000Z",
        )
    )
    world.faults["CreateDataServiceV2"] = "rejected"
    world.pay("sub-1")
    world.run()
    assert saga(world, "sub-1")["status"] == "COMPENSATED"
    assert world.subscriptions["sub-1"].plan == "BASIC"
    assert world.subscriptions["sub-1"].status != "CANCELLED"


def test_a_downgrade_paid_by_its_credit_starts_no_saga(world: World) -> None:
    """ENTERPRISE to PRO with the credit refunded: the client keeps its data service; a saga
    would await a payment that never comes, then change the plan back."""
    from functions.sagas.queries import sagas_of_subscription
    from functions.subscriptions.messages import PlanChanged

    def changed(subscription_id: str, previous: str, due: int) -> PlanChanged:
        return PlanChanged(
            subscription_id=subscription_id, client_code="0001", previous_plan=previous,
            plan="PRO", price_cents=49_900, currency="USD", billing_period="monthly",
            provisions_data_service=True, changed_at="2026-12-02T12:00:00.000Z",
            amount_due_cents=due,
        )  # fmt: skip

    for subscription_id in ("sub-down", "sub-up"):
        world.create_subscription(subscription_id, plan="BASIC")
    world.run()
    world.event(changed("sub-down", "ENTERPRISE", 0))
    world.event(changed("sub-up", "BASIC", 45_000))  # an upgrade owes: its saga awaits it
    world.run()
    store, collections = world.platform.store, world.w.collections
    assert sagas_of_subscription(store, "sub-down", collections)["items"] == []
    assert saga(world, "sub-up")["status"] == "RUNNING"


def test_a_crash_after_commit_publishes_the_same_commands_on_redelivery(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = world.create_subscription("sub-1")
    world.inbox.clear()
    world.process(created)
    paid = world.pay("sub-1")
    world.inbox.clear()
    publisher = world.platform.publisher
    original = publisher.publish

    def crash(topic: str, envelopes: Any) -> None:
        raise ConnectionError("the instance died after the commit")

    monkeypatch.setattr(publisher, "publish", crash)
    with pytest.raises(ConnectionError):
        world.w.processor.process(paid)
    monkeypatch.setattr(publisher, "publish", original)
    world.process(paid)  # the redelivery: recorded already, its outbox published again
    world.process(paid)
    creates = [e for e in world.commands_seen if type(e.payload).__name__ == "CreateDataServiceV2"]
    assert len({e.id for e in creates}) == 1
    world.run()
    assert saga(world, "sub-1")["status"] == "COMPLETED"


def test_a_compensation_that_keeps_failing_is_stuck_visible_and_retried(world: World) -> None:
    from functions.sagas.queries import sagas_in_status

    world.faults["StartDataService"] = "rejected"
    world.faults["RefundPayment"] = "rejected"
    world.fault_reason["RefundPayment"] = "refund_refused"
    world.create_subscription("sub-1")
    world.pay("sub-1")
    world.run()
    for _ in range(5):
        world.tick(minutes=3)
        world.run()
    found = saga(world, "sub-1")
    assert found["status"] == SagaStatus.STUCK.value
    refunds = {e.id for e in world.commands_seen if type(e.payload).__name__ == "RefundPayment"}
    assert len(refunds) == 4  # a new attempt id per retry of a refused compensation
    stuck = sagas_in_status(world.platform.store, "STUCK", world.w.collections)["items"]
    assert [s["saga_id"] for s in stuck] == [found["saga_id"]]
    assert any(e["reason"] == "stuck:refund_refused" for e in log_of(world, "sub-1"))
    assert world.platform.publisher.types("sagas-events") == ["co.saludtech.sagas.saga.stuck.v1"]
    assert "CancelSubscription" not in {type(e.payload).__name__ for e in world.commands_seen}
    # The operator fixes the gateway and retries.
    world.faults.pop("RefundPayment")
    from functions.sagas.messages import NAMES, RetrySaga

    world.process(Envelope(payload=RetrySaga(saga_id=found["saga_id"]), source=NAMES.source))
    world.run()
    assert saga(world, "sub-1")["status"] == "COMPENSATED"
    assert world.subscriptions["sub-1"].refunded == {"pay-1"}
    assert world.subscriptions["sub-1"].status == "CANCELLED"


def test_the_log_names_ids_and_reasons_and_no_personal_data(world: World) -> None:
    import json

    world.faults["AssignExpert"] = "rejected"
    world.fault_reason["AssignExpert"] = "no_expert_available"
    world.create_subscription("sub-1")
    world.pay("sub-1")
    world.run()
    entries = log_of(world, "sub-1")
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert {"RECEIVED", "PROCESSED", "FAILED"} <= {e["status"] for e in entries}
    failed = next(e for e in entries if e["status"] == "FAILED")
    assert (failed["step"], failed["reason"]) == ("expert", "no_expert_available")
    sent = [e for e in entries if e["command_ids"]]
    assert {c for e in sent for c in e["command_ids"]} <= {e.id for e in world.commands_seen}
    stored = json.dumps([entries, saga(world, "sub-1")])
    for value in ("Pablo", "Perez", "pperez", "12345678", "example.com"):
        assert value not in stored


def test_two_replies_racing_on_one_saga_both_count(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.data_services.messages import DataServiceCreated

    world.create_subscription("sub-e", plan="ENTERPRISE")
    world.pay("sub-e")
    world.process(world.inbox.pop(0))
    world.process(world.inbox.pop(0))  # both data services are asked for at once
    first, second = [e for e in world.inbox if isinstance(e.payload, DataServiceCreated)]
    world.inbox.clear()
    store = world.platform.store
    original = store.run_in_transaction
    raced: list[bool] = []

    def racing(work: Any) -> Any:
        def interleaved(tx: Any) -> Any:
            result = work(tx)
            if not raced:  # another instance commits the sibling's reply meanwhile
                raced.append(True)
                world.w.processor.process(second)
            return result

        return original(interleaved)

    monkeypatch.setattr(store, "run_in_transaction", racing)
    world.w.processor.process(first)  # its first commit loses, and it runs again
    monkeypatch.setattr(store, "run_in_transaction", original)
    steps = {s["name"]: s["status"] for s in saga(world, "sub-e")["steps"]}
    assert (steps["data_service"], steps["holdout"]) == ("DONE", "DONE")
    assert raced


def test_the_holdout_cancelled_by_someone_else_ends_an_enterprise_saga(world: World) -> None:
    from functions.data_services.messages import DataServiceCancelled

    world.faults["StartDataService"] = "reply_lost"
    world.create_subscription("sub-e", plan="ENTERPRISE")
    world.pay("sub-e")
    world.run()
    holdout = saga(world, "sub-e")["facts"]["holdout_id"]
    world.data_services[holdout] = "CANCELLED"
    world.event(
        DataServiceCancelled(
            data_service_id=holdout,
            previous_status="CREATED",
            reason="client_request",
            cancelled_at="2026-12-02T12:00:00.000Z",
        )
    )
    world.run()
    world.tick(hours=3)  # the delivery in flight is waited for, up to its deadline
    world.run()
    found = saga(world, "sub-e")
    assert (found["status"], found["failure"]) == ("COMPENSATED", "data_service_cancelled")
    cancels = [e for e in world.commands_seen if type(e.payload).__name__ == "CancelDataService"]
    assert [e.payload.data_service_id for e in cancels] == [found["facts"]["data_service_id"]]  # type: ignore[attr-defined]
