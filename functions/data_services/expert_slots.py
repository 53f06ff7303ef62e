"""What queries outside a transaction see of the experts' slots (ADR 0014): the experts of a
speciality with their taken slots (to rank the free ones, and to refuse a data request no
slot is free for), the slot a service holds (to release it), the slot a subscription has
reserved (to keep, move or convert it), an expert's assignments.

Every answer may be stale by the time it is used: an assignment or a release reads the
slots it chose again inside its transaction, which decides.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from functions.data_services.experts import ExpertLoad
from functions.data_services.unit_of_work import Collections
from shared.domain.clock import Clock, rfc3339
from shared.ports.documents import Document, DocumentStore, Filter

MAX_EXPERTS_PER_SPECIALITY = 200
IN_VALUES = 30  # the most values Firestore takes in one `in` filter
PAGE = 500


def experts_of(
    store: DocumentStore,
    collections: Collections,
    speciality: str,
    subscription_id: str | None = None,
    *,
    clock: Clock | None = None,
) -> list[ExpertLoad]:
    """The registered experts of `speciality` and their taken slots: one query of the
    registry, one of the slots per 30 experts. With a `clock`, also the slots reserved for
    another subscription than `subscription_id` and not expired (one more query per 30)."""
    page = store.query(
        collections.experts,
        [Filter("specialities", "array_contains", speciality)],
        limit=MAX_EXPERTS_PER_SPECIALITY,
    )
    codes = [doc_id for doc_id, _ in page.items]
    taken = taken_slots(store, collections, codes)
    reserved: dict[str, set[int]] = defaultdict(set)
    if clock is not None:
        now = rfc3339(clock())
        for first in range(0, len(codes), IN_VALUES):
            where = [
                Filter("expert_code", "in", codes[first : first + IN_VALUES]),
                Filter("reserved", "==", True),
            ]
            for slot in _all(store, collections.expert_slots, where):
                if (
                    slot.get("reserved_for") != subscription_id
                    and (slot.get("reserved_until") or "") > now
                ):
                    reserved[slot["expert_code"]].add(int(slot["number"]))
    return [
        ExpertLoad(
            code=doc_id,
            specialities=tuple(doc.get("specialities", ())),
            capacity=int(doc.get("capacity", 0)),
            taken=frozenset(int(slot["number"]) for slot in taken[doc_id]),
            legacy=len(doc.get("assignments", ())),
            retired=doc.get("retired_at") is not None,
            reserved=frozenset(reserved[doc_id]),
        )
        for doc_id, doc in page.items
    ]


def taken_slots(
    store: DocumentStore, collections: Collections, expert_codes: Sequence[str]
) -> dict[str, list[Document]]:
    """Per expert, the slot documents a service holds, oldest taken first."""
    found: dict[str, list[Document]] = defaultdict(list)
    for first in range(0, len(expert_codes), IN_VALUES):
        codes = list(expert_codes[first : first + IN_VALUES])
        where = [Filter("expert_code", "in", codes), Filter("taken", "==", True)]
        for slot in _all(store, collections.expert_slots, where):
            found[slot["expert_code"]].append(slot)
    for slots in found.values():
        slots.sort(key=lambda slot: (slot.get("taken_at") or "", slot["number"]))
    return found


def slots_held_by(
    store: DocumentStore, collections: Collections, data_service_id: str
) -> list[str]:
    """The ids of the slots the service holds: one, or none (a release, a retry)."""
    return _slot_ids(store, collections, "data_service_id", data_service_id)


def slots_reserved_for(
    store: DocumentStore, collections: Collections, subscription_id: str
) -> list[str]:
    """The ids of the slots reserved for the subscription: one, or none (expired ones too)."""
    return _slot_ids(store, collections, "reserved_for", subscription_id)


def _slot_ids(store: DocumentStore, collections: Collections, field: str, value: str) -> list[str]:
    page = store.query(collections.expert_slots, [Filter(field, "==", value)], limit=10)
    return [doc_id for doc_id, _ in page.items]


def with_load(
    store: DocumentStore, collections: Collections, experts: Iterable[tuple[str, Document]]
) -> list[tuple[str, Document]]:
    """Registry documents with the `assignments` (the services of the legacy list, then those
    holding its slots) and the `load` they count, as the registry's views show them."""
    listed = list(experts)
    taken = taken_slots(store, collections, [code for code, _ in listed])
    shown: list[tuple[str, Document]] = []
    for code, document in listed:
        held = [slot["data_service_id"] for slot in taken[code]]
        assignments: list[Any] = [*document.get("assignments", ()), *held]
        shown.append((code, {**document, "assignments": assignments, "load": len(assignments)}))
    return shown


def _all(store: DocumentStore, collection: str, where: list[Filter]) -> list[Document]:
    documents: list[Document] = []
    after = None
    while True:
        page = store.query(collection, where, limit=PAGE, after=after)
        documents.extend(document for _, document in page.items)
        if page.next_cursor is None:
            return documents
        after = page.next_cursor
