"""Per user and per route, in fixed windows: a burst of 1,000 gets exactly the limit through,
the rest 429 with Retry-After; another route and another user have their own budget."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.api.adapters.memory_counters import InMemoryWindowCounters
from functions.api.rate_limits import RateLimiter
from tests.unit.api.conftest import make_api


def test_a_burst_of_a_thousand_gets_the_limit_through_and_429_after() -> None:
    api = next(make_api(api_queries_per_minute=50))
    token = api.login("client-a")
    answers = [api.call("GET", "/v1/subscriptions", token=token) for _ in range(1000)]
    statuses = [a.status for a in answers]
    assert statuses[:50] == [200] * 50
    assert set(statuses[50:]) == {429}
    refused = answers[-1]
    assert refused.body["error"]["reason"] == "rate_limited"
    # The clock stands at hh:mm:30: half the window is left.
    assert refused.headers["Retry-After"] == "30"
    # Another route, another user: their own budgets.
    assert api.call("GET", "/v1/me", token=token).status == 200
    assert api.call("GET", "/v1/subscriptions", token=api.login("client-b")).status == 200
    api.clock.advance(30)
    assert api.call("GET", "/v1/subscriptions", token=token).status == 200


def test_commands_have_their_own_smaller_budget() -> None:
    limited = next(make_api(api_commands_per_minute=2))
    token = limited.login("client-a")
    statuses = [
        limited.call("POST", "/v1/subscriptions/s-1/cancel", {}, token=token).status
        for _ in range(3)
    ]
    assert statuses == [404, 404, 429]


def test_the_counter_is_shared_by_every_limiter_on_the_same_store() -> None:
    # Two instances of the function share the counters (Firestore in the cloud).
    counters = InMemoryWindowCounters()
    moment = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    one, two = RateLimiter(counters, lambda: moment), RateLimiter(counters, lambda: moment)
    decisions = [limiter.hit("u", "r", 3, 60) for limiter in (one, two, one, two)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after_seconds == 50
