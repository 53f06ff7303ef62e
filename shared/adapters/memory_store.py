"""In-memory DocumentStore for fast unit tests; it passes the same contract as Firestore.

Transactions are optimistic: reads record the revision they saw, staged writes are applied
under one lock only if nothing read has changed since, otherwise the work runs again.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

from shared.adapters.query_matching import has_field, matches, sort_key
from shared.domain.errors import ConcurrencyConflict
from shared.ports.documents import (
    VERSION_FIELD,
    Document,
    DocumentExists,
    Filter,
    Page,
    StaleVersion,
    T,
)

_Key = tuple[str, str]


class InMemoryDocumentStore:
    def __init__(self, max_attempts: int = 20) -> None:
        self._docs: dict[_Key, tuple[int, Document]] = {}
        self._lock = threading.RLock()
        self._max_attempts = max_attempts

    def run_in_transaction(self, work: Callable[[_MemoryTransaction], T]) -> T:
        for _ in range(self._max_attempts):
            tx = _MemoryTransaction(self)
            result = work(tx)
            if tx.commit():
                return result
        raise ConcurrencyConflict("transaction kept conflicting")

    def get(self, collection: str, doc_id: str) -> Document | None:
        with self._lock:
            found = self._docs.get((collection, doc_id))
            return copy.deepcopy(found[1]) if found else None

    def query(
        self,
        collection: str,
        where: Sequence[Filter] = (),
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 50,
        after: tuple[Any, str] | None = None,
    ) -> Page:
        with self._lock:
            rows = [
                (doc_id, copy.deepcopy(data))
                for (coll, doc_id), (_, data) in self._docs.items()
                if coll == collection and all(matches(data, f) for f in where)
            ]
        if order_by:  # as in Firestore, ordering by a field leaves out documents without it
            rows = [r for r in rows if has_field(r[1], order_by)]
        rows.sort(key=lambda row: sort_key(row, order_by), reverse=descending)
        if after is not None:
            rows = [r for r in rows if _is_after(sort_key(r, order_by), after, descending)]
        page = rows[:limit]
        more = len(rows) > limit
        cursor = (page[-1][1].get(order_by) if order_by else None, page[-1][0]) if more else None
        return Page(items=page, next_cursor=cursor)

    def count(self, collection: str, where: Sequence[Filter] = (), *, up_to: int) -> int:
        with self._lock:
            found = sum(
                1
                for (coll, _), (_, data) in self._docs.items()
                if coll == collection and all(matches(data, f) for f in where)
            )
        return min(found, up_to)

    # -- used by transactions -------------------------------------------------------------
    def _read(self, key: _Key) -> tuple[int, Document | None]:
        with self._lock:
            found = self._docs.get(key)
            return (found[0], copy.deepcopy(found[1])) if found else (0, None)

    def _apply(self, reads: dict[_Key, int], writes: dict[_Key, tuple[str, Document, int]]) -> bool:
        with self._lock:
            for key, revision in reads.items():
                if self._docs.get(key, (0, None))[0] != revision:
                    return False
            for key, (kind, _, expected) in writes.items():
                revision, current = self._docs.get(key, (0, None))
                if kind == "create" and current is not None:
                    raise DocumentExists(f"{key[0]}/{key[1]} exists")
                if kind == "save" and (current or {}).get(VERSION_FIELD, 0) != expected:
                    raise StaleVersion(f"{key[0]}/{key[1]} is not at version {expected}")
            for key, (_, data, _) in writes.items():
                self._docs[key] = (self._docs.get(key, (0, None))[0] + 1, copy.deepcopy(data))
            return True


class _MemoryTransaction:
    def __init__(self, store: InMemoryDocumentStore) -> None:
        self._store = store
        self._reads: dict[_Key, int] = {}
        self._cache: dict[_Key, Document | None] = {}
        self._writes: dict[_Key, tuple[str, Document, int]] = {}

    def get(self, collection: str, doc_id: str) -> Document | None:
        key = (collection, doc_id)
        if key in self._cache:
            return copy.deepcopy(self._cache[key])
        revision, data = self._store._read(key)
        self._reads[key] = revision
        self._cache[key] = copy.deepcopy(data)
        return data

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[Document | None]:
        return [self.get(*key) for key in keys]

    def create(self, collection: str, doc_id: str, data: Document) -> None:
        self._writes[(collection, doc_id)] = ("create", {**data, VERSION_FIELD: 1}, 0)

    def save(self, collection: str, doc_id: str, data: Document, *, expected_version: int) -> None:
        staged = {**data, VERSION_FIELD: expected_version + 1}
        self._writes[(collection, doc_id)] = ("save", staged, expected_version)

    def put(self, collection: str, doc_id: str, data: Document) -> None:
        self._writes[(collection, doc_id)] = ("put", dict(data), 0)

    def commit(self) -> bool:
        return self._store._apply(self._reads, self._writes)


def _is_after(key: tuple[Any, ...], cursor: tuple[Any, str], descending: bool) -> bool:
    value, doc_id = cursor
    probe = sort_key((doc_id, {"__v": value}), "__v" if value is not None else None)
    return key < probe if descending else key > probe
