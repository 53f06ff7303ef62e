"""A buyer's journey through the public door, timed from the payment to the first delivered
file in hand, beside a plain command round trip through the same door in the same run.

Everything goes through /v1 as a buyer does it: log in, subscribe to PRO, say what data it
wants (the data request), pay with `tok_visa`, then poll /v1/data-services until its data
service is DELIVERED, page its files (/v1/data-services/{id}/files signs each link at the
request) and GET the first link. The clock starts when the payment's POST is sent and stops
when the first file's bytes are read and their SHA-256 checked against the listing.

The baseline is a BASIC subscription POSTed to /v1/subscriptions and polled at
/v1/commands/{id} until applied: the same door, the same polling, one context instead of
five. Journeys and round trips alternate, so the machine's noise hits both alike; the answer
is the ratio of their medians.

    .venv/bin/python -m benchmarks.buyer_journey [--journeys 5]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from benchmarks.saga import _bench_experts, _images_in_catalogue
from benchmarks.support import bench_stack
from functions.bootstrap import cloud_platform
from functions.identity import wiring as identity_wiring
from functions.identity.domain import NewAccount
from functions.identity.messages import Role
from infra.samples.clients import SAMPLE_CLIENT
from shared.config import Settings
from shared.service.context import database_of

PASSWORD = "correct horse battery staple"  # a throwaway account of the run
POLL_SECONDS = 0.1
TIMEOUT_SECONDS = 300
T = TypeVar("T")


def _until(probe: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while (found := probe()) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)
    return found


class Buyer:
    """One client account of the run, logged in through /v1."""

    def __init__(self, base: str) -> None:
        self.base = f"{base}/api_http"
        self.code = f"b{uuid.uuid4().hex[:8]}"
        settings = Settings(api_password_time_cost=1, api_password_memory_kib=64)
        accounts = identity_wiring.build(cloud_platform(settings, database_of("identity")))
        username = f"buyer-{self.code}"
        accounts.accounts.register(
            NewAccount(username, PASSWORD, Role.CLIENT, self.code, f"{username}@example.com", "1")
        )
        self.http = requests.Session()
        answer = self.http.post(
            f"{self.base}/v1/auth/login",
            json={"username": username, "password": PASSWORD},
            headers={"X-Forwarded-For": f"10.9.{uuid.uuid4().int % 250}.1"},
            timeout=30,
        )
        answer.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.post(f"{self.base}{path}", json=body, timeout=60)
        if answer.status_code != 202:
            raise SystemExit(f"POST {path}: {answer.status_code} {answer.text[:300]}")
        found: dict[str, Any] = answer.json()
        return found

    def get(self, path: str, **params: str) -> Any:
        answer = self.http.get(f"{self.base}{path}", params=params, timeout=60)
        return answer.json() if answer.status_code == 200 else None

    def applied(self, accepted: dict[str, Any]) -> None:
        def status() -> str | None:
            found = self.get(accepted["links"]["command"].removeprefix("/api_http"))
            state = (found or {}).get("status")
            return None if state in (None, "pending") else str(state)

        outcome = _until(status, "a command's outcome")
        if outcome != "applied":
            raise SystemExit(f"a command ended {outcome}")

    def subscribe(self, plan: str) -> dict[str, Any]:
        client = {**SAMPLE_CLIENT, "code": self.code, "email": f"{self.code}@example.com"}
        return self.post("/v1/subscriptions", {"client": client, "plan": plan})


def round_trip(base: str) -> float:
    """Seconds from a BASIC subscription's POST to its command read back applied."""
    buyer = Buyer(base)
    started = time.perf_counter()
    buyer.applied(buyer.subscribe("BASIC"))
    return time.perf_counter() - started


def journey(base: str) -> dict[str, float]:
    """Seconds from the payment's POST to the service delivered and to the first file."""
    buyer = Buyer(base)
    accepted = buyer.subscribe("PRO")
    buyer.applied(accepted)
    subscription_id = accepted["subscription_id"]
    request = {
        "dataset": {"code": "bench", "criteria": {"max_images": 100}},
        "cloud": {"code": "links", "type": "links"},
    }
    buyer.applied(buyer.post(f"/v1/subscriptions/{subscription_id}/data-request", request))
    started = time.perf_counter()
    buyer.post(f"/v1/subscriptions/{subscription_id}/payments", {"card_token": "tok_visa"})

    def delivered() -> str | None:
        page = buyer.get("/v1/data-services") or {"items": []}
        for service in page["items"]:
            if service["subscription_id"] != subscription_id:
                continue
            if service["status"] in ("CANCELLED", "FAILED"):
                raise SystemExit(f"the data service ended {service['status']}")
            if service["status"] == "DELIVERED":
                return str(service["data_service_id"])
        return None

    service_id = _until(delivered, "the data service to be delivered")
    at_delivery = time.perf_counter()
    # The first page starts with manifest.jsonl and SHA256SUMS: the first image after them.
    files = buyer.get(f"/v1/data-services/{service_id}/files", limit="5") or {"items": []}
    images = [f for f in files["items"] if f.get("sha256")]
    if not images:
        raise SystemExit("a delivered service listed no image")
    first = images[0]
    data = requests.get(first["url"], timeout=60).content
    if hashlib.sha256(data).hexdigest() != first["sha256"]:
        raise SystemExit("the first file's SHA-256 is not the listing's")
    done = time.perf_counter()
    return {"delivered_s": at_delivery - started, "first_file_s": done - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=5)
    args = parser.parse_args()
    with bench_stack() as stack:
        _bench_experts(stack.functions_url)
        _images_in_catalogue(stack, patients=12)  # at least the minimum cell size
        round_trip(stack.functions_url)  # warm every function of the path once
        journeys, trips = [], []
        for _ in range(args.journeys):
            journeys.append(journey(stack.functions_url))
            trips.append(round_trip(stack.functions_url))
    first = statistics.median(j["first_file_s"] for j in journeys)
    delivered = statistics.median(j["delivered_s"] for j in journeys)
    trip = statistics.median(trips)
    print(f"journeys: {args.journeys}, one at a time, on the local stack")
    print(f"command round trip (POST → applied), median: {trip * 1000:8.0f} ms   1.00x")
    print(f"payment → DELIVERED, median:                 {delivered * 1000:8.0f} ms  "
          f"{delivered / trip:5.1f}x")  # fmt: skip
    print(f"payment → first file in hand, median:        {first * 1000:8.0f} ms  "
          f"{first / trip:5.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
