"""Ports of the subscriptions context beyond the shared ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from functions.subscriptions.domain import PaymentResult, RefundResult


@dataclass(frozen=True)
class Charge:
    idempotency_key: str  # the same key answers the same result and never charges twice
    reference: str  # the subscription id
    amount_cents: int
    currency: str
    card_token: str


@dataclass(frozen=True)
class Refund:
    idempotency_key: str  # the same key answers the same result and never refunds twice
    reference: str  # the subscription id
    transaction_id: str  # the gateway's id of the charge refunded
    amount_cents: int
    currency: str


class PaymentGateway(Protocol):
    def charge(self, charge: Charge) -> PaymentResult:
        """Approve or decline; raise TransientError when the gateway cannot answer."""

    def refund(self, refund: Refund) -> RefundResult:
        """Refund `amount_cents` of a charge (all of it, or the part a downgrade gives back),
        or refuse; raise TransientError when the gateway cannot answer."""
