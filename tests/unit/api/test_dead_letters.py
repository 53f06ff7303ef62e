"""GET /v1/dead-letters reads every context's dead letters at its queries door (each keeps
them in its own database) and merges them newest first: paging through the merged list
shows every dead letter once, in order, whatever the page size, ties and late arrivals."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from functions import bootstrap
from functions.api import dead_letters
from functions.api.context_doors import DEAD_LETTER_DOORS
from functions.bootstrap import InMemoryPlatform
from shared.adapters.in_process_doors import DoorFunction, InProcessDoors
from shared.domain.errors import PermanentError
from shared.entrypoints.dead_letter_door import VIEW_FIELDS, add_dead_letter_route
from shared.entrypoints.door_app import door_app
from shared.entrypoints.http import HttpError
from shared.entrypoints.http_app import serve
from tests.unit.api.conftest import Api
from tests.unit.api.test_openapi import conforms


def _door(platform: InMemoryPlatform) -> DoorFunction:
    """A queries door that answers only /dead-letters, from `platform`'s store."""
    app = door_app("dead letters")
    add_dead_letter_route(app, lambda: platform)
    return lambda request: serve(app, request)


class Contexts:
    """Each context's queries door on its own store (as each has its own database); the
    doors answer only /dead-letters here."""

    def __init__(self) -> None:
        self.platforms = {c: bootstrap.in_memory_platform() for c in DEAD_LETTER_DOORS}
        doors = {t: _door(self.platforms[c]) for c, t in DEAD_LETTER_DOORS.items()}
        self.doors = InProcessDoors(doors.__getitem__)

    def record(self, context: str, dead_letter_id: str, second: int) -> None:
        platform: InMemoryPlatform = self.platforms[context]
        document = {
            "dead_letter_id": dead_letter_id, "context": context, "reason": "dead_lettered",
            "recorded_at": f"2026-03-01T00:{second // 60:02d}:{second % 60:02d}.000Z",
            "status": "dead", "data_b64": "c2VjcmV0", "attributes": {"ce-id": "x"},
        }  # fmt: skip
        collection = platform.dead_letters.collection
        platform.store.run_in_transaction(lambda tx: tx.put(collection, dead_letter_id, document))

    def walk(self, limit: int, cursor: str | None = None) -> Iterator[dict[str, Any]]:
        while True:
            page = dead_letters.page(self.doors, None, limit, cursor)
            assert len(page["items"]) <= limit
            yield from page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return


@pytest.fixture
def contexts() -> Contexts:
    return Contexts()


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100])
def test_the_merged_pages_show_every_dead_letter_once_newest_first(
    contexts: Contexts, limit: int
) -> None:
    chosen = random.Random(limit)
    recorded = []
    for index in range(40):
        context = chosen.choice(sorted(DEAD_LETTER_DOORS))
        contexts.record(context, f"dl-{index}", chosen.randrange(12))  # many equal times
        recorded.append(f"dl-{index}")
    shown = list(contexts.walk(limit))
    assert sorted(d["dead_letter_id"] for d in shown) == sorted(recorded)
    times = [d["recorded_at"] for d in shown]
    assert times == sorted(times, reverse=True)
    assert all(set(d) == set(VIEW_FIELDS) for d in shown)  # never the message itself


def test_a_dead_letter_recorded_while_paging_neither_repeats_nor_hides_others(
    contexts: Contexts,
) -> None:
    for index, context in enumerate(["ingestion", "sagas", "ingestion", "subscriptions"]):
        contexts.record(context, f"dl-{index}", index)
    first = dead_letters.page(contexts.doors, None, 2, None)
    assert [d["dead_letter_id"] for d in first["items"]] == ["dl-3", "dl-2"]
    contexts.record("ingestion", "dl-late", 59)  # newer than every position
    rest = [d["dead_letter_id"] for d in contexts.walk(2, first["next_cursor"])]
    assert rest == ["dl-1", "dl-0"]
    assert next(contexts.walk(10))["dead_letter_id"] == "dl-late"


def test_one_context_pages_with_its_own_cursor_and_cursors_do_not_cross(
    contexts: Contexts,
) -> None:
    for index in range(3):
        contexts.record("sagas", f"dl-{index}", index)
    contexts.record("ingestion", "dl-other", 30)
    first = dead_letters.page(contexts.doors, "sagas", 2, None)
    assert [d["dead_letter_id"] for d in first["items"]] == ["dl-2", "dl-1"]
    rest = dead_letters.page(contexts.doors, "sagas", 2, first["next_cursor"])
    assert [d["dead_letter_id"] for d in rest["items"]] == ["dl-0"]
    with pytest.raises(PermanentError) as merged_refused:
        dead_letters.page(contexts.doors, None, 2, first["next_cursor"])
    assert merged_refused.value.reason == "invalid_cursor"
    merged = dead_letters.page(contexts.doors, None, 1, None)["next_cursor"]
    with pytest.raises(HttpError) as door_refused:
        dead_letters.page(contexts.doors, "sagas", 2, merged)
    assert (door_refused.value.status, door_refused.value.reason) == (400, "invalid_cursor")
    with pytest.raises(PermanentError) as unknown:
        dead_letters.page(contexts.doors, "payments", 2, None)
    assert unknown.value.reason == "unknown_context"


def test_an_operator_reads_them_through_the_api(api: Api) -> None:
    # Every context shares the unit tests' one store, so one context is asked here.
    platform = api.platform
    document = {"dead_letter_id": "dl-1", "context": "ingestion", "reason": "dead_lettered",
                "recorded_at": "2026-03-01T00:00:00.000Z", "status": "dead"}  # fmt: skip
    collection = platform.dead_letters.collection
    platform.store.run_in_transaction(lambda tx: tx.put(collection, "dl-1", document))
    token = api.login("operator")
    one = api.call("GET", "/v1/dead-letters", token=token, query={"context": "ingestion"})
    conforms("/v1/dead-letters", "GET", one)
    assert [d["dead_letter_id"] for d in one.body["items"]] == ["dl-1"]
    for query, reason in (
        # The context is the query model's enum (dead_letters.page answered unknown_context).
        ({"context": "payments"}, "schema_violation"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"context": "ingestion", "cursor": "not-a-cursor"}, "invalid_cursor"),
    ):
        refused = api.call("GET", "/v1/dead-letters", token=token, query=query)
        assert (refused.status, refused.body["error"]["reason"]) == (400, reason), query
