"""What a plan change charges or refunds (the rule is in plans.Plan's docstring): the
domain's arithmetic, then the handlers through the idempotent processor."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from functions import bootstrap
from functions.subscriptions import queries
from functions.subscriptions import wiring as subscriptions_wiring
from functions.subscriptions.adapters.sandbox_payments import SandboxPaymentGateway
from functions.subscriptions.domain import (
    Client,
    PaymentResult,
    RefundDue,
    RefundResult,
    Subscription,
    plan_or_error,
)
from functions.subscriptions.handlers import Dependencies
from functions.subscriptions.messages import (
    NAMES,
    ChangePlan,
    PaymentRefunded,
    PaySubscription,
    PlanChanged,
    RefundPayment,
    SubscriptionPaid,
    SubscriptionView,
)
from functions.subscriptions.ports import Charge, Refund
from functions.subscriptions.unit_of_work import (
    SubscriptionMapper,
    SubscriptionsUnitOfWork,
    client_fields,
)
from shared.config import Settings
from shared.domain.messages import Message
from shared.platform import Platform
from shared.ports.envelope import Envelope
from shared.service.processing import MessageProcessor, Processed
from tests.unit.subscriptions.factories import client_data, create_command

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # a PRO month: 2026-01-01 → 2026-02-01, 2,678,400 s
MID = datetime(2026, 1, 16, 12, tzinfo=UTC)  # half of it left: 1,339,200 s
DAY_1 = datetime(2026, 1, 2, tzinfo=UTC)  # 30 of its 31 days left


def subscription(plan: str = "PRO") -> Subscription:
    created = Subscription.create("sub-1", Client.from_data(client_data()), plan_or_error(plan), T0)
    created.pull_events()
    return created


def paid(plan: str = "PRO", at: datetime = T0, payment_id: str = "p1") -> Subscription:
    bought = subscription(plan)
    bought.record_payment(payment_id, PaymentResult(True, f"t-{payment_id}"), at)
    bought.pull_events()
    return bought


def change(bought: Subscription, plan: str, at: datetime) -> tuple[PlanChanged, list[RefundDue]]:
    refunds = bought.change_plan(plan_or_error(plan), at, refund_id=lambda p: f"r-{p}")
    [event] = bought.pull_events()
    assert isinstance(event, PlanChanged)
    return event, refunds


def pay(bought: Subscription, payment_id: str, at: datetime) -> SubscriptionPaid:
    bought.record_payment(payment_id, PaymentResult(True, f"t-{payment_id}"), at)
    [event] = bought.pull_events()
    assert isinstance(event, SubscriptionPaid)
    return event


def refund(
    bought: Subscription, payment_id: str, at: datetime, amount: int | None = None
) -> PaymentRefunded:
    reason = "plan_change" if amount else "saga_failed"
    bought.record_refund(
        payment_id, f"r-{payment_id}", RefundResult(True, "re"), reason, at, amount_cents=amount
    )
    [event] = bought.pull_events()
    assert isinstance(event, PaymentRefunded)
    return event


def amounts(event: PlanChanged) -> tuple[int | None, ...]:
    return (event.credit_cents, event.proration_cents, event.amount_due_cents, event.refund_cents)


# -- the domain ------------------------------------------------------------------------------
def test_pro_to_enterprise_credits_the_unused_month_and_charges_a_year_from_the_payment() -> None:
    bought = paid("PRO")
    event, refunds = change(bought, "ENTERPRISE", MID)
    # credit 49,900 x 1,339,200 // 2,678,400; a year of ENTERPRISE; owed the difference
    assert amounts(event) == (24_950, 499_000, 474_050, 0) and refunds == []
    assert bought.paid_through == "2026-02-01T00:00:00Z"  # the month, as paid, until paid
    assert bought.amount_due(MID) == bought.amount_due_cents == 474_050

    later = MID + timedelta(hours=1)
    payment = pay(bought, "p2", later)
    assert (payment.amount_cents, payment.paid_through) == (474_050, "2027-01-16T13:00:00Z")
    assert bought.plan_change is not None and bought.plan_change.settled_by == "p2"
    assert bought.amount_due(later) == 499_000  # the next year: the full price


def test_an_upgrade_within_the_billing_period_charges_the_rest_of_it_at_the_new_price() -> None:
    bought = paid("BASIC")
    event, _ = change(bought, "PRO", DAY_1)
    # 30/31 of each price, each rounded down: 4,900 → 4,741; 49,900 → 48,290
    assert amounts(event) == (4_741, 48_290, 43_549, 0)
    payment = pay(bought, "p2", DAY_1)
    assert (payment.amount_cents, payment.paid_through) == (43_549, "2026-02-01T00:00:00Z")
    assert bought.period is not None and bought.period.price_cents == 49_900
    assert bought.amount_due(DAY_1) == 49_900  # the next month: PRO's price
    assert pay(bought, "p3", DAY_1).paid_through == "2026-03-01T00:00:00Z"


def test_a_downgrade_refunds_the_prorated_difference_from_the_payment() -> None:
    bought = paid("PRO")
    event, refunds = change(bought, "BASIC", MID)
    assert amounts(event) == (24_950, 2_450, 4_900, 22_500)
    assert refunds == [RefundDue("r-p1", "p1", 22_500)]
    assert bought.paid_through == "2026-02-01T00:00:00Z" and bought.amount_due(MID) == 4_900

    assert refund(bought, "p1", MID, amount=22_500).amount_cents == 22_500
    [invoice] = bought.invoices
    assert (invoice.status, invoice.refunded_cents, invoice.refundable_cents) == (
        "PAID",
        22_500,
        27_400,
    )
    assert bought.pending_refunds == []
    # A compensation's refund, later, gives back what is left of it and no more.
    assert refund(bought, "p1", MID).amount_cents == 27_400
    assert bought.invoices[0].status == "REFUNDED"


def test_a_yearly_to_monthly_downgrade_starts_a_month_paid_by_the_credit() -> None:
    bought = paid("ENTERPRISE")
    at = datetime(2026, 7, 2, tzinfo=UTC)  # 183 of 365 days left
    event, refunds = change(bought, "PRO", at)
    # credit 499,000 x 183 // 365 = 250,183; a PRO month from now: 49,900; the rest back
    assert amounts(event) == (250_183, 49_900, 49_900, 200_283)
    assert refunds == [RefundDue("r-p1", "p1", 200_283)]
    assert bought.paid_through == "2026-08-02T00:00:00Z"


def test_refunds_take_the_newest_payments_first_and_never_more_than_is_left() -> None:
    bought = paid("PRO")
    pay(bought, "p2", T0)  # paid ahead: 2026-02-01 → 2026-03-01 (28 days)
    _, refunds = change(bought, "BASIC", T0)
    # 59 days of a 28-day period left: 105,146 credited, 10,325 of BASIC, 94,821 back
    assert refunds == [RefundDue("r-p2", "p2", 49_900), RefundDue("r-p1", "p1", 44_921)]

    capped = paid("PRO")
    refund(capped, "p1", T0, amount=40_000)  # an operator gave most of it back already
    event, refunds = change(capped, "BASIC", MID)
    assert refunds == [RefundDue("r-p1", "p1", 9_900)] and event.refund_cents == 9_900


def test_a_second_downgrade_counts_the_refunds_still_on_their_way() -> None:
    bought = paid("ENTERPRISE")
    _, first = change(bought, "PRO", T0)  # a full year credited: 449,100 back
    _, second = change(bought, "BASIC", T0)  # a full PRO month credited: 45,000 back
    assert [r.amount_cents for r in first + second] == [449_100, 45_000]
    assert sum(r.amount_cents for r in bought.pending_refunds) <= 499_000


def test_an_unpaid_subscription_changes_for_nothing_and_pays_the_new_price() -> None:
    bought = subscription("PRO")
    event, refunds = change(bought, "ENTERPRISE", MID)
    assert amounts(event) == (0, 0, 499_000, 0) and refunds == []
    assert bought.plan_change is None
    assert pay(bought, "p1", MID).paid_through == "2027-01-16T12:00:00Z"


def test_a_lapsed_period_is_not_prorated_and_an_owed_difference_lapses_with_it() -> None:
    lapsed = paid("PRO")
    after = datetime(2026, 2, 2, tzinfo=UTC)
    event, _ = change(lapsed, "ENTERPRISE", after)
    assert amounts(event) == (0, 0, 499_000, 0)

    owing = paid("BASIC")
    change(owing, "PRO", MID)
    payment = pay(owing, "p2", after)  # too late for the rest of January
    assert (payment.amount_cents, payment.paid_through) == (49_900, "2026-03-02T00:00:00Z")
    assert owing.plan_change is None


def test_changing_back_before_paying_costs_nothing() -> None:
    bought = paid("PRO")
    change(bought, "ENTERPRISE", MID)
    event, refunds = change(bought, "PRO", MID)
    assert amounts(event) == (24_950, 24_950, 49_900, 0) and refunds == []
    assert bought.period is not None and bought.period.payment_id == "p1"
    assert bought.paid_through == "2026-02-01T00:00:00Z"


def test_refunding_an_upgrade_puts_back_the_period_paid_before_it() -> None:
    """The ENTERPRISE saga's compensation: refund the upgrade's payment, change plan back."""
    bought = paid("PRO")
    change(bought, "ENTERPRISE", MID)
    pay(bought, "p2", MID)
    assert refund(bought, "p2", MID).amount_cents == 474_050
    assert bought.paid_through == "2026-02-01T00:00:00Z"
    event, refunds = change(bought, "PRO", MID)
    assert amounts(event) == (24_950, 24_950, 49_900, 0) and refunds == []
    assert [i.refundable_cents for i in bought.invoices] == [49_900, 0]


def test_the_billing_survives_storage_and_older_documents_get_a_period() -> None:
    bought = paid("PRO")
    change(bought, "BASIC", MID)
    mapper = SubscriptionMapper(client_fields(Settings()))
    document = mapper.to_document(bought)
    assert mapper.from_document("sub-1", document, 2).__dict__ == bought.__dict__ | {"version": 2}

    older = {k: v for k, v in document.items() if k not in ("period", "plan_change")}
    older["plan"] = mapper.to_document(paid("PRO"))["plan"]
    period = mapper.from_document("sub-1", older, 2).period
    assert period is not None
    assert (period.start, period.end, period.price_cents) == (
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        49_900,
    )


# -- the handlers ----------------------------------------------------------------------------
Processor = MessageProcessor[SubscriptionsUnitOfWork, Dependencies]


class RecordingGateway(SandboxPaymentGateway):
    def __init__(self) -> None:
        super().__init__()
        self.charged: list[int] = []
        self.refunded: list[int] = []

    def charge(self, charge: Charge) -> PaymentResult:
        result = super().charge(charge)
        self.charged.append(charge.amount_cents)
        return result

    def refund(self, refund: Refund) -> RefundResult:
        result = super().refund(refund)
        self.refunded.append(refund.amount_cents)
        return result


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> RecordingGateway:
    recording = RecordingGateway()
    monkeypatch.setattr(subscriptions_wiring, "payment_gateway", lambda _: recording)
    return recording


@pytest.fixture
def platform(clock: Clock) -> Iterator[Platform]:
    p = dataclasses.replace(bootstrap.in_memory_platform(), clock=clock)
    bootstrap.use(p)
    yield p
    bootstrap.use(None)


@pytest.fixture
def processor(platform: Platform, gateway: RecordingGateway) -> Processor:
    return bootstrap.context(subscriptions_wiring.build).processor


def send(processor: Processor, payload: Message) -> Processed:
    return processor.process(Envelope(payload=payload, source=NAMES.source))


def paid_pro(processor: Processor) -> str:
    sid = create_command("PRO").subscription_id
    send(processor, create_command("PRO", subscription_id=sid))
    send(processor, PaySubscription(subscription_id=sid, payment_id="p1", card_token="tok_visa"))
    return sid


def view(platform: Platform, sid: str) -> SubscriptionView:
    return SubscriptionView.model_validate(
        queries.get_subscription(platform.store, sid, client_fields(platform.settings))
    )


def test_a_duplicate_change_plan_charges_the_difference_once(
    platform: Platform, processor: Processor, clock: Clock, gateway: RecordingGateway
) -> None:
    sid = paid_pro(processor)
    clock.now = MID
    upgrade = Envelope(payload=ChangePlan(subscription_id=sid, plan="ENTERPRISE"), source="t")
    assert not processor.process(upgrade).duplicate
    assert processor.process(upgrade).duplicate
    shown = view(platform, sid)
    assert shown.amount_due_cents == 474_050 and shown.plan_change is not None
    assert (shown.plan_change.credit_cents, shown.plan_change.owed_cents) == (24_950, 474_050)

    send(processor, PaySubscription(subscription_id=sid, payment_id="p2", card_token="tok_visa"))
    assert gateway.charged == [49_900, 474_050]
    shown = view(platform, sid)
    assert shown.plan_change is not None and shown.plan_change.settled_by == "p2"
    assert (shown.amount_due_cents, shown.paid_through) == (499_000, "2027-01-16T12:00:00Z")
    assert [(i.amount_cents, i.period_start) for i in shown.invoices][-1] == (
        474_050,
        "2026-01-16T12:00:00Z",
    )


def test_a_downgrade_refunds_through_refund_payment_once(
    platform: Platform, processor: Processor, clock: Clock, gateway: RecordingGateway
) -> None:
    sid = paid_pro(processor)
    clock.now = MID
    downgrade = Envelope(payload=ChangePlan(subscription_id=sid, plan="BASIC"), source="t")
    result = processor.process(downgrade)
    [command] = [e.envelope for e in result.outbox if e.topic == NAMES.commands_topic]
    assert isinstance(command.payload, RefundPayment)
    assert (command.payload.payment_id, command.payload.amount_cents) == ("p1", 22_500)
    assert command.payload.reason == "plan_change"
    # A redelivery republishes the very same command: one refund at the gateway.
    again = processor.process(downgrade)
    assert [e.envelope.id for e in again.outbox] == [e.envelope.id for e in result.outbox]

    for delivery in (command, command):
        processor.process(delivery)
    assert gateway.refunded == [22_500]
    [invoice] = view(platform, sid).invoices
    assert (invoice.status, invoice.refunded_cents) == ("PAID", 22_500)
    document = platform.store.get("subscriptions", sid) or {}
    assert document["pending_refunds"] == [] and "replaced" not in invoice.model_dump()


def test_the_upgrade_saga_compensation_refunds_the_upgrade_only(
    platform: Platform, processor: Processor, clock: Clock, gateway: RecordingGateway
) -> None:
    sid = paid_pro(processor)
    clock.now = MID
    send(processor, ChangePlan(subscription_id=sid, plan="ENTERPRISE"))
    send(processor, PaySubscription(subscription_id=sid, payment_id="p2", card_token="tok_visa"))
    # What the saga sends when it fails after the payment: a refund, then the plan back.
    send(processor, RefundPayment(subscription_id=sid, payment_id="p2", refund_id="r2"))
    back = send(processor, ChangePlan(subscription_id=sid, plan="PRO"))
    assert [e.topic for e in back.outbox] == [NAMES.events_topic]  # nothing more refunded
    assert gateway.refunded == [474_050]
    shown = view(platform, sid)
    assert (shown.plan.code, shown.paid_through, shown.amount_due_cents) == (
        "PRO",
        "2026-02-01T00:00:00Z",
        49_900,
    )
