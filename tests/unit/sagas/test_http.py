"""The sagas' HTTP functions: reads, the log, the operator's retry and the tick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import functions_framework

from tests.unit.sagas.world import World, saga

MAIN = str(Path(__file__).parents[3] / "main.py")


def client(target: str) -> Any:
    return functions_framework.create_app(target, MAIN).test_client()  # type: ignore[no-untyped-call]


def _stuck(world: World) -> str:
    world.faults["AssignExpert"] = "rejected"
    world.faults["RefundPayment"] = "rejected"
    world.create_subscription("sub-1")
    world.pay("sub-1")
    world.run()
    for _ in range(4):
        world.tick(minutes=3)
        world.run()
    return str(saga(world, "sub-1")["saga_id"])


def test_reads_a_saga_the_sagas_of_a_subscription_and_the_log(world: World) -> None:
    world.create_subscription("sub-1")
    world.pay("sub-1")
    world.run()
    queries = client("sagas_queries_http")
    [listed] = queries.get("/sagas?subscription_id=sub-1").get_json()["items"]
    found = queries.get(f"/sagas/{listed['saga_id']}").get_json()
    assert (found["status"], found["definition"]) == ("COMPLETED", "PRO")
    log = queries.get(f"/sagas/{listed['saga_id']}/log?limit=5").get_json()
    assert [e["seq"] for e in log["items"]] == [1, 2, 3, 4, 5] and log["next_cursor"]
    rest = queries.get(f"/sagas/{listed['saga_id']}/log?cursor={log['next_cursor']}").get_json()
    assert rest["items"][0]["seq"] == 6


def test_reads_refuse_what_they_do_not_know(world: World) -> None:
    queries = client("sagas_queries_http")
    assert queries.get("/sagas/nope").status_code == 404
    assert queries.get("/sagas/nope/log").status_code == 404
    assert queries.get("/sagas").get_json()["error"]["reason"] == "missing_parameter"
    assert queries.get("/sagas?status=LOST").get_json()["error"]["reason"] == "invalid_status"
    assert queries.get("/sagas?owner=x").get_json()["error"]["reason"] == "unknown_parameter"


def test_the_operator_sees_a_stuck_saga_and_retries_it(world: World) -> None:
    saga_id = _stuck(world)
    queries, operations = client("sagas_queries_http"), client("sagas_operations_http")
    [stuck] = queries.get("/sagas?status=STUCK").get_json()["items"]
    assert stuck["saga_id"] == saga_id
    world.faults.pop("RefundPayment")
    answer = operations.post(f"/sagas/{saga_id}/retry")
    assert answer.status_code == 202 and answer.get_json()["status"] == "COMPENSATING"
    world._answer_sent()
    world.run()
    assert saga(world, "sub-1")["status"] == "COMPENSATED"
    again = operations.post(f"/sagas/{saga_id}/retry")
    assert (again.status_code, again.get_json()["error"]["reason"]) == (409, "saga_not_stuck")
    assert operations.post("/sagas/nope/retry").status_code == 404


def test_the_tick_wakes_what_is_due_once(world: World) -> None:
    world.create_subscription("sub-1")
    world.run()
    tick = client("sagas_tick")
    assert tick.post("/").get_json() == {"due": 0, "woken": 0, "retry_later": 0}
    world.clock.advance(hours=25)
    assert tick.post("/").get_json()["woken"] == 1
    world._answer_sent()
    world.run()
    assert saga(world, "sub-1")["failure"] == "step_deadline_exceeded"
