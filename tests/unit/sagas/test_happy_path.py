"""A PRO saga from SubscriptionCreated to SagaCompleted."""

from __future__ import annotations

from functions.data_services.messages import CreateDataServiceV2
from shared.ports.documents import DocumentTransaction
from tests.unit.sagas.world import CLIENT, World, collections, log_of, saga


def test_pro_saga_runs_every_step_and_announces_completion(world: World) -> None:
    world.create_subscription("sub-1")
    world.run()
    assert saga(world, "sub-1")["status"] == "RUNNING"
    world.pay("sub-1")
    world.run()
    found = saga(world, "sub-1")
    assert found["status"] == "COMPLETED", found
    assert [s["status"] for s in found["steps"]] == ["DONE"] * 6
    assert world.told_ready == {"sub-1"}
    sent = [type(e.payload).__name__ for e in world.commands_seen]
    # The expert and the dataset in parallel (sent in one turn), then the start.
    assert sent == ["CreateDataServiceV2", "AssignExpert", "PrepareDataset", "StartDataService"]
    # Every command carries the saga's correlation id: the one of the request that started it.
    assert {e.correlation_id for e in world.commands_seen} == {"http-sub-1"}
    statuses = {(e["step"], e["status"]) for e in log_of(world, "sub-1")}
    assert ("delivery", "PROCESSED") in statuses and ("payment", "RECEIVED") in statuses


def _creates(world: World) -> list[CreateDataServiceV2]:
    return [e.payload for e in world.commands_seen if isinstance(e.payload, CreateDataServiceV2)]


def test_the_data_service_is_asked_for_by_the_client_code_of_subscription_created(
    world: World,
) -> None:
    """The saga builds CreateDataServiceV2 from its own facts: the client's code, learned
    from SubscriptionCreated, and no names (nothing is read from the subscriptions store)."""
    world.create_subscription("sub-1")
    world.pay("sub-1")
    world.run()
    [create] = _creates(world)
    assert create.TYPE == "co.saludtech.data_services.data_service.create.v2"
    assert create.client_code == CLIENT["code"] and create.subscription_id == "sub-1"
    assert saga(world, "sub-1")["facts"]["client_code"] == CLIENT["code"]


def test_a_saga_stored_before_the_client_code_was_a_fact_still_names_the_client(
    world: World,
) -> None:
    """A saga started by an earlier release kept the client's code beside its facts only:
    its create, sent after the deploy, takes the code from there."""
    world.create_subscription("sub-1")
    world.run()
    saga_id = saga(world, "sub-1")["saga_id"]
    sagas = collections(world).sagas

    def forget(tx: DocumentTransaction) -> None:
        document = tx.get(sagas, saga_id)
        assert document is not None
        facts = {k: v for k, v in document["facts"].items() if k != "client_code"}
        tx.put(sagas, saga_id, {**document, "facts": facts})

    world.platform.store.run_in_transaction(forget)
    world.pay("sub-1")
    world.run()
    [create] = _creates(world)
    assert create.client_code == CLIENT["code"]
    assert saga(world, "sub-1")["status"] == "COMPLETED"
