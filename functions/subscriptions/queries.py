"""Read side: subscriptions as the API shows them (tax and national ids never leave storage,
the email is opened from its sealed form), and the plans on sale."""

from __future__ import annotations

from functools import partial
from typing import Any

from functions.subscriptions.plans import CATALOGUE
from functions.subscriptions.unit_of_work import COLLECTION
from shared.ports.documents import Document, DocumentStore, Filter
from shared.service.field_crypto import SealedFields
from shared.service.pagination import newest_first

_HIDDEN_CLIENT_FIELDS = ("rut", "national_id")
# What an invoice keeps for itself: the billing a refund of it would put back.
_INTERNAL_INVOICE_FIELDS = ("replaced",)


def subscription_view(document: Document, sealed: SealedFields) -> dict[str, Any]:
    opened = sealed.open(document["subscription_id"], document["client"])
    client = {k: v for k, v in opened.items() if k not in _HIDDEN_CLIENT_FIELDS}
    return {
        "subscription_id": document["subscription_id"],
        "client": client,
        "plan": document["plan"],
        "status": document["status"],
        "created_at": document["created_at"],
        "paid_through": document.get("paid_through"),
        "cancelled_at": document.get("cancelled_at"),
        "invoices": [
            {k: v for k, v in invoice.items() if k not in _INTERNAL_INVOICE_FIELDS}
            for invoice in document.get("invoices", [])
        ],
        "version": document.get("_version", 0),
        "period_start": (document.get("period") or {}).get("start"),
        "amount_due_cents": document.get("amount_due_cents"),
        "plan_change": document.get("plan_change"),
    }


def get_subscription(
    store: DocumentStore,
    subscription_id: str,
    sealed: SealedFields,
    collection: str = COLLECTION,
) -> dict[str, Any] | None:
    document = store.get(collection, subscription_id)
    return subscription_view(document, sealed) if document else None


def subscriptions_of_client(
    store: DocumentStore,
    client_code: str,
    sealed: SealedFields,
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
        view=partial(subscription_view, sealed=sealed),
        limit=limit,
        cursor=cursor,
    )


def plan_catalogue() -> dict[str, Any]:
    """The plans on sale with their prices, in the catalogue's order (a PlanCatalogueView)."""
    return {"items": [vars(plan).copy() for plan in CATALOGUE.values()]}
