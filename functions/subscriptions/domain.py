"""The Subscription aggregate and the value objects of a client: pure Python, no I/O.

Every invariant breaks with a SubscriptionError whose reason is a stable code, so the HTTP
API answers it as a 400 and the command handler as a failure event.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime

from functions.subscriptions.messages import (
    ClientData,
    PaymentDeclined,
    PaymentRefunded,
    PlanChanged,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionPaid,
    SubscriptionStatus,
)
from functions.subscriptions.plans import Plan, find_plan
from shared.domain.aggregate import Aggregate
from shared.domain.errors import PermanentError

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,31}$")
_NATIONAL_ID = re.compile(r"^[A-Za-z0-9.-]{5,20}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_RUT_WITH_DV = re.compile(r"^(\d{1,8})-([\dK])$")
_NAME_PUNCTUATION = frozenset(" '-.")


class SubscriptionError(PermanentError):
    """A command the subscriptions domain refuses; `reason` says which rule, never a value."""


def rut_check_digit(body: str) -> str:
    """Módulo 11 check digit of a Chilean RUT body."""
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(body)))
    digit = 11 - total % 11
    return {11: "0", 10: "K"}.get(digit, str(digit))


def normalize_rut(raw: str) -> str:
    """`12.345.678-5` → `12345678-5` (check digit verified); bare digits are kept as a number,
    as the original design's payload sent them."""
    compact = raw.replace(".", "").replace(" ", "").upper()
    if compact.isdigit() and 7 <= len(compact) <= 9:
        return compact
    match = _RUT_WITH_DV.match(compact)
    if not match or rut_check_digit(match.group(1)) != match.group(2):
        raise SubscriptionError("invalid_rut", "not a valid RUT", field="client.rut")
    return compact


def _valid_name(value: str) -> bool:
    letters = [c for c in value if c not in _NAME_PUNCTUATION]
    return bool(letters) and all(unicodedata.category(c).startswith("L") for c in letters)


@dataclass(frozen=True)
class Client:
    code: str
    first_names: str
    last_names: str
    username: str
    rut: str
    national_id: str
    email: str

    @classmethod
    def from_data(cls, data: ClientData) -> Client:
        """Validate the client of a command, naming the first rule it breaks."""
        if not _CODE.match(data.code):
            raise SubscriptionError(
                "invalid_client_code", "1-32 letters, digits, _ or -", field="client.code"
            )
        for name, value in (("first_names", data.first_names), ("last_names", data.last_names)):
            if not _valid_name(value):
                raise SubscriptionError(
                    "invalid_name", "letters, spaces, ' - . only", field=f"client.{name}"
                )
        username = data.username.lower()
        if not _USERNAME.match(username):
            raise SubscriptionError(
                "invalid_username", "3-32 of a-z 0-9 . _ -", field="client.username"
            )
        if not _NATIONAL_ID.match(data.national_id):
            raise SubscriptionError(
                "invalid_national_id", "5-20 letters, digits, . or -", field="client.national_id"
            )
        if not _EMAIL.match(data.email):
            raise SubscriptionError("invalid_email", "not an email address", field="client.email")
        return cls(
            code=data.code,
            first_names=data.first_names,
            last_names=data.last_names,
            username=username,
            rut=normalize_rut(data.rut),
            national_id=data.national_id.upper(),
            email=data.email.lower(),
        )


def plan_or_error(code: str) -> Plan:
    plan = find_plan(code)
    if plan is None:
        raise SubscriptionError("unknown_plan", "plans are BASIC, PRO, ENTERPRISE", field="plan")
    return plan


@dataclass(frozen=True)
class Invoice:
    payment_id: str
    amount_cents: int
    currency: str
    status: str  # PAID | DECLINED | REFUNDED
    at: str
    transaction_id: str = ""
    reason: str = ""
    refund_id: str = ""
    refunded_at: str = ""


@dataclass(frozen=True)
class PaymentResult:
    """What the payment gateway answered for one charge."""

    approved: bool
    transaction_id: str = ""
    decline_reason: str = ""


@dataclass(frozen=True)
class RefundResult:
    """What the payment gateway answered for one refund."""

    approved: bool
    transaction_id: str = ""
    refusal_reason: str = ""


# Why clients cancel, as codes. Free text a client sends may name people or hold anything:
# events carry one of these codes, never the text itself.
CANCELLATION_CODES = frozenset(
    {"budget", "not_needed", "switching_provider", "data_quality", "project_ended", "saga_failed"}
)


