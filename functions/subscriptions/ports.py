"""Ports of the subscriptions context beyond the shared ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from functions.subscriptions.domain import PaymentResult


@dataclass(frozen=True)
class Charge:
    idempotency_key: str  # the same key answers the same result and never charges twice
    reference: str  # the subscription id
    amount_cents: int
    currency: str
    card_token: str


class PaymentGateway(Protocol):
    def charge(self, charge: Charge) -> PaymentResult:
        """Approve or decline; raise TransientError when the gateway cannot answer."""
