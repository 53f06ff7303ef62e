"""Where subscriptions are stored: the document shape of the aggregate and its repository."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from functions.subscriptions.domain import Client, Invoice, Subscription
from functions.subscriptions.messages import BillingPeriod, SubscriptionStatus
from functions.subscriptions.plans import Plan
from shared.ports.documents import Document, DocumentTransaction
from shared.service.unit_of_work import AggregateRepository, UnitOfWork

COLLECTION = "subscriptions"


class SubscriptionMapper:
    """The stored document doubles as the read model the queries answer from."""

    def to_document(self, aggregate: Subscription) -> Document:
        return {
            "subscription_id": aggregate.id,
            "client": asdict(aggregate.client),
            "plan": _plan_document(aggregate.plan),
            "status": aggregate.status.value,
            "created_at": aggregate.created_at,
            "paid_through": aggregate.paid_through,
            "cancelled_at": aggregate.cancelled_at,
            "invoices": [asdict(invoice) for invoice in aggregate.invoices],
        }

    def from_document(self, aggregate_id: str, document: Document, version: int) -> Subscription:
        return Subscription(
            id=aggregate_id,
            version=version,
            client=Client(**document["client"]),
            plan=_plan(document["plan"]),
            status=SubscriptionStatus(document["status"]),
            created_at=document["created_at"],
            paid_through=document.get("paid_through"),
            cancelled_at=document.get("cancelled_at"),
            invoices=[Invoice(**invoice) for invoice in document.get("invoices", [])],
        )


def _plan_document(plan: Plan) -> Document:
    return {**asdict(plan), "billing_period": plan.billing_period.value}


def _plan(stored: dict[str, Any]) -> Plan:
    # A subscription keeps the price it was sold at, even if the catalogue changes later.
    return Plan(**{**stored, "billing_period": BillingPeriod(stored["billing_period"])})


class SubscriptionsUnitOfWork(UnitOfWork):
    def __init__(self, tx: DocumentTransaction, collection: str = COLLECTION) -> None:
        super().__init__(tx)
        self.subscriptions = AggregateRepository(tx, collection, SubscriptionMapper())
