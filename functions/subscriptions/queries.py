"""Read side: subscriptions as the API shows them. Tax and national ids never leave storage."""

from __future__ import annotations

from typing import Any

from functions.subscriptions.unit_of_work import COLLECTION
from shared.ports.documents import Document, DocumentStore, Filter
from shared.service.pagination import newest_first

_HIDDEN_CLIENT_FIELDS = ("rut", "national_id")


def subscription_view(document: Document) -> dict[str, Any]:
    client = {k: v for k, v in document["client"].items() if k not in _HIDDEN_CLIENT_FIELDS}
    return {
        "subscription_id": document["subscription_id"],
        "client": client,
        "plan": document["plan"],
        "status": document["status"],
        "created_at": document["created_at"],
        "paid_through": document.get("paid_through"),
        "cancelled_at": document.get("cancelled_at"),
        "invoices": document.get("invoices", []),
        "version": document.get("_version", 0),
    }


def get_subscription(
    store: DocumentStore, subscription_id: str, collection: str = COLLECTION
) -> dict[str, Any] | None:
    document = store.get(collection, subscription_id)
    return subscription_view(document) if document else None


def subscriptions_of_client(
    store: DocumentStore,
    client_code: str,
    *,
    limit: int = 20,
    cursor: str | None = None,
    collection: str = COLLECTION,
) -> dict[str, Any]:
    """Newest first. Needs the composite index (client.code ASC, created_at DESC)."""
    return newest_first(
        store,
        collection,
        [Filter("client.code", "==", client_code)],
        order_by="created_at",
        view=subscription_view,
        limit=limit,
        cursor=cursor,
    )
