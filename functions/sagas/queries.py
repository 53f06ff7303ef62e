"""Read side: a saga as an operator sees it, the sagas of a subscription, a saga's log,
what became of an operator's retry.

The saga document and its log hold ids, codes and reasons only, so they are shown whole.
"""

from __future__ import annotations

from typing import Any

from functions.sagas.unit_of_work import SagaCollections
from shared.ports.documents import VERSION_FIELD, Document, DocumentStore, Filter
from shared.service.command_log import processed_status
from shared.service.pagination import decode_cursor, encode_cursor, newest_first


def saga_view(document: Document) -> dict[str, Any]:
    view = {k: v for k, v in document.items() if k != VERSION_FIELD}
    return {**view, "version": document.get(VERSION_FIELD, 0)}


def get_saga(store: DocumentStore, saga_id: str, c: SagaCollections) -> dict[str, Any] | None:
    document = store.get(c.sagas, saga_id)
    return saga_view(document) if document else None


def sagas_where(
    store: DocumentStore,
    field: str,
    value: str,
    c: SagaCollections,
    *,
    limit: int = 20,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Newest first, by one field: `subscription_id` (a client's sagas) or `status` (what an
    operator looks for: the STUCK ones). Indexes (field ASC, started_at DESC)."""
    return newest_first(
        store,
        c.sagas,
        [Filter(field, "==", value)],
        order_by="started_at",
        view=saga_view,
        limit=limit,
        cursor=cursor,
    )


def sagas_of_subscription(
    store: DocumentStore, subscription_id: str, c: SagaCollections, **page: Any
) -> dict[str, Any]:
    return sagas_where(store, "subscription_id", subscription_id, c, **page)


def sagas_in_status(
    store: DocumentStore, status: str, c: SagaCollections, **page: Any
) -> dict[str, Any]:
    return sagas_where(store, "status", status, c, **page)


def saga_log(
    store: DocumentStore,
    saga_id: str,
    c: SagaCollections,
    *,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Oldest first, as it happened. Index (saga_id ASC, seq ASC)."""
    page = store.query(
        c.log,
        [Filter("saga_id", "==", saga_id)],
        order_by="seq",
        limit=limit,
        after=decode_cursor(cursor),
    )
    return {
        "items": [{k: v for k, v in d.items() if k != VERSION_FIELD} for _, d in page.items],
        "next_cursor": encode_cursor(page.next_cursor),
    }


def sagas_due(
    store: DocumentStore, now: str, c: SagaCollections, limit: int
) -> list[tuple[str, str]]:
    """(saga id, wake time) of the sagas whose deadline or resend time has come."""
    page = store.query(c.sagas, [Filter("wake_at", "<=", now)], order_by="wake_at", limit=limit)
    return [(doc_id, str(document["wake_at"])) for doc_id, document in page.items]


def command_status(
    store: DocumentStore, inbox_collection: str, command_id: str
) -> dict[str, Any] | None:
    """An operator's retry (RetrySaga) is processed in the request that accepts it, so its
    inbox record is its status; None: no such command was processed here."""
    return processed_status(store, inbox_collection, command_id)
