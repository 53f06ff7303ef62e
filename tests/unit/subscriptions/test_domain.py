from datetime import UTC, datetime

import pytest

from functions.subscriptions.domain import (
    Client,
    PaymentResult,
    Subscription,
    SubscriptionError,
    add_months,
    normalize_rut,
    plan_or_error,
    rut_check_digit,
)
from functions.subscriptions.messages import (
    PaymentDeclined,
    PlanChanged,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionPaid,
    SubscriptionStatus,
)
from tests.unit.subscriptions.factories import client_data

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def new_subscription(plan: str = "PRO") -> Subscription:
    subscription = Subscription.create(
        "sub-1", Client.from_data(client_data()), plan_or_error(plan), NOW
    )
    subscription.pull_events()
    return subscription


def reason_of(call: object) -> str:
    with pytest.raises(SubscriptionError) as caught:
        call()  # type: ignore[operator]
    return caught.value.reason


def test_creating_records_subscription_created_pending_payment() -> None:
    subscription = Subscription.create(
        "sub-1", Client.from_data(client_data()), plan_or_error("pro"), NOW
    )
    [event] = subscription.pull_events()
    assert isinstance(event, SubscriptionCreated)
    assert (event.plan, event.price_cents, event.status) == ("PRO", 49_900, "PENDING_PAYMENT")
    assert event.provisions_data_service is True
    assert subscription.status is SubscriptionStatus.PENDING_PAYMENT


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"code": "bad code!"}, "invalid_client_code"),
        ({"first_names": "P4blo"}, "invalid_name"),
        ({"last_names": "--"}, "invalid_name"),
        ({"username": "x"}, "invalid_username"),
        ({"rut": "12.345.678-9"}, "invalid_rut"),
        ({"rut": "abc"}, "invalid_rut"),
        ({"national_id": "12"}, "invalid_national_id"),
        ({"email": "not-an-email"}, "invalid_email"),
        ({"email": "a@b"}, "invalid_email"),
    ],
)
def test_client_rules_name_the_broken_rule(changes: dict[str, str], reason: str) -> None:
    assert reason_of(lambda: Client.from_data(client_data(**changes))) == reason


def test_client_is_normalized() -> None:
    client = Client.from_data(
        client_data(username="PPerez", email="PPerez@Domain.com", rut="12345678-5")
    )
    assert (client.username, client.email, client.rut) == (
        "pperez",
        "pperez@domain.com",
        "12345678-5",
    )


def test_rut_check_digit_and_bare_numbers() -> None:
    assert rut_check_digit("12345678") == "5"
    assert rut_check_digit("11111111") == "1"
    assert normalize_rut("7.654.321-6") == "7654321-6"
    assert normalize_rut("123457890") == "123457890"  # the original design sent bare numbers


def test_unknown_plan_is_refused() -> None:
    assert reason_of(lambda: plan_or_error("GOLD")) == "unknown_plan"


def test_change_plan_records_previous_and_new() -> None:
    subscription = new_subscription("BASIC")
    subscription.change_plan(plan_or_error("ENTERPRISE"), NOW, refund_id=str)
    [event] = subscription.pull_events()
    assert isinstance(event, PlanChanged)
    assert (event.previous_plan, event.plan, event.billing_period) == (
        "BASIC",
        "ENTERPRISE",
        "yearly",
    )


def test_change_to_the_same_plan_is_refused() -> None:
    subscription = new_subscription("PRO")
    assert (
        reason_of(lambda: subscription.change_plan(plan_or_error("PRO"), NOW, refund_id=str))
        == "plan_unchanged"
    )


def test_cancel_once_then_refuse_payment_plan_change_and_second_cancel() -> None:
    subscription = new_subscription()
    subscription.cancel("budget", NOW)
    assert isinstance(subscription.pull_events()[0], SubscriptionCancelled)
    assert reason_of(lambda: subscription.cancel("again", NOW)) == "already_cancelled"
    assert reason_of(lambda: subscription.ensure_payable("p1")) == "subscription_cancelled"
    assert (
        reason_of(lambda: subscription.change_plan(plan_or_error("BASIC"), NOW, refund_id=str))
        == "subscription_cancelled"
    )
    approved = PaymentResult(True, "t1")
    assert (
        reason_of(lambda: subscription.record_payment("p1", approved, NOW))
        == "subscription_cancelled"
    )
    assert not subscription.has_changes


def test_approved_payment_activates_and_extends_from_the_end_of_the_period() -> None:
    subscription = new_subscription("PRO")
    subscription.record_payment("p1", PaymentResult(True, "t1"), NOW)
    assert subscription.status is SubscriptionStatus.ACTIVE
    assert subscription.paid_through == "2026-02-28T12:00:00Z"  # month end is clamped
    subscription.record_payment("p2", PaymentResult(True, "t2"), NOW)
    assert subscription.paid_through == "2026-03-28T12:00:00Z"
    events = subscription.pull_events()
    assert [type(e) for e in events] == [SubscriptionPaid, SubscriptionPaid]
    assert isinstance(events[0], SubscriptionPaid) and events[0].amount_cents == 49_900


def test_declined_payment_keeps_it_pending_and_says_why() -> None:
    subscription = new_subscription()
    subscription.record_payment("p1", PaymentResult(False, decline_reason="card_declined"), NOW)
    [event] = subscription.pull_events()
    assert isinstance(event, PaymentDeclined) and event.reason == "card_declined"
    assert subscription.status is SubscriptionStatus.PENDING_PAYMENT
    assert subscription.invoices[0].status == "DECLINED"


def test_a_payment_id_is_used_once() -> None:
    subscription = new_subscription()
    subscription.record_payment("p1", PaymentResult(True, "t1"), NOW)
    assert reason_of(lambda: subscription.ensure_payable("p1")) == "payment_already_recorded"


def test_add_months_handles_leap_years_and_year_ends() -> None:
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1).day == 29
    assert add_months(datetime(2026, 12, 15, tzinfo=UTC), 1).month == 1
    assert add_months(datetime(2026, 3, 1, tzinfo=UTC), 12).year == 2027
