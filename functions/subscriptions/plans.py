"""The plan catalogue, as data: a new plan is a new row, nothing else changes.

(Quality scenario 3 of the original design: new products and plans without touching the rest.)
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.subscriptions.messages import BillingPeriod


@dataclass(frozen=True)
class Plan:
    """A plan as sold. What a change of plan charges (Subscription.change_plan):

    A paid subscription has a paid period [start, end) from its last payment, paid at a
    price. A change at `now` inside it credits the unused part of that period and costs the
    new plan for what it covers, each prorated by whole seconds and rounded down to a cent:

        remaining = whole seconds from now to end;  length = whole seconds of the period
        credit    = paid price x remaining // length
        cost      = new price x remaining // length   (same billing period: the new plan
                                                        covers the rest of the period)
                  = new price                         (other billing period: the new plan
                                                        starts a full period of its own
                                                        when paid, e.g. PRO -> ENTERPRISE)
        cost > credit: the difference is owed; the next payment charges it (the PRO and
                       ENTERPRISE sagas await that payment), and starts the new period or
                       re-prices the current one. It lapses with the period it credits.
        cost <= credit: the difference is refunded at once (RefundPayment, newest payments
                        first, never more than is left of them) and the new price, or the
                        new period paid by the credit, applies from now.

    Always against the period as paid, not the plan of the moment, so a change back before
    paying costs nothing. An unpaid or lapsed subscription is charged nothing for a change:
    its next payment is the new plan's price. Worked example, PRO paid 2026-01-01 (a
    31-day period, 2,678,400 s) and changed to ENTERPRISE on 2026-01-16T12:00Z (1,339,200 s
    left): credit 49,900 x 1,339,200 // 2,678,400 = 24,950; cost 499,000 (a year from the
    payment); owed 474,050 cents.
    """

    code: str
    name: str
    price_cents: int
    currency: str
    billing_period: BillingPeriod
    # A data service (curated dataset, expert, delivery) is provisioned by the PRO saga.
    provisions_data_service: bool


CATALOGUE: dict[str, Plan] = {
    plan.code: plan
    for plan in (
        Plan("BASIC", "Basic", 4_900, "USD", BillingPeriod.MONTHLY, provisions_data_service=False),
        Plan("PRO", "Professional", 49_900, "USD", BillingPeriod.MONTHLY, True),
        Plan("ENTERPRISE", "Enterprise", 499_000, "USD", BillingPeriod.YEARLY, True),
    )
}


def find_plan(code: str) -> Plan | None:
    return CATALOGUE.get(code.strip().upper())
