"""Firestore DocumentStore: the cloud database and the emulator, through the same client.

Writes are staged and applied when the work returns, because Firestore refuses a read after
a write inside a transaction. The client library retries the whole work on contention
(ABORTED) up to ten times, keeping its place in line; when it gives up, the adapter raises
TransactionContended, a ConcurrencyConflict (transient), never a 500 or a DocumentExists:
the message goes back to Pub/Sub, whose redelivery backs off. One retry policy per layer:
retrying again here, in rounds, piled attempts that each waited out the emulator's lock
timeout into minutes-long deliveries that the bridge redelivered meanwhile.
An optimistic `_version` check covers writes based on a read made elsewhere.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.adapters import grants
from shared.domain.errors import TransientError
from shared.ports.documents import (
    VERSION_FIELD,
    Document,
    DocumentExists,
    Filter,
    Page,
    StaleVersion,
    T,
    TransactionContended,
)

_OPERATORS = {"array_contains": "array_contains"}
TRANSIENT = (
    google_errors.ServiceUnavailable,
    google_errors.DeadlineExceeded,
    google_errors.InternalServerError,
    google_errors.TooManyRequests,
    google_errors.Aborted,
)


class FirestoreDocumentStore:
    def __init__(self, client: firestore.Client, max_attempts: int = 10) -> None:
        self._client = client
        self._max_attempts = max_attempts
        self._granted = False

    def _check_granted(self) -> None:
        # At first use, as IAM refuses the first call (a platform is built for every
        # context a process serves, used or not).
        if not self._granted:
            grants.check_database(str(getattr(self._client, "_database", "(default)")))
            self._granted = True

    def run_in_transaction(self, work: Callable[[_FirestoreTransaction], T]) -> T:
        self._check_granted()

        @firestore.transactional
        def attempt(transaction: firestore.Transaction) -> T:
            tx = _FirestoreTransaction(self._client, transaction)
            result = work(tx)
            tx.flush()
            return result

        try:
            return attempt(self._client.transaction(max_attempts=self._max_attempts))  # type: ignore[no-any-return]
        except ValueError as error:
            # The client's "Failed to commit transaction in N attempts", from its last ABORTED.
            if isinstance(error.__cause__, google_errors.Aborted):
                raise TransactionContended("firestore: transaction aborted") from error
            raise
        except google_errors.Aborted as error:  # a Conflict too: not a document that exists
            raise TransactionContended("firestore: transaction aborted") from error
        except (google_errors.AlreadyExists, google_errors.Conflict) as error:
            raise DocumentExists(str(error.message)) from error
        except TRANSIENT as error:
            raise TransientError(f"firestore: {type(error).__name__}") from error

    def get(self, collection: str, doc_id: str) -> Document | None:
        self._check_granted()
        try:
            snapshot = self._client.collection(collection).document(doc_id).get()
        except TRANSIENT as error:
            raise TransientError(f"firestore: {type(error).__name__}") from error
        return snapshot.to_dict() if snapshot.exists else None

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
        self._check_granted()
        query = self._filtered(collection, where)
        direction = firestore.Query.DESCENDING if descending else firestore.Query.ASCENDING
        if order_by:
            query = query.order_by(order_by, direction=direction)
        # The document id breaks ties, so a cursor is exact even when values repeat.
        query = query.order_by("__name__", direction=direction)
        if after is not None:
            value, doc_id = after
            ref = self._client.collection(collection).document(doc_id)
            fields = {order_by: value, "__name__": ref} if order_by else {"__name__": ref}
            query = query.start_after(fields)
        try:
            snapshots = list(query.limit(limit + 1).stream())
        except TRANSIENT as error:
            raise TransientError(f"firestore: {type(error).__name__}") from error
        items = [(s.id, s.to_dict() or {}) for s in snapshots[:limit]]
        more = len(snapshots) > limit
        cursor = (items[-1][1].get(order_by) if order_by else None, items[-1][0]) if more else None
        return Page(items=items, next_cursor=cursor)

    def _filtered(self, collection: str, where: Sequence[Filter]) -> Any:
        query: Any = self._client.collection(collection)
        for condition in where:
            op = _OPERATORS.get(condition.op, condition.op)
            query = query.where(filter=FieldFilter(condition.field, op, condition.value))
        return query

    def count(self, collection: str, where: Sequence[Filter] = (), *, up_to: int) -> int:
        self._check_granted()
        query = self._filtered(collection, where)
        try:
            # The limit bounds what the aggregation scans (and bills).
            results = query.limit(up_to).count(alias="n").get()
        except TRANSIENT as error:
            raise TransientError(f"firestore: {type(error).__name__}") from error
        return int(results[0][0].value)


class _FirestoreTransaction:
    def __init__(self, client: firestore.Client, transaction: firestore.Transaction) -> None:
        self._client = client
        self._transaction = transaction
        self._seen_versions: dict[tuple[str, str], int] = {}
        self._read: dict[tuple[str, str], Document | None] = {}
        self._writes: list[tuple[str, Any, Document]] = []

    def _ref(self, collection: str, doc_id: str) -> Any:
        return self._client.collection(collection).document(doc_id)

    def get(self, collection: str, doc_id: str) -> Document | None:
        return self.get_many([(collection, doc_id)])[0]

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[Document | None]:
        missing = [key for key in dict.fromkeys(keys) if key not in self._read]
        if missing:
            # One BatchGetDocuments for all: on the emulator each round trip costs ~6 ms.
            refs = {self._ref(*key).path: key for key in missing}
            for snapshot in self._transaction.get_all([self._ref(*k) for k in missing]):
                key = refs[snapshot.reference.path]
                data = snapshot.to_dict() if snapshot.exists else None
                self._read[key] = data
                self._seen_versions[key] = int((data or {}).get(VERSION_FIELD, 0))
        return [copy.deepcopy(self._read[key]) for key in keys]

    def create(self, collection: str, doc_id: str, data: Document) -> None:
        self._writes.append(("create", self._ref(collection, doc_id), {**data, VERSION_FIELD: 1}))

    def save(self, collection: str, doc_id: str, data: Document, *, expected_version: int) -> None:
        key = (collection, doc_id)
        if key not in self._seen_versions:
            self.get(collection, doc_id)  # reads lock the document until the commit
        if self._seen_versions[key] != expected_version:
            raise StaleVersion(f"{collection}/{doc_id} is not at version {expected_version}")
        staged = {**data, VERSION_FIELD: expected_version + 1}
        self._writes.append(("set", self._ref(collection, doc_id), staged))

    def put(self, collection: str, doc_id: str, data: Document) -> None:
        self._writes.append(("set", self._ref(collection, doc_id), dict(data)))

    def flush(self) -> None:
        for kind, ref, data in self._writes:
            if kind == "create":
                self._transaction.create(ref, data)
            else:
                self._transaction.set(ref, data)
