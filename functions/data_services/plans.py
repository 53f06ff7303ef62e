"""What each plan allows a data service, as data: a new plan is a new row.

The subscriptions context owns prices and billing; this context only needs to know which
plans include a data service and how large its dataset may be.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlanAllowance:
    code: str
    max_images: int
    # How long signed links of a `links` delivery stay valid.
    link_hours: int


ALLOWANCES: dict[str, PlanAllowance] = {
    allowance.code: allowance
    for allowance in (
        PlanAllowance("PRO", max_images=10_000, link_hours=72),
        PlanAllowance("ENTERPRISE", max_images=100_000, link_hours=168),
    )
}


def find_allowance(code: str) -> PlanAllowance | None:
    return ALLOWANCES.get(code.strip().upper())