def cancellation_code(reason: str) -> str:
    code = reason.strip().lower().replace(" ", "_").replace("-", "_")
    if code in CANCELLATION_CODES:
        return code
    return "other" if code else "unspecified"


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    days = [
        31,
        29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, days))


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(kw_only=True, eq=False)
class Subscription(Aggregate):
    client: Client
    plan: Plan
    status: SubscriptionStatus
    created_at: str
    paid_through: str | None = None
    cancelled_at: str | None = None
    invoices: list[Invoice] = field(default_factory=list)

    @classmethod
    def create(
        cls, subscription_id: str, client: Client, plan: Plan, now: datetime
    ) -> Subscription:
        subscription = cls(
            id=subscription_id,
            client=client,
            plan=plan,
            status=SubscriptionStatus.PENDING_PAYMENT,
            created_at=iso(now),
        )
        subscription.record(
            SubscriptionCreated(
                subscription_id=subscription_id,
                client_code=client.code,
                client_email=client.email,
                plan=plan.code,
                price_cents=plan.price_cents,
                currency=plan.currency,
                billing_period=plan.billing_period.value,
                provisions_data_service=plan.provisions_data_service,
                status=subscription.status.value,
                created_at=subscription.created_at,
            )
        )
        return subscription

    def change_plan(self, plan: Plan, now: datetime) -> None:
        self._ensure_not_cancelled()
        if plan.code == self.plan.code:
            raise SubscriptionError(
                "plan_unchanged", "the subscription is on that plan already", field="plan"
            )
        previous, self.plan = self.plan, plan
        self.record(
            PlanChanged(
                subscription_id=self.id,
                client_code=self.client.code,
                previous_plan=previous.code,
                plan=plan.code,
                price_cents=plan.price_cents,
                currency=plan.currency,
                billing_period=plan.billing_period.value,
                provisions_data_service=plan.provisions_data_service,
                changed_at=iso(now),
            )
        )

    def cancel(self, reason: str, now: datetime) -> None:
        """`reason` is what the client wrote; only its code (cancellation_code) is announced."""
        if self.status is SubscriptionStatus.CANCELLED:
            raise SubscriptionError("already_cancelled", "the subscription is cancelled already")
        self.status = SubscriptionStatus.CANCELLED
        self.cancelled_at = iso(now)
        self.record(
            SubscriptionCancelled(
                subscription_id=self.id,
                client_code=self.client.code,
                plan=self.plan.code,
                reason=cancellation_code(reason),
                cancelled_at=self.cancelled_at,
            )
        )

    def ensure_payable(self, payment_id: str) -> None:
        """Checked before the gateway is asked to charge anything."""
        self._ensure_not_cancelled()
        if any(invoice.payment_id == payment_id for invoice in self.invoices):
            raise SubscriptionError("payment_already_recorded", "that payment id was used")

    def record_payment(self, payment_id: str, result: PaymentResult, now: datetime) -> None:
        self.ensure_payable(payment_id)
        amount, currency = self.plan.price_cents, self.plan.currency
        if not result.approved:
            self.invoices.append(
                Invoice(
                    payment_id, amount, currency, "DECLINED", iso(now), reason=result.decline_reason
                )
            )
            self.record(
                PaymentDeclined(
                    subscription_id=self.id,
                    client_code=self.client.code,
                    plan=self.plan.code,
                    payment_id=payment_id,
                    amount_cents=amount,
                    currency=currency,
                    reason=result.decline_reason,
                    declined_at=iso(now),
                )
            )
            return
        # A payment extends the paid period from its end, or from now if it has lapsed.
        start = max(now, datetime.fromisoformat(self.paid_through)) if self.paid_through else now
        self.paid_through = iso(add_months(start, self.plan.billing_period.months))
        self.status = SubscriptionStatus.ACTIVE
        self.invoices.append(
            Invoice(
                payment_id, amount, currency, "PAID", iso(now), transaction_id=result.transaction_id
            )
        )
        self.record(
            SubscriptionPaid(
                subscription_id=self.id,
                client_code=self.client.code,
                plan=self.plan.code,
                payment_id=payment_id,
                transaction_id=result.transaction_id,
                amount_cents=amount,
                currency=currency,
                paid_through=self.paid_through,
                paid_at=iso(now),
            )
        )

    def refundable_invoice(self, payment_id: str) -> Invoice:
        """The paid invoice a refund gives back; checked before the gateway is asked. A
        cancelled subscription can still be refunded (a cancel may come first)."""
        invoice = next((i for i in self.invoices if i.payment_id == payment_id), None)
        if invoice is None:
            raise SubscriptionError("payment_not_found", "no payment with that id")
        if invoice.status == "REFUNDED":
            raise SubscriptionError("payment_already_refunded", "that payment was refunded")
        if invoice.status != "PAID":
            raise SubscriptionError("payment_not_paid", "that payment was declined")
        return invoice

    def record_refund(
        self, payment_id: str, refund_id: str, result: RefundResult, reason: str, now: datetime
    ) -> None:
        invoice = self.refundable_invoice(payment_id)
        if not result.approved:
            raise SubscriptionError("refund_refused", result.refusal_reason or "refused")
        refunded = Invoice(
            **{
                **asdict(invoice),
                "status": "REFUNDED",
                "refund_id": refund_id,
                "refunded_at": iso(now),
            }
        )
        self.invoices = [refunded if i.payment_id == payment_id else i for i in self.invoices]
        self.record(
            PaymentRefunded(
                subscription_id=self.id,
                client_code=self.client.code,
                plan=self.plan.code,
                payment_id=payment_id,
                refund_id=refund_id,
                transaction_id=result.transaction_id,
                amount_cents=invoice.amount_cents,
                currency=invoice.currency,
                reason=cancellation_code(reason) if reason else "unspecified",
                refunded_at=iso(now),
            )
        )

    @property
    def amount_due_cents(self) -> int:
        return self.plan.price_cents

    def _ensure_not_cancelled(self) -> None:
        if self.status is SubscriptionStatus.CANCELLED:
            raise SubscriptionError("subscription_cancelled", "the subscription is cancelled")
