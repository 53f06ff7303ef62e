"""RefundPayment: the PRO saga's compensation of the payment, through the processor."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.subscriptions import wiring as subscriptions_wiring
from functions.subscriptions.adapters.stripe_payments import StripePaymentGateway
from functions.subscriptions.messages import (
    NAMES,
    CancelSubscription,
    PaySubscription,
    RefundPayment,
)
from functions.subscriptions.ports import Refund
from shared.domain.errors import TransientError
from shared.ports.envelope import Envelope
from shared.service.processing import MessageProcessor, Processed
from tests.unit.subscriptions.factories import create_command


@pytest.fixture
def processor(platform: InMemoryPlatform) -> MessageProcessor[Any, Any]:
    return bootstrap.context(subscriptions_wiring.build).processor


def send(processor: MessageProcessor[Any, Any], payload: Any) -> Processed:
    return processor.process(Envelope(payload=payload, source=NAMES.source))


def paid(processor: MessageProcessor[Any, Any], token: str = "tok_visa") -> str:
    sid = create_command().subscription_id
    send(processor, create_command(subscription_id=sid))
    send(processor, PaySubscription(subscription_id=sid, payment_id="p1", card_token=token))
    return sid


def refund(sid: str, refund_id: str = "r1") -> RefundPayment:
    return RefundPayment(
        subscription_id=sid, payment_id="p1", refund_id=refund_id, reason="saga_failed"
    )


def test_a_refund_marks_the_invoice_and_announces_it(
    platform: InMemoryPlatform,
    processor: MessageProcessor[Any, Any],
) -> None:
    sid = paid(processor)
    result = send(processor, refund(sid))
    assert result.event_types == ["co.saludtech.subscriptions.subscription.payment_refunded.v1"]
    event = result.outbox[0].envelope.payload
    assert (event.amount_cents, event.reason) == (49_900, "saga_failed")  # type: ignore[attr-defined]
    [invoice] = platform.store.get("subscriptions", sid)["invoices"]  # type: ignore[index]
    assert (invoice["status"], invoice["refund_id"]) == ("REFUNDED", "r1")


def test_a_second_refund_is_refused_as_already_refunded_and_refunds_once(
    processor: MessageProcessor[Any, Any],
) -> None:
    sid = paid(processor)
    send(processor, refund(sid))
    again = send(processor, refund(sid, refund_id="r2"))
    assert (again.outcome, again.reason) == ("rejected", "payment_already_refunded")
    payments = bootstrap.context(subscriptions_wiring.build).processor.deps.payments
    assert payments.gateway.refunds_made == 1  # type: ignore[attr-defined]


def test_a_cancelled_subscription_can_still_be_refunded(
    processor: MessageProcessor[Any, Any],
) -> None:
    sid = paid(processor)
    send(processor, CancelSubscription(subscription_id=sid, reason="budget"))
    assert send(processor, refund(sid)).outcome == "applied"


@pytest.mark.parametrize(
    ("payment_id", "reason"), [("nope", "payment_not_found"), ("p0", "payment_not_paid")]
)
def test_only_a_paid_payment_is_refunded(
    processor: MessageProcessor[Any, Any], payment_id: str, reason: str
) -> None:
    sid = create_command().subscription_id
    send(processor, create_command(subscription_id=sid))
    send(
        processor, PaySubscription(subscription_id=sid, payment_id="p0", card_token="tok_declined")
    )
    command = RefundPayment(subscription_id=sid, payment_id=payment_id, refund_id="r1")
    assert send(processor, command).reason == reason


def test_the_gateway_refusing_a_refund_is_a_rejection(
    processor: MessageProcessor[Any, Any],
) -> None:
    sid = paid(processor, token="tok_refund_refused")
    assert send(processor, refund(sid)).reason == "refund_refused"


class _Answer:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code = status
        self.headers = {"Content-Type": "application/json"}
        self._body = body

    def json(self) -> dict[str, Any]:
        return self._body


def _stripe(monkeypatch: pytest.MonkeyPatch, answer: _Answer | Exception) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def post(url: str, **kwargs: Any) -> _Answer:
        calls.append({"url": url, **kwargs})
        if isinstance(answer, Exception):
            raise answer
        return answer

    gateway = StripePaymentGateway(api_key="sk_test")
    monkeypatch.setattr(gateway._session, "post", post)
    calls.append({"gateway": gateway})
    return calls


REFUND = Refund("r1", "sub-1", "pi_1", 49_900, "USD")


@pytest.mark.parametrize(
    ("answer", "approved", "reason"),
    [
        (_Answer(200, {"id": "re_1", "status": "succeeded"}), True, ""),
        (_Answer(400, {"error": {"code": "charge_already_refunded"}}), True, ""),
        (_Answer(402, {"error": {"code": "insufficient_funds"}}), False, "insufficient_funds"),
        (_Answer(200, {"id": "re_1", "status": "failed", "failure_reason": "lost"}), False, "lost"),
    ],
)
def test_stripe_refunds(
    monkeypatch: pytest.MonkeyPatch, answer: _Answer, approved: bool, reason: str
) -> None:
    calls = _stripe(monkeypatch, answer)
    gateway: StripePaymentGateway = calls.pop()["gateway"]
    result = gateway.refund(REFUND)
    assert (result.approved, result.refusal_reason) == (approved, reason)
    [call] = calls
    assert call["url"].endswith("/v1/refunds")
    assert call["headers"] == {"Idempotency-Key": "r1"}
    assert call["data"]["payment_intent"] == "pi_1"


@pytest.mark.parametrize(
    "answer", [_Answer(503, {}), _Answer(429, {}), requests.ConnectionError("down")]
)
def test_stripe_unavailable_is_transient(monkeypatch: pytest.MonkeyPatch, answer: Any) -> None:
    gateway: StripePaymentGateway = _stripe(monkeypatch, answer).pop()["gateway"]
    with pytest.raises(TransientError):
        gateway.refund(REFUND)
