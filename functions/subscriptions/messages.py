"""The commands and events of the subscriptions context: its public contract (schema v1).

Original names: ComandoCrearSuscripcion → CreateSubscription, EventoSuscripcionCreada →
SubscriptionCreated, and so on (see docs/glossary.md).

The client's names, username, ids and email (PERSONAL) travel sealed, on topics and in stored
copies; the schemas describe the logical payload (shared/service/sealed_messages.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.messages import Command, CommandRejected, Event
from shared.domain.read_models import ReadModel
from shared.service.context import ContextNames

_PREFIX = "co.saludtech.subscriptions.subscription"
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
PlanCode = Annotated[str, Field(min_length=1, max_length=32)]
Timestamp = Annotated[str, Field(description="RFC 3339, UTC")]
Cents = Annotated[int, Field(ge=0)]


class ClientData(BaseModel):
    """The client as the original CreateSubscription payload carried it."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    code: Annotated[str, Field(min_length=1, max_length=32)]
    first_names: Annotated[str, Field(min_length=1, max_length=100)]
    last_names: Annotated[str, Field(min_length=1, max_length=100)]
    username: Annotated[str, Field(min_length=1, max_length=64)]
    rut: Annotated[str, Field(min_length=1, max_length=16, description="Chilean RUT (tax id)")]
    national_id: Annotated[str, Field(min_length=1, max_length=20)]
    email: Annotated[str, Field(min_length=3, max_length=254)]


# -- commands ------------------------------------------------------------------------------
class CreateSubscription(Command):
    """Subscribe a client to a plan. The client's names, username, RUT, national id and email
    travel sealed (PERSONAL); this schema is the payload as handlers read it, opened."""

    TYPE = f"{_PREFIX}.create.v1"
    SUBJECT_FIELD = "subscription_id"
    PERSONAL = (
        "client.first_names",
        "client.last_names",
        "client.username",
        "client.rut",
        "client.national_id",
        "client.email",
    )

    subscription_id: Id
    client: ClientData
    plan: PlanCode


class ChangePlan(Command):
    TYPE = f"{_PREFIX}.change_plan.v1"
    SUBJECT_FIELD = "subscription_id"

    subscription_id: Id
    plan: PlanCode


class CancelSubscription(Command):
    TYPE = f"{_PREFIX}.cancel.v1"
    SUBJECT_FIELD = "subscription_id"

    subscription_id: Id
    reason: Annotated[str, Field(max_length=200)] = ""


class PaySubscription(Command):
    TYPE = f"{_PREFIX}.pay.v1"
    SUBJECT_FIELD = "subscription_id"

    subscription_id: Id
    # Idempotency key towards the payment gateway: a retried charge is never charged twice.
    payment_id: Id
    card_token: Annotated[str, Field(min_length=1, max_length=64)]


class RefundPayment(Command):
    """Give a recorded payment back (the PRO saga's compensation of the payment)."""

    TYPE = f"{_PREFIX}.refund.v1"
    SUBJECT_FIELD = "subscription_id"

    subscription_id: Id
    payment_id: Id
    # Idempotency key towards the payment gateway: a retried refund never refunds twice.
    refund_id: Id
    reason: Annotated[str, Field(max_length=64)] = ""  # a code, e.g. saga_failed
    # Part of the payment (a downgrade's prorated refund); none: all that is left of it.
    amount_cents: Cents | None = None


# -- events --------------------------------------------------------------------------------
class SubscriptionCreated(Event):
    """A client's subscription exists. Its client_email travels sealed (PERSONAL); this schema
    is the payload as consumers read it, opened."""

    TYPE = f"{_PREFIX}.created.v1"
    SUBJECT_FIELD = "subscription_id"
    PERSONAL = ("client_email",)
    # `ce-plan`: the sagas' trigger leaves BASIC out (infra/topology.yaml).
    ATTRIBUTES = ("plan",)

    subscription_id: Id
    client_code: str
    # The contact the notifications context writes to (sealed on the topic: PERSONAL).
    client_email: str
    plan: PlanCode
    price_cents: Cents
    currency: str
    billing_period: str
    provisions_data_service: bool
    status: str
    created_at: Timestamp


