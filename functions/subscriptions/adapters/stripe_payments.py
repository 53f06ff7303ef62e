"""The PaymentGateway on Stripe's PaymentIntents API (test mode keys work the same way).

One confirmed PaymentIntent per charge (one Refund of it per refund); the charge's (and the
refund's) idempotency key is Stripe's `Idempotency-Key`, so a retried transaction gets
Stripe's first answer instead of a second charge. A card error is a decline with Stripe's
code; throttling, a 5xx or no answer is a TransientError (the command is retried); a refused
request of ours (bad key, bad parameters) is also retried and ends dead-lettered, where an
operator sees it.
"""

from __future__ import annotations

from typing import Any

import requests

from functions.subscriptions.domain import PaymentResult, RefundResult
from functions.subscriptions.ports import Charge, Refund
from shared.domain.errors import TransientError

TIMEOUT_SECONDS = 20


class StripePaymentGateway:
    def __init__(self, api_key: str, base_url: str = "https://api.stripe.com") -> None:
        if not api_key:
            raise ValueError("SALUDTECH_PAYMENT_API_KEY is required for the stripe gateway")
        self._session = requests.Session()
        self._session.auth = (api_key, "")
        self._url = base_url.rstrip("/") + "/v1/payment_intents"
        self._refunds_url = base_url.rstrip("/") + "/v1/refunds"

    def charge(self, charge: Charge) -> PaymentResult:
        try:
            answer = self._session.post(
                self._url,
                data={
                    "amount": charge.amount_cents,
                    "currency": charge.currency.lower(),
                    "payment_method": charge.card_token,
                    "confirm": "true",
                    "metadata[subscription_id]": charge.reference,
                    "automatic_payment_methods[enabled]": "true",
                    "automatic_payment_methods[allow_redirects]": "never",
                },
                headers={"Idempotency-Key": charge.idempotency_key},
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as error:
            raise TransientError(f"payment gateway: {type(error).__name__}") from error
        body: dict[str, Any] = answer.json() if _is_json(answer) else {}
        if answer.status_code == 200 and body.get("status") == "succeeded":
            return PaymentResult(True, transaction_id=str(body.get("id", "")))
        problem = body.get("error") or {}
        if answer.status_code == 402 or problem.get("type") == "card_error":
            code = problem.get("decline_code") or problem.get("code") or "card_declined"
            return PaymentResult(False, decline_reason=str(code))
        if answer.status_code == 200:
            # requires_action and the like: a card that needs the client present
            return PaymentResult(False, decline_reason="authentication_required")
        raise TransientError(f"payment gateway answered {answer.status_code}")

    def refund(self, refund: Refund) -> RefundResult:
        try:
            answer = self._session.post(
                self._refunds_url,
                data={
                    "payment_intent": refund.transaction_id,
                    "amount": refund.amount_cents,
                    "metadata[subscription_id]": refund.reference,
                },
                headers={"Idempotency-Key": refund.idempotency_key},
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as error:
            raise TransientError(f"payment gateway: {type(error).__name__}") from error
        body: dict[str, Any] = answer.json() if _is_json(answer) else {}
        if answer.status_code == 200 and body.get("status") in ("succeeded", "pending"):
            return RefundResult(True, transaction_id=str(body.get("id", "")))
        problem = body.get("error") or {}
        if problem.get("code") == "charge_already_refunded":
            # Refunded by an earlier request (ours, under another key, or the dashboard).
            return RefundResult(True)
        if answer.status_code in {200, 402}:
            reason = problem.get("code") or body.get("failure_reason") or "refund_failed"
            return RefundResult(False, refusal_reason=str(reason))
        raise TransientError(f"payment gateway answered {answer.status_code}")


def _is_json(answer: requests.Response) -> bool:
    return answer.headers.get("Content-Type", "").startswith("application/json")
