"""A stand-in for the two Stripe endpoints the real adapter calls, on loopback.

The cloud mode (`up --cloud-mode`) runs the Stripe adapter
(functions/subscriptions/adapters/stripe_payments.py) as the cloud does, against this server
instead of api.stripe.com (SALUDTECH_PAYMENT_API_URL). It answers by card token as the
sandbox does (functions/subscriptions/adapters/sandbox_payments.py), checks the secret key,
and replays an answer for an Idempotency-Key it has seen, as Stripe does.

Run: python -m infra.local.fake_stripe --port 12111 (SALUDTECH_PAYMENT_API_KEY from the env)
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import sys
import threading
import uuid
from typing import Any

from werkzeug.wrappers import Request, Response

from functions.subscriptions.adapters.sandbox_payments import (
    APPROVED,
    DECLINED,
    REFUND_REFUSED,
    UNAVAILABLE,
)
from infra.local.wsgi_server import serve

log = logging.getLogger("fake_stripe")


class FakeStripe:
    def __init__(self, api_key: str) -> None:
        self._api_key = api_key
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self._tokens: dict[str, str] = {}  # payment intent -> card token

    def _authorized(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user = base64.b64decode(encoded).decode().partition(":")[0]
        except ValueError:
            return False
        return bool(self._api_key) and user == self._api_key

    def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        if not self._authorized(request):
            return 401, {"error": {"type": "invalid_request_error", "code": "api_key_invalid"}}
        key = request.headers.get("Idempotency-Key", "")
        with self._lock:
            if key and (request.path, key) in self._answers:
                return self._answers[(request.path, key)]
            if request.path == "/v1/payment_intents":
                status, body = self._charge(request.form.get("payment_method", ""))
            elif request.path == "/v1/refunds":
                status, body = self._refund(request.form.get("payment_intent", ""))
            else:
                return 404, {"error": {"type": "invalid_request_error", "code": "not_found"}}
            if key and status < 500:
                self._answers[(request.path, key)] = (status, body)
            return status, body

    def _charge(self, token: str) -> tuple[int, dict[str, Any]]:
        if token == UNAVAILABLE:
            return 503, {"error": {"type": "api_error"}}
        if token in APPROVED or token == REFUND_REFUSED:
            intent = f"pi_{uuid.uuid4().hex[:24]}"
            self._tokens[intent] = token
            return 200, {"id": intent, "object": "payment_intent", "status": "succeeded"}
        code = DECLINED.get(token, "card_declined")
        return 402, {"error": {"type": "card_error", "code": "card_declined", "decline_code": code}}

    def _refund(self, intent: str) -> tuple[int, dict[str, Any]]:
        if intent not in self._tokens:
            return 400, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
        if self._tokens[intent] == REFUND_REFUSED:
            return 402, {"error": {"type": "invalid_request_error", "code": "refund_refused"}}
        return 200, {"id": f"re_{uuid.uuid4().hex[:24]}", "object": "refund", "status": "succeeded"}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        status, body = self.answer(request)
        log.info("%s %s -> %s", request.method, request.path, status)
        response = Response(json.dumps(body), status=status, content_type="application/json")
        return response(environ, start_response)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s"
    )
    app = FakeStripe(os.environ.get("SALUDTECH_PAYMENT_API_KEY", ""))
    serve("127.0.0.1", args.port, app)


if __name__ == "__main__":
    main()
