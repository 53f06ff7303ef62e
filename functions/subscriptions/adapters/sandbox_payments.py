"""The local payment gateway: approves or declines deterministically by card token.

Test tokens, as payment providers' sandboxes have them, so tests and the demo show both
outcomes. A real gateway adapter implements the same PaymentGateway port.
"""

from __future__ import annotations

import threading

from functions.subscriptions.domain import PaymentResult, RefundResult
from functions.subscriptions.ports import Charge, Refund
from shared.domain.errors import TransientError
from shared.ports.envelope import derived_id

APPROVED = frozenset({"tok_visa", "tok_mastercard", "tok_approved"})
DECLINED = {
    "tok_declined": "card_declined",
    "tok_insufficient_funds": "insufficient_funds",
    "tok_expired": "expired_card",
}
UNAVAILABLE = "tok_gateway_unavailable"  # the gateway times out: a transient error
# Charged fine, but the gateway refuses to refund it (a compensation that keeps failing).
REFUND_REFUSED = "tok_refund_refused"


class SandboxPaymentGateway:
    def __init__(self) -> None:
        self._answers: dict[str, PaymentResult] = {}
        self._refunds: dict[str, RefundResult] = {}
        self._cards: dict[str, str] = {}  # transaction id -> token it was charged to
        self._lock = threading.Lock()
        self.charges_made = 0
        self.refunds_made = 0

    def charge(self, charge: Charge) -> PaymentResult:
        if charge.card_token == UNAVAILABLE:
            raise TransientError("payment gateway unavailable")
        with self._lock:
            known = self._answers.get(charge.idempotency_key)
            if known is not None:
                return known
            if charge.card_token in APPROVED or charge.card_token == REFUND_REFUSED:
                transaction_id = derived_id("txn", charge.idempotency_key)
                self._cards[transaction_id] = charge.card_token
                result = PaymentResult(True, transaction_id=transaction_id)
                self.charges_made += 1
            else:
                result = PaymentResult(
                    False, decline_reason=DECLINED.get(charge.card_token, "invalid_card_token")
                )
            self._answers[charge.idempotency_key] = result
            return result

    def refund(self, refund: Refund) -> RefundResult:
        with self._lock:
            known = self._refunds.get(refund.idempotency_key)
            if known is not None:
                return known
            if self._cards.get(refund.transaction_id) == REFUND_REFUSED:
                result = RefundResult(False, refusal_reason="refund_refused")
            else:
                result = RefundResult(True, transaction_id=derived_id("re", refund.idempotency_key))
                self.refunds_made += 1
            self._refunds[refund.idempotency_key] = result
            return result
