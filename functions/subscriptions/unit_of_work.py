"""Where subscriptions are stored: the document shape of the aggregate and its repository.

The client's RUT, national id and email are sealed with the shared field cipher, each bound
to the subscription id and the field's name (`client.<field>_sealed`); nothing queries them,
so no lookup token is kept. Documents written before are read as they are, clear fields and
all, until tools/seal_personal_fields.py seals them.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from functions.subscriptions.domain import (
    Client,
    Invoice,
    Period,
    PlanChangeBilling,
    RefundDue,
    Subscription,
    add_months,
    iso,
)
from functions.subscriptions.messages import (
    NAMES,
    BillingPeriod,
    RefundPayment,
    SubscriptionStatus,
)
from functions.subscriptions.plans import Plan
from shared.config import Settings
from shared.ports.documents import Document, DocumentTransaction
from shared.ports.envelope import Envelope
from shared.service.field_crypto import FieldCipher, SealedFields
from shared.service.unit_of_work import AggregateRepository, UnitOfWork

COLLECTION = "subscriptions"
# The client's fields sealed at rest; the others (code, names, username) are what the
# queries filter and list by.
CLIENT_SEALED = ("rut", "national_id", "email")


def client_fields(settings: Settings) -> SealedFields:
    return SealedFields(FieldCipher.from_settings(settings), CLIENT_SEALED)


class SubscriptionMapper:
    """The stored document doubles as the read model the queries answer from (which open
    the client's sealed fields with the same SealedFields)."""

    def __init__(self, client: SealedFields) -> None:
        self.client = client

    def to_document(self, aggregate: Subscription) -> Document:
        return {
            "subscription_id": aggregate.id,
            "client": self.client.seal(aggregate.id, asdict(aggregate.client)),
            "plan": _plan_document(aggregate.plan),
            "status": aggregate.status.value,
            "created_at": aggregate.created_at,
            "paid_through": aggregate.paid_through,
            "cancelled_at": aggregate.cancelled_at,
            "invoices": [asdict(invoice) for invoice in aggregate.invoices],
            "period": asdict(aggregate.period) if aggregate.period else None,
            "plan_change": asdict(aggregate.plan_change) if aggregate.plan_change else None,
            "pending_refunds": [asdict(refund) for refund in aggregate.pending_refunds],
            # For the read side: what the next payment charges, as of this change.
            "amount_due_cents": aggregate.amount_due_cents,
        }

    def from_document(self, aggregate_id: str, document: Document, version: int) -> Subscription:
        plan = _plan(document["plan"])
        invoices = [Invoice(**invoice) for invoice in document.get("invoices", [])]
        change = document.get("plan_change")
        return Subscription(
            id=aggregate_id,
            version=version,
            client=Client(**self.client.open(aggregate_id, document["client"])),
            plan=plan,
            status=SubscriptionStatus(document["status"]),
            created_at=document["created_at"],
            paid_through=document.get("paid_through"),
            cancelled_at=document.get("cancelled_at"),
            invoices=invoices,
            period=_period(document, plan, invoices),
            plan_change=PlanChangeBilling(**change) if change else None,
            pending_refunds=[RefundDue(**r) for r in document.get("pending_refunds", [])],
        )


def _plan_document(plan: Plan) -> Document:
    return {**asdict(plan), "billing_period": plan.billing_period.value}


def _period(document: Document, plan: Plan, invoices: list[Invoice]) -> Period | None:
    if "period" in document:
        return Period(**document["period"]) if document["period"] else None
    # Stored before periods were: the last payment bought one period of the plan.
    if not document.get("paid_through"):
        return None
    end = document["paid_through"]
    months = plan.billing_period.months
    start = iso(add_months(datetime.fromisoformat(end), -months))
    paid = [invoice.payment_id for invoice in invoices if invoice.status == "PAID"]
    return Period(start, end, plan.price_cents, months, paid[-1] if paid else "")


def _plan(stored: dict[str, Any]) -> Plan:
    # A subscription keeps the price it was sold at, even if the catalogue changes later.
    return Plan(**{**stored, "billing_period": BillingPeriod(stored["billing_period"])})


class SubscriptionsUnitOfWork(UnitOfWork):
    def __init__(
        self, tx: DocumentTransaction, client: SealedFields, collection: str = COLLECTION
    ) -> None:
        super().__init__(tx)
        self.subscriptions = AggregateRepository(tx, collection, SubscriptionMapper(client))
        self._issued: list[RefundPayment] = []

    def issue(self, command: RefundPayment) -> None:
        """A follow-up command of this context (a downgrade's refund), published with the
        events of this transaction."""
        self._issued.append(command)

    def dispatched(self) -> list[tuple[str, Envelope]]:
        if not self._issued:
            return []
        assert self.cause is not None, "the message processor sets the cause"
        # Ids derived from the cause (and the type, so none meets an event's): a redelivery
        # of the cause republishes the very same commands.
        return [
            (NAMES.commands_topic, self.cause.caused(command, NAMES.source, index))
            for index, command in enumerate(self._issued)
        ]
