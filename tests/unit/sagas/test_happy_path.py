"""A PRO saga from SubscriptionCreated to SagaCompleted."""

from __future__ import annotations

from tests.unit.sagas.world import World, log_of, saga


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
    assert sent == ["CreateDataService", "AssignExpert", "PrepareDataset", "StartDataService"]
    # Every command carries the saga's correlation id: the one of the request that started it.
    assert {e.correlation_id for e in world.commands_seen} == {"http-sub-1"}
    statuses = {(e["step"], e["status"]) for e in log_of(world, "sub-1")}
    assert ("delivery", "PROCESSED") in statuses and ("payment", "RECEIVED") in statuses
