"""The cloud mode's parts without a stack: the router's checks, push bodies, fake Stripe."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from werkzeug.serving import make_server

from functions.subscriptions.adapters.stripe_payments import StripePaymentGateway
from functions.subscriptions.ports import Charge, Refund
from infra.local.eventarc_envelope import PulledMessage, pubsub_push, storage_notification_push
from infra.local.fake_stripe import FakeStripe
from infra.local.router import Route, Router
from shared.adapters.local_id_tokens import PLATFORM_SUBJECT, InvalidIdToken, sign, verify

KEY = b"k" * 32
URL = "http://127.0.0.1:8090"
ROUTES = [
    Route("api", "api_http", 1, public=True, service_account="fn-api",
          invokes=frozenset({"identity-queries-http"})),
    Route("identity-queries-http", "identity_queries_http", 2, public=False,
          service_account="fn-identity-queries-http", invokes=frozenset()),
    Route("sagas-tick", "sagas_tick", 3, public=False, service_account="fn-sagas-tick",
          invokes=frozenset()),
]  # fmt: skip


def bearer(subject: str, target: str, key: bytes = KEY) -> str:
    return f"Bearer {sign(key, subject, f'{URL}/{target}')}"


def test_the_router_lets_through_only_what_cloud_run_would() -> None:
    router = Router(ROUTES, KEY, URL)
    api, identity, tick = ROUTES
    assert router.refusal(api, "") is None  # public
    assert router.refusal(identity, "") == "no ID token"
    assert router.refusal(identity, bearer("fn-api", "identity_queries_http")) is None
    refused = router.refusal(identity, bearer("fn-sagas-tick", "identity_queries_http"))
    assert refused is not None and "invoker" in refused
    assert "audience" in str(router.refusal(identity, bearer("fn-api", "sagas_tick")))
    assert "signature" in str(
        router.refusal(identity, bearer("fn-api", "identity_queries_http", b"x" * 32))
    )
    assert router.refusal(tick, bearer(PLATFORM_SUBJECT, "sagas_tick")) is None


def test_a_token_expires_and_names_its_audience() -> None:
    token = sign(KEY, "fn-api", f"{URL}/x", now=1000)
    assert verify(KEY, token, f"{URL}/x", now=1500) == "fn-api"
    with pytest.raises(InvalidIdToken, match="expired"):
        verify(KEY, token, f"{URL}/x", now=1000 + 3601)


MESSAGE = PulledMessage(
    "7", b'{"a":1}', {"eventType": "OBJECT_FINALIZE", "bucketId": "p-ingest", "objectId": "o"},
    datetime(2026, 1, 1, tzinfo=UTC),
)  # fmt: skip


def test_the_bridge_pushes_what_pubsub_pushes() -> None:
    body = json.loads(pubsub_push(MESSAGE, "p", "trigger-f").body)
    assert body["subscription"] == "projects/p/subscriptions/trigger-f"
    assert base64.b64decode(body["message"]["data"]) == b'{"a":1}'
    # The bucket's notification is configured without payload (payload_format = "NONE").
    pushed = storage_notification_push(MESSAGE, "p", "trigger-g", "p-ingest")
    assert pushed is not None and "ce-type" not in pushed.headers
    notification = json.loads(pushed.body)["message"]
    assert "data" not in notification
    assert notification["attributes"]["payloadFormat"] == "NONE"
    assert storage_notification_push(MESSAGE, "p", "trigger-g", "p-other") is None


@pytest.fixture
def stripe_url() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, FakeStripe("sk_test_1"), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_real_stripe_adapter_against_the_fake(stripe_url: str) -> None:
    gateway = StripePaymentGateway("sk_test_1", stripe_url)
    paid = gateway.charge(Charge("k1", "s1", 1000, "CLP", "tok_visa"))
    assert paid.approved and paid.transaction_id.startswith("pi_")
    assert gateway.charge(Charge("k1", "s1", 1000, "CLP", "tok_visa")) == paid  # idempotent
    declined = gateway.charge(Charge("k2", "s1", 1000, "CLP", "tok_insufficient_funds"))
    assert not declined.approved and declined.decline_reason == "insufficient_funds"
    refunded = gateway.refund(Refund("r1", "s1", paid.transaction_id, 1000, "CLP"))
    assert refunded.approved and refunded.transaction_id.startswith("re_")
    with pytest.raises(Exception, match="401"):
        StripePaymentGateway("sk_test_wrong", stripe_url).charge(
            Charge("k3", "s1", 1, "CLP", "tok_visa")
        )
