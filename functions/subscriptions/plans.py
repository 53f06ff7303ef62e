"""The plan catalogue, as data: a new plan is a new row, nothing else changes.

(Quality scenario 3 of the original design: new products and plans without touching the rest.)
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.subscriptions.messages import BillingPeriod


@dataclass(frozen=True)
class Plan:
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
