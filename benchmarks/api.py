"""The public API's overhead: the same request through /v1 and on the context's own door,
in the same run on the local stack, and where the difference goes. The api reaches every
context through its HTTP doors (functions/api/context_doors.py), so a /v1 request is the
api's own steps plus one hop to the door: the door alone is the baseline, and each /v1 row
is shown as a ratio to it.

- query: `GET /v1/subscriptions/{id}` (bearer token checked at identity's door, rate limit,
  audit entry, then `GET /subscriptions_queries_http/subscriptions/{id}?client_code=...`)
  beside that same door request made directly.
- command: `POST /v1/subscriptions` (the same, then `POST /subscriptions_commands_http/
  subscriptions`, then the command's owner record) beside that door request made directly,
  with the same body (BASIC: no saga), both answered 202.
- login: `POST /v1/auth/login` (identity's door), beside one argon2id verification in this
  process (what a login must cost whatever the code does).

Each pair is timed one request at a time, the two doors alternating (latency, p50/p95),
then as a burst of `--burst` requests from `--workers` threads, one door after the other
with the stack settled in between (requests per second). The limits are raised so nothing
is refused, but every request is still counted. Then the API's own steps are timed in this
process against the same stack: the token check as the api makes it (one call to
identity's query door) and what that door does (JWT check, revocation check: one read of
the account), rate limit (one Increment and one batched read of 8 shards), audit entry (one
transaction), command owner record (one transaction).

    .venv/bin/python -m benchmarks.api [--count 100] [--burst 200] [--workers 8] [--logins 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from benchmarks.support import bench_stack, cpu_seconds, percentile
from infra.samples.clients import SAMPLE_CLIENT

PASSWORD = "a long benchmark passphrase"
# Limits far above the load, so nothing is refused while every request is still counted.
TOKEN_CHECK = "token check (the api's call of identity's door)"
DOOR = "on the context's door"  # the baseline: the request the api makes, made directly
LIMITS = {
    "SALUDTECH_API_QUERIES_PER_MINUTE": "1000000",
    "SALUDTECH_API_COMMANDS_PER_MINUTE": "1000000",
    "SALUDTECH_IDENTITY_LOGIN_FAILURES_PER_ADDRESS": "1000000",
    "SALUDTECH_IDENTITY_LOGIN_FAILURES_PER_ACCOUNT": "1000000",
    "SALUDTECH_API_LOGIN_ATTEMPTS_PER_ADDRESS": "1000000",
}
Send = Callable[[requests.Session], requests.Response]


def stats(latencies_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(latencies_ms, 0.50),
        "p95_ms": percentile(latencies_ms, 0.95),
        "mean_ms": statistics.fmean(latencies_ms),
    }


def one_at_a_time(sends: dict[str, Send], count: int) -> dict[str, dict[str, float]]:
    """Each door `count` times, alternating, one request at a time."""
    http = requests.Session()
    latencies: dict[str, list[float]] = {label: [] for label in sends}
    for _ in range(count):
        for label, send in sends.items():
            started = time.perf_counter()
            response = send(http)
            latencies[label].append((time.perf_counter() - started) * 1000)
            if response.status_code >= 300:
                raise SystemExit(f"{label}: {response.status_code} {response.text[:200]}")
    return {label: stats(values) for label, values in latencies.items()}


def burst(send: Send, count: int, workers: int) -> float:
    """Requests per second of `count` requests from `workers` threads."""
    local = threading.local()

    def one(_: int) -> int:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        return int(send(local.http).status_code)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        codes = list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - started
    refused = [code for code in codes if code >= 300]
    if refused:
        raise SystemExit(f"{len(refused)} of {count} refused, e.g. {refused[0]}")
    return count / elapsed


def settle(stack: Any, idle_share: float = 0.15, quiet_seconds: float = 1.5) -> float:
    """Wait (at most 30 s) until the stack's processes use less than `idle_share` of one
    core for `quiet_seconds`: what the last burst caused downstream (events, emails) is
    done, so the next measurement does not pay for it. The seconds waited."""
    started = time.monotonic()
    quiet_since, last = time.monotonic(), cpu_seconds(stack)
    while time.monotonic() - started < 30:
        time.sleep(0.5)
        now = cpu_seconds(stack)
        busy = sum(now[p] - last[p] for p in now if p != "benchmark client") / 0.5
        last = now
        if busy > idle_share:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            break
    return time.monotonic() - started


def in_process_steps(count: int, user_id: str, token: str) -> dict[str, dict[str, float]]:
    """The API's own steps, one at a time, against the stack's Firestore emulator."""
    from functions import bootstrap
    from functions.api import wiring
    from functions.api.commands import Accepted
    from functions.api.principals import Principal
    from functions.identity import wiring as identity_wiring
    from functions.identity.messages import Role

    w = bootstrap.context(wiring.build)
    identity = bootstrap.context(identity_wiring.build)  # its steps, inside its door
    tokens, clock = identity.identity.tokens, w.platform.clock
    verified = tokens.verify(token, clock())  # the account and token version only
    account = identity.accounts.account(verified.user_id)
    assert account is not None
    who = Principal(account.user_id, Role(account.role.value), account.scope)
    steps: dict[str, Callable[[int], Any]] = {
        TOKEN_CHECK: lambda _: w.identity.principal(token),
        "  inside it: JWT check (signature, claims)": lambda _: tokens.verify(token, clock()),
        "  inside it: revocation check (read the account)": lambda _: identity.accounts.account(
            verified.user_id
        ),
        "rate limit (Increment + read 8 shards)": lambda _: w.limiter.hit(
            f"user:{user_id}", "bench", 1_000_000, 60
        ),
        "audit entry (one transaction)": lambda _: w.audit.record(who, "read", "bench", 200),
        "command owner record (one transaction)": lambda i: w.commands._record(
            Principal(user_id, Role.CLIENT, "bench"),
            Accepted(f"bench-{uuid.uuid4().hex}", "bench", {}),
            "bench",
        ),
    }
    results: dict[str, dict[str, float]] = {}
    for label, step in steps.items():
        step(0)  # warm
        latencies = []
        for index in range(count):
            started = time.perf_counter()
            step(index)
            latencies.append((time.perf_counter() - started) * 1000)
        results[label] = stats(latencies)
    return results


def argon2_verify(count: int) -> dict[str, float]:
    from functions import bootstrap
    from functions.identity import wiring

    passwords = bootstrap.context(wiring.build).accounts.passwords
    stored = passwords.hash(PASSWORD)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        assert passwords.verify(stored, PASSWORD)
        latencies.append((time.perf_counter() - started) * 1000)
    return stats(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--logins", type=int, default=20)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    code = f"b{run}"
    client = {**SAMPLE_CLIENT, "code": code, "email": f"{code}@example.com"}
    with bench_stack(extra_env=LIMITS) as stack:
        os.environ.update(LIMITS)
        from functions import bootstrap
        from functions.identity import wiring
        from functions.identity.domain import NewAccount
        from functions.identity.messages import Role

        bootstrap.use(None)  # the platform of this stack's environment
        accounts = bootstrap.context(wiring.build).accounts
        new = NewAccount(code, PASSWORD, Role.CLIENT, code, client["email"])
        user_id = accounts.register(new)
        base = stack.functions_url
        api = f"{base}/api_http/v1"
        http = requests.Session()

        def login(session: requests.Session) -> requests.Response:
            return session.post(
                f"{api}/auth/login", json={"username": code, "password": PASSWORD}, timeout=60
            )

        token = login(http).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        body = {"client": client, "plan": "BASIC"}
        created = http.post(f"{api}/subscriptions", json=body, headers=bearer, timeout=60)
        created.raise_for_status()
        subscription_id = created.json()["subscription_id"]
        # The door request the api makes for this query: the caller's scope is its filter.
        direct_query_url = (
            f"{base}/subscriptions_queries_http/subscriptions/{subscription_id}?client_code={code}"
        )
        deadline = time.monotonic() + 60
        while http.get(direct_query_url, timeout=30).status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit("the subscription was not stored within 60 s")
            time.sleep(0.2)

        pairs: dict[str, dict[str, Send]] = {
            "query": {
                "through /v1": lambda s: s.get(
                    f"{api}/subscriptions/{subscription_id}", headers=bearer, timeout=60
                ),
                DOOR: lambda s: s.get(direct_query_url, timeout=60),
            },
            "command": {
                "through /v1": lambda s: s.post(
                    f"{api}/subscriptions", json=body, headers=bearer, timeout=60
                ),
                DOOR: lambda s: s.post(
                    f"{base}/subscriptions_commands_http/subscriptions", json=body, timeout=60
                ),
            },
        }
        for sends in pairs.values():  # warm both doors and their clients
            one_at_a_time(sends, 5)
        settle(stack)
        latency: dict[str, dict[str, dict[str, float]]] = {}
        rate: dict[str, dict[str, float]] = {}
        for kind, sends in pairs.items():
            latency[kind] = one_at_a_time(sends, args.count)
            settle(stack)
            rate[kind] = {}
            for label, send in sends.items():
                rate[kind][label] = burst(send, args.burst, args.workers)
                settle(stack)
        login_latency = one_at_a_time({"through /v1": login}, args.logins)["through /v1"]
        login_rate = burst(login, args.logins, 2)
        argon2 = argon2_verify(args.logins)
        steps = in_process_steps(args.count, user_id, token)

    print(f"\n{'':44}{'p50 ms':>9}{'p95 ms':>9}{'req/s':>9}{'÷ door':>10}")
    for kind in pairs:
        direct = latency[kind][DOOR]
        for label in (DOOR, "through /v1"):
            row = latency[kind][label]
            ratio = row["p50_ms"] / direct["p50_ms"]
            name = f"{kind}, {label}"
            print(
                f"{name:<44}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}"
                f"{rate[kind][label]:>9.1f}{ratio:>10.2f}"
            )
        overhead = latency[kind]["through /v1"]["p50_ms"] - direct["p50_ms"]
        slower = rate[kind][DOOR] / rate[kind]["through /v1"]
        print(f"  → the API adds {overhead:.1f} ms at p50; burst rate ÷ {slower:.2f}")
        own = [
            TOKEN_CHECK,
            "rate limit (Increment + read 8 shards)",
            "audit entry (one transaction)",
        ]
        if kind == "command":
            own.append("command owner record (one transaction)")
        mine = sum(steps[label]["p50_ms"] for label in own)
        print(
            f"    of which the api's own steps {mine:.1f} ms (the token check at identity's door"
            f" {steps[TOKEN_CHECK]['p50_ms']:.1f} ms); the rest, {overhead - mine:.1f} ms, is"
            " what the hop costs beyond the door itself (a second HTTP exchange) and the"
            " api's framing (locally one functions-host process serves all three)"
        )
    print(
        f"{'login, through /v1':<44}{login_latency['p50_ms']:>9.1f}"
        f"{login_latency['p95_ms']:>9.1f}{login_rate:>9.1f}"
    )
    print(
        f"{'argon2id verify alone, in process':<44}{argon2['p50_ms']:>9.1f}{argon2['p95_ms']:>9.1f}"
        f"{'':>9}  login ÷ argon2 = {login_latency['p50_ms'] / argon2['p50_ms']:.2f}"
    )
    print(f"\nThe API's own steps, in process against the same emulator ({args.count} each):")
    for label, row in steps.items():
        print(f"  {label:<50}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}")
    revocation = steps["  inside it: revocation check (read the account)"]["p50_ms"]
    print(
        f"  the revocation check is {revocation:.1f} ms of the query's"
        f" {latency['query']['through /v1']['p50_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
