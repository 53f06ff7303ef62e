"""What the subscriptions queries door answers: its read models, part of the context's
published contract with messages.py. The door (doors.py) answers them and generates its
GET /openapi.json from them; the api (functions/api/context_views.py) reads the door's
answers into the same models, so the two cannot drift.
"""

from __future__ import annotations

from functions.subscriptions.domain import SubscriptionStatus
from functions.subscriptions.plans import BillingPeriod
from shared.entrypoints.door_app import ReadModel


class ClientView(ReadModel):
    """The client without its tax and national ids."""

    code: str
    first_names: str
    last_names: str
    username: str
    email: str


class PlanView(ReadModel):
    """The plan as sold: a subscription keeps its price if the catalogue changes."""

    code: str
    name: str
    price_cents: int
    currency: str
    billing_period: BillingPeriod
    provisions_data_service: bool


class InvoiceView(ReadModel):
    payment_id: str
    amount_cents: int
    currency: str
    status: str  # PAID | DECLINED | REFUNDED
    at: str
    transaction_id: str = ""
    reason: str = ""
    refund_id: str = ""
    refunded_at: str = ""


class SubscriptionView(ReadModel):
    subscription_id: str
    client: ClientView
    plan: PlanView
    status: SubscriptionStatus
    created_at: str
    paid_through: str | None
    cancelled_at: str | None
    invoices: list[InvoiceView]
    version: int
