"""The Subscription aggregate and the value objects of a client: pure Python, no I/O.

Every invariant breaks with a SubscriptionError whose reason is a stable code, so the HTTP
API answers it as a 400 and the command handler as a failure event.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

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
from shared.domain.emails import is_email
from shared.domain.errors import PermanentError

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,31}$")
_NATIONAL_ID = re.compile(r"^[A-Za-z0-9.-]{5,20}$")
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
        if not is_email(data.email):
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
    status: str  # PAID | DECLINED | REFUNDED (all of it)
    at: str
    transaction_id: str = ""
    reason: str = ""
    refund_id: str = ""  # the last refund of it
    refunded_at: str = ""
    refunded_cents: int = 0  # a downgrade refunds part of a payment
    period_start: str = ""  # the period it paid for
    period_end: str = ""
    # The billing it replaced (Subscription.billing_snapshot): a refund of all of it puts
    # that back, so an undone upgrade leaves the period that was paid before it.
    replaced: dict[str, Any] | None = None

    @property
    def refundable_cents(self) -> int:
        return self.amount_cents - self.refunded_cents if self.status == "PAID" else 0


@dataclass(frozen=True)
class Period:
    """What the subscription has paid for: [start, end) at `price_cents` for a period of
    `months` (the plan's price it was paid at, part of it perhaps paid by a credit)."""

    start: str
    end: str
    price_cents: int
    months: int
    payment_id: str = ""  # the payment that bought it; "": a plan change re-priced it


@dataclass(frozen=True)
class PlanChangeBilling:
    """What the last change of a paid subscription's plan costs (Plan's docstring)."""

    previous_plan: str
    plan: str
    changed_at: str
    credit_cents: int
    proration_cents: int
    owed_cents: int  # charged by the next payment, while the credited period runs
    refund_cents: int  # refunded at once
    new_period: bool  # the payment that settles it starts a new period of the plan
    settled_by: str = ""  # that payment's id


@dataclass(frozen=True)
class RefundDue:
    """A refund a plan change decided, on its way to the gateway as a RefundPayment."""

    refund_id: str
    payment_id: str
    amount_cents: int


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


PLAN_CHANGE = "plan_change"  # the refund code of a downgrade's prorated refund


def refund_code(reason: str) -> str:
    return PLAN_CHANGE if reason == PLAN_CHANGE else cancellation_code(reason)


def prorated(price_cents: int, remaining_seconds: int, period_seconds: int) -> int:
    """`price_cents` for `remaining_seconds` of a period, rounded down to a whole cent:
    integers only, so every replica and every retry computes the same cents."""
    return price_cents * remaining_seconds // period_seconds


def whole_seconds(start: datetime, end: datetime) -> int:
    delta = end - start
    return delta.days * 86_400 + delta.seconds


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
    # The paid period ending at paid_through (None: never paid, or its payment refunded).
    period: Period | None = None
    plan_change: PlanChangeBilling | None = None
    # Refunds a change decided that the gateway has not answered yet: a second change counts
    # them, so two quick downgrades never promise the same cents twice.
    pending_refunds: list[RefundDue] = field(default_factory=list)

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

    def change_plan(
        self, plan: Plan, now: datetime, *, refund_id: Callable[[str], str]
    ) -> list[RefundDue]:
        """Move to `plan`, charging or refunding as Plan's docstring says. Answers the refunds
        decided (each to be sent as a RefundPayment); `refund_id(payment_id)` names each one,
        the same on every retry of this change."""
        self._ensure_not_cancelled()
        if plan.code == self.plan.code:
            raise SubscriptionError(
                "plan_unchanged", "the subscription is on that plan already", field="plan"
            )
        previous, self.plan = self.plan, plan
        billing = self._prorate(previous, plan, now)
        refunds: list[RefundDue] = []
        if billing is not None and billing.owed_cents == 0:
            refunds = self._refunds(billing.refund_cents, refund_id)
            billing = replace(billing, refund_cents=sum(r.amount_cents for r in refunds))
            self._settle(billing, now, payment_id="")
        self.plan_change = billing
        self.pending_refunds.extend(refunds)
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
                credit_cents=billing.credit_cents if billing else 0,
                proration_cents=billing.proration_cents if billing else 0,
                amount_due_cents=self.amount_due(now),
                refund_cents=billing.refund_cents if billing else 0,
            )
        )
        return refunds

    def _prorate(self, previous: Plan, plan: Plan, now: datetime) -> PlanChangeBilling | None:
        """The change's cost against the period as paid (None: nothing paid for from now)."""
        period = self.period
        if period is None:
            return None
        start, end = datetime.fromisoformat(period.start), datetime.fromisoformat(period.end)
        remaining, length = whole_seconds(now, end), whole_seconds(start, end)
        if remaining <= 0 or length <= 0:
            return None
        # Paid ahead (a renewal paid early): what is left may be more than one period.
        credit = prorated(period.price_cents, remaining, length)
        new_period = plan.billing_period.months != period.months
        cost = plan.price_cents if new_period else prorated(plan.price_cents, remaining, length)
        return PlanChangeBilling(
            previous_plan=previous.code,
            plan=plan.code,
            changed_at=iso(now),
            credit_cents=credit,
            proration_cents=cost,
            owed_cents=max(cost - credit, 0),
            refund_cents=max(credit - cost, 0),
            new_period=new_period,
        )

    def _settle(self, billing: PlanChangeBilling, now: datetime, payment_id: str) -> Period:
        """The new plan's price applies to the paid period, or a new period of it starts."""
        assert self.period is not None, "only a paid period is settled"
        if billing.new_period:
            end = iso(add_months(now, self.plan.billing_period.months))
            self.period = Period(
                iso(now), end, self.plan.price_cents, self.plan.billing_period.months, payment_id
            )
        elif self.period.price_cents != self.plan.price_cents or payment_id:
            # Re-priced: no single payment bought it any more (a refund of one no longer
            # puts back the billing before it), unless this payment tops it up.
            self.period = replace(
                self.period, price_cents=self.plan.price_cents, payment_id=payment_id
            )
        self.paid_through = self.period.end
        return self.period

    def _refunds(self, cents: int, refund_id: Callable[[str], str]) -> list[RefundDue]:
        """`cents` from the newest payments back, none beyond what is left of each (refunds
        still on their way count as given): never more than was paid."""
        promised: dict[str, int] = {}
        for due in self.pending_refunds:
            promised[due.payment_id] = promised.get(due.payment_id, 0) + due.amount_cents
        refunds = []
        for invoice in reversed(self.invoices):
            if cents <= 0:
                break
            left = invoice.refundable_cents - promised.get(invoice.payment_id, 0)
            if left > 0:
                amount = min(left, cents)
                refunds.append(RefundDue(refund_id(invoice.payment_id), invoice.payment_id, amount))
                cents -= amount
        return refunds

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

    def amount_due(self, now: datetime) -> int:
        """What a payment at `now` charges: what a plan change left owed while the period it
        credits runs, else the plan's price."""
        owed = self._owed_change(now)
        return owed.owed_cents if owed else self.plan.price_cents

    def _owed_change(self, now: datetime) -> PlanChangeBilling | None:
        change, period = self.plan_change, self.period
        if change is None or change.owed_cents == 0 or change.settled_by or period is None:
            return None
        return change if now < datetime.fromisoformat(period.end) else None

    def billing_snapshot(self) -> dict[str, Any]:
        return {
            "period": asdict(self.period) if self.period else None,
            "paid_through": self.paid_through,
            "plan_change": asdict(self.plan_change) if self.plan_change else None,
        }

    def _restore(self, snapshot: dict[str, Any]) -> None:
        self.period = Period(**snapshot["period"]) if snapshot.get("period") else None
        self.paid_through = snapshot.get("paid_through")
        change = snapshot.get("plan_change")
        self.plan_change = PlanChangeBilling(**change) if change else None

    def record_payment(self, payment_id: str, result: PaymentResult, now: datetime) -> None:
        self.ensure_payable(payment_id)
        amount, currency = self.amount_due(now), self.plan.currency
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
        replaced = self.billing_snapshot()
        period = self._pay_period(payment_id, now)
        self.status = SubscriptionStatus.ACTIVE
        self.invoices.append(
            Invoice(
                payment_id,
                amount,
                currency,
                "PAID",
                iso(now),
                transaction_id=result.transaction_id,
                period_start=period.start,
                period_end=period.end,
                replaced=replaced,
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
                paid_through=period.end,
                paid_at=iso(now),
            )
        )

    def _pay_period(self, payment_id: str, now: datetime) -> Period:
        """The period an approved payment pays for, now the subscription's."""
        owed = self._owed_change(now)
        if owed is not None:
            # It pays what a plan change left owed: the new price for the rest of the period,
            # or a new period of the plan.
            self.plan_change = replace(owed, settled_by=payment_id)
            return self._settle(owed, now, payment_id)
        change = self.plan_change
        if change is not None and change.owed_cents and not change.settled_by:
            # What a change left owed lapsed with the period it credited: shown no more.
            self.plan_change = None
        # A payment extends the paid period from its end, or from now if it has lapsed.
        start = max(now, datetime.fromisoformat(self.paid_through)) if self.paid_through else now
        months = self.plan.billing_period.months
        end = iso(add_months(start, months))
        self.period = Period(iso(start), end, self.plan.price_cents, months, payment_id)
        self.paid_through = end
        return self.period

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

    def refund_amount(self, payment_id: str, requested_cents: int | None = None) -> int:
        """What a refund of the payment gives back: what is left of it, or less if asked."""
        left = self.refundable_invoice(payment_id).refundable_cents
        return left if requested_cents is None else min(requested_cents, left)

    def record_refund(
        self,
        payment_id: str,
        refund_id: str,
        result: RefundResult,
        reason: str,
        now: datetime,
        *,
        amount_cents: int | None = None,
    ) -> None:
        invoice = self.refundable_invoice(payment_id)
        amount = self.refund_amount(payment_id, amount_cents)
        if not result.approved:
            raise SubscriptionError("refund_refused", result.refusal_reason or "refused")
        refunded_cents = invoice.refunded_cents + amount
        refunded = replace(
            invoice,
            status="REFUNDED" if refunded_cents >= invoice.amount_cents else "PAID",
            refunded_cents=refunded_cents,
            refund_id=refund_id,
            refunded_at=iso(now),
        )
        self.invoices = [refunded if i.payment_id == payment_id else i for i in self.invoices]
        self.pending_refunds = [r for r in self.pending_refunds if r.refund_id != refund_id]
        bought_the_period = self.period is not None and self.period.payment_id == payment_id
        if refunded.status == "REFUNDED" and bought_the_period and invoice.replaced is not None:
            # Money back for the period it bought: the billing before it holds again (an
            # undone upgrade leaves the old plan's period, as paid, and nothing refunded twice).
            self._restore(invoice.replaced)
        self.record(
            PaymentRefunded(
                subscription_id=self.id,
                client_code=self.client.code,
                plan=self.plan.code,
                payment_id=payment_id,
                refund_id=refund_id,
                transaction_id=result.transaction_id,
                amount_cents=amount,
                currency=invoice.currency,
                reason=refund_code(reason) if reason else "unspecified",
                refunded_at=iso(now),
            )
        )

    @property
    def amount_due_cents(self) -> int:
        """What the next payment charges, as of the last change (amount_due(now) knows
        whether an owed difference has lapsed with its period)."""
        change = self.plan_change
        if change is not None and change.owed_cents and not change.settled_by:
            return change.owed_cents
        return self.plan.price_cents

    def _ensure_not_cancelled(self) -> None:
        if self.status is SubscriptionStatus.CANCELLED:
            raise SubscriptionError("subscription_cancelled", "the subscription is cancelled")