class PlanChanged(Event):
    TYPE = f"{_PREFIX}.plan_changed.v1"
    SUBJECT_FIELD = "subscription_id"

    subscription_id: Id
    client_code: str
    previous_plan: PlanCode
    plan: PlanCode
    price_cents: Cents
    currency: str
    billing_period: str
    provisions_data_service: bool
    changed_at: Timestamp
    # What the change costs (optional: producers before these fields sent none). The unused
    # part of the paid period credited, what the new plan costs for what it covers, what the
    # next payment charges, and what is refunded at once (Plan's docstring has the rule).
    credit_cents: Cents | None = None
    proration_cents: Cents | None = None
    amount_due_cents: Cents | None = None
    refund_cents: Cents | None = None


class SubscriptionCancelled(Event):
    TYPE = f"{_PREFIX}.cancelled.v1"
    SUBJECT_FIELD = "subscription_id"

    subscription_id: Id
    client_code: str
    plan: PlanCode
    reason: str  # a cancellation code (domain.CANCELLATION_CODES, "other"), never free text
    cancelled_at: Timestamp


class SubscriptionPaid(Event):
    TYPE = f"{_PREFIX}.paid.v1"
    SUBJECT_FIELD = "subscription_id"

    subscription_id: Id
    client_code: str
    plan: PlanCode
    payment_id: Id
    transaction_id: str
    amount_cents: Cents
    currency: str
    paid_through: Timestamp
    paid_at: Timestamp


class PaymentDeclined(Event):
    TYPE = f"{_PREFIX}.payment_declined.v1"
    SUBJECT_FIELD = "subscription_id"

    subscription_id: Id
    client_code: str
    plan: PlanCode
    payment_id: Id
    amount_cents: Cents
    currency: str
    reason: str
    declined_at: Timestamp


class PaymentRefunded(Event):
    TYPE = f"{_PREFIX}.payment_refunded.v1"
    SUBJECT_FIELD = "subscription_id"

    subscription_id: Id
    client_code: str
    plan: PlanCode
    payment_id: Id
    refund_id: Id
    transaction_id: str  # the gateway's id of the refund
    amount_cents: Cents
    currency: str
    reason: str
    refunded_at: Timestamp


class SubscriptionCommandRejected(CommandRejected):
    TYPE = "co.saludtech.subscriptions.command.rejected.v1"
    SUBJECT_FIELD = "command_id"


# Where this context's messages travel and how it announces a failure: one naming rule.
NAMES = ContextNames("subscriptions", SubscriptionCommandRejected)


class SubscriptionStatus(StrEnum):
    PENDING_PAYMENT = "PENDING_PAYMENT"
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"


class BillingPeriod(StrEnum):
    MONTHLY = "monthly"
    YEARLY = "yearly"

    @property
    def months(self) -> int:
        return 1 if self is BillingPeriod.MONTHLY else 12


# -- read models: what this context's doors answer (the api reads the same models) --------
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


class PlanCatalogueView(ReadModel):
    """Every plan on sale, as the catalogue holds it now (plans.py)."""

    items: list[PlanView]


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
    # Refunded so far: all of it once REFUNDED, a part after a downgrade's prorated refund.
    refunded_cents: int = 0
    # The period the payment paid for (empty when declined).
    period_start: str = ""
    period_end: str = ""


class PlanChangeView(ReadModel):
    """What the last plan change of a paid subscription costs (Plan's docstring has the rule):
    the unused part of the paid period credited, what the new plan costs for what it covers,
    what is owed (paid by the next payment, `settled_by`) or refunded."""

    previous_plan: str
    plan: str
    changed_at: str
    credit_cents: int
    proration_cents: int
    owed_cents: int
    refund_cents: int
    # The payment that settles it starts a new period of the plan (the billing periods differ).
    new_period: bool
    settled_by: str = ""


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
    period_start: str | None = None  # of the paid period that ends at paid_through
    # What the next payment charges: the plan's price, or what a plan change left owed.
    amount_due_cents: int | None = None
    plan_change: PlanChangeView | None = None
