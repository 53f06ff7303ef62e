"""A load test through the public door only: an upload burst, a command burst and a saga
burst against a deployed project (by URL and credentials) or the local stack, each beside a
baseline measured in the same run, reported as percentiles and ratios.

Everything goes through /v1 and the signed upload URLs it hands out, as a center, a client
and an operator do; nothing reads a database, a topic or a bucket of the project:

- upload: the center asks POST /v1/uploads for N signed URLs and PUTs N small synthetic
  DICOM files (one patient each); each is timed from its PUT to GET /v1/uploads/<id>
  answering a final status (deidentified, duplicate, quarantined...). The upload's id is
  the one ingestion gives it (its object, bucket and the generation the PUT answered).
- commands: the client POSTs N BASIC subscriptions (CreateSubscription, with an
  Idempotency-Key), each timed from its POST to its command's status link answering
  applied, rejected or dead_lettered.
- saga: the client buys PRO N times as a buyer does: subscribe, say what data it wants
  (the data request), pay with a test card token; each timed from the payment's POST to
  its saga (GET /v1/sagas?subscription_id=) ending COMPLETED, COMPENSATED or STUCK. The
  operator first registers load experts (POST /v1/experts, retired at the end) so that the
  sagas measure the product, not the experts' capacity; when the catalogue is too small
  for the dataset, the center uploads enough patients first.

The baseline is the round trip of the cheapest authenticated read, GET /v1/me, sent one at
a time by the scenario's account just before its burst: every figure is given beside it
as a ratio, so runs on different machines and networks compare.

A 429 is counted and honoured (its Retry-After), and a command sent again reuses its
Idempotency-Key. Tokens and passwords are never printed. A URL that is not loopback needs
--yes: the run creates subscriptions, payments (test mode), data services and catalogue
images there (docs/benchmarks.md says what and how to clean up).

    .venv/bin/python -m benchmarks.load [--scenario all] [--count 20] [--concurrency 5]
    SALUDTECH_LOAD_CLIENT_USERNAME=... SALUDTECH_LOAD_CLIENT_PASSWORD=... \\
        .venv/bin/python -m benchmarks.load --api-url https://api.example.org --yes --json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import ipaddress
import json
import math
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import requests

from benchmarks.support import bench_expert, percentile

ROLES = ("center", "client", "operator")
SCENARIOS = ("upload", "commands", "saga")
# The accounts each scenario acts with (the first one also measures the baseline), and
# those it uses when given (the operator's load experts, the center's seeding).
NEEDS = {"upload": ("center",), "commands": ("client",), "saga": ("client",)}
USES = {"upload": (), "commands": (), "saga": ("operator", "center")}
HTTP_TIMEOUT = 30.0
FIRST_POLL = 0.1
UPLOAD_ENDS = {"deidentified", "duplicate", "quarantined", "released", "discarded", "complete"}
COMMAND_ENDS = {"applied", "rejected", "dead_lettered"}
SAGA_ENDS = {"COMPLETED": "completed", "COMPENSATED": "compensated", "STUCK": "stuck"}
LOAD_EXPERTS = 5  # registered for the saga burst, each of the largest capacity (100)
SEED_PATIENTS = 12  # above the catalogue's minimum cell size (10 by default)
IMAGE_ROWS = 64  # about 11 KiB a file: the burst measures the pipeline, not the network
T = TypeVar("T")


# -- what a run is given -----------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine (the local stack), so no --yes is needed."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_api_url(state_dir: Path) -> str:
    """The local stack's api, found as every local tool finds its ports (its stack.json,
    else the ports `up` would choose)."""
    from infra.local.ports import stack_ports

    return f"{stack_ports(state_dir).url('functions')}/api_http"


def credentials_of(role: str, username: str | None, env: Mapping[str, str]) -> Credentials | None:
    """A role's account from --<role>-username or SALUDTECH_LOAD_<ROLE>_USERNAME, and
    SALUDTECH_LOAD_<ROLE>_PASSWORD (never an argument: shell history, `ps`)."""
    prefix = f"SALUDTECH_LOAD_{role.upper()}_"
    username = username or env.get(f"{prefix}USERNAME") or None
    password = env.get(f"{prefix}PASSWORD") or None
    if username is None and password is None:
        return None
    if username is None or password is None:
        raise SystemExit(f"the {role} account needs both {prefix}USERNAME and {prefix}PASSWORD")
    return Credentials(username, password)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Passwords come from SALUDTECH_LOAD_<ROLE>_PASSWORD only. Without an account "
        "for a role, on the local stack a throwaway one is made for the run.",
    )
    parser.add_argument("--api-url", help="the api's base URL (default: the local stack's)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="the local stack's state directory (default .local)")  # fmt: skip
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument("--count", type=int, default=20, help="items per scenario")
    parser.add_argument("--concurrency", type=int, default=5, help="items in flight at once")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds an item may take to reach its final state")  # fmt: skip
    parser.add_argument("--baseline", type=int, default=20, help="GET /v1/me round trips")
    parser.add_argument("--poll-max", type=float, default=1.0,
                        help="longest wait between two polls of an item (they start at 0.1 s)")  # fmt: skip
    parser.add_argument("--queries-per-minute", type=int, default=240,
                        help="the api's query limit per account and route "
                        "(SALUDTECH_API_QUERIES_PER_MINUTE): the polls stay under it")  # fmt: skip
    parser.add_argument("--card-token", default="tok_visa",
                        help="the test card token the payments use (Stripe test mode)")  # fmt: skip
    parser.add_argument("--no-experts", dest="experts", action="store_false",
                        help="do not register (and retire) load experts for the saga burst")  # fmt: skip
    for role in ROLES:
        parser.add_argument(f"--{role}-username",
                            help=f"or SALUDTECH_LOAD_{role.upper()}_USERNAME")  # fmt: skip
    parser.add_argument("--yes", action="store_true",
                        help="confirm a run against a URL that is not loopback")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    for name in ("count", "concurrency", "baseline", "queries_per_minute"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.timeout <= 0 or args.poll_max < FIRST_POLL:
        parser.error(f"--timeout must be positive and --poll-max at least {FIRST_POLL}")
    return args


# -- talking to the api ------------------------------------------------------------------
class Failure(Exception):
    """An item that did not reach a final state: its key in the report's errors."""


@dataclass
class Tally:
    """What the run's requests met besides outcomes, shared by every thread."""

    rate_limited: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def limited(self) -> None:
        with self.lock:
            self.rate_limited += 1


def error_key(answer: requests.Response) -> str:
    """`<status>` and the api's machine-readable reason, never the detail or the body."""
    try:
        reason = answer.json()["error"]["reason"]
    except (ValueError, KeyError, TypeError):
        reason = None
    return f"{answer.status_code} {reason}" if isinstance(reason, str) else str(answer.status_code)


def retry_after(answer: requests.Response) -> float:
    try:
        return max(0.0, float(answer.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


class Account:
    """One account of the run, logged in through /v1; each thread has its own HTTP session."""

    def __init__(self, api: str, role: str, credentials: Credentials, tally: Tally) -> None:
        self.api, self.role, self.tally = api.rstrip("/"), role, tally
        self._credentials = credentials
        self._local = threading.local()
        self._lock = threading.Lock()
        self._token = ""
        self.login()
        me = self.expect(self.call("GET", "/v1/me", deadline=time.monotonic() + 60), 200)
        self.scope = str(me.get("scope") or "")

    def _http(self) -> requests.Session:
        if not hasattr(self._local, "http"):
            self._local.http = requests.Session()
        http: requests.Session = self._local.http
        return http

    def login(self, expired: str | None = None) -> None:
        """Log in; with `expired`, only if no other thread replaced that token already."""
        with self._lock:
            if expired is not None and self._token != expired:
                return
            answer = self._http().post(
                f"{self.api}/v1/auth/login",
                json={
                    "username": self._credentials.username,
                    "password": self._credentials.password,
                },
                timeout=HTTP_TIMEOUT,
            )
            if answer.status_code != 200:
                raise SystemExit(f"the {self.role} account could not log in: {error_key(answer)}")
            self._token = str(answer.json()["access_token"])

    def path(self, link: str) -> str:
        """A link the api answered (/v1/..., or under the api's own path) as a path of it."""
        return link.removeprefix(urlparse(self.api).path) if link.startswith("/") else link

    def call(
        self, method: str, target: str, *, deadline: float, signed: bool = False, **options: Any
    ) -> requests.Response:
        """One request, sent again after a 429's Retry-After (counted) while the deadline
        allows, and after one login when the token expired. `signed`: a signed URL of
        another host, sent without the bearer token."""
        url = target if signed else f"{self.api}{target}"
        relogged = False
        while True:
            headers = dict(options.pop("headers", None) or {})
            token = self._token
            if not signed:
                headers["Authorization"] = f"Bearer {token}"
            try:
                answer = self._http().request(
                    method, url, headers=headers, timeout=HTTP_TIMEOUT, **options
                )
            except requests.RequestException as error:
                raise Failure(f"connection {type(error).__name__}") from None
            options["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            if answer.status_code == 429:
                self.tally.limited()
                wait = retry_after(answer)
                if time.monotonic() + wait > deadline:
                    raise Failure("timeout")
                time.sleep(wait)
                continue
            if answer.status_code == 401 and not signed and not relogged:
                relogged = True
                self.login(expired=token)
                continue
            return answer

    @staticmethod
    def expect(answer: requests.Response, *statuses: int) -> dict[str, Any]:
        if answer.status_code not in statuses:
            raise Failure(error_key(answer))
        try:
            found: dict[str, Any] = answer.json()
        except ValueError:
            return {}
        return found


def poll(probe: Callable[[], T | None], deadline: float, longest: float) -> T:
    """Ask `probe` until it answers, 0.1 s apart at first, then up to `longest` apart:
    quick outcomes are timed closely, slow ones do not spend the rate limit."""
    interval = FIRST_POLL
    while (found := probe()) is None:
        if time.monotonic() + interval > deadline:
            raise Failure("timeout")
        time.sleep(interval)
        interval = min(longest, interval * 1.5)
    return found


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Names the step of an item of several steps an error ended it at."""
    try:
        yield
    except Failure as failure:
        raise Failure(f"{name}: {failure}") from None


# -- measuring and reporting -------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One item of a burst: its final status and latency, or the error that ended it."""

    outcome: str | None
    latency_s: float | None
    ended_at: float
    error: str | None = None


def run_items(
    count: int, concurrency: int, one: Callable[[int, float], tuple[str, float]], timeout: float
) -> tuple[list[Item], float]:
    """Run `one(index, deadline)` for each index, `concurrency` at once; (items, start)."""

    def attempt(index: int) -> Item:
        try:
            outcome, latency = one(index, time.monotonic() + timeout)
        except Failure as failure:
            return Item(None, None, time.perf_counter(), str(failure))
        return Item(outcome, latency, time.perf_counter())

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(attempt, range(count))), started


def millis(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {f"p{q}_ms": round(percentile(values, q / 100) * 1000, 1) for q in (50, 95, 99)}


def summarize(
    scenario: str,
    items: list[Item],
    started: float,
    baseline_s: list[float],
    *,
    rate_limited: int,
    concurrency: int,
    measured: str,
) -> dict[str, Any]:
    """A scenario's report: its latencies as percentiles and as ratios to the baseline's
    p50, its throughput (items that reached a final state per second of the burst), its
    outcomes and its errors by status."""
    latencies = [i.latency_s for i in items if i.latency_s is not None]
    ended = [i.ended_at for i in items if i.outcome is not None]
    elapsed = (max(ended) - started) if ended else 0.0
    latency, base = millis(latencies), millis(baseline_s)
    ratios = None
    if latency and base and base["p50_ms"] > 0:
        ratios = {f"p{q}": round(latency[f"p{q}_ms"] / base["p50_ms"], 1) for q in (50, 95, 99)}
    return {
        "scenario": scenario,
        "measured": measured,
        "count": len(items),
        "concurrency": concurrency,
        "baseline": {
            "measured": "GET /v1/me, one at a time",
            "count": len(baseline_s),
            **(base or {}),
        },
        "latency": latency,
        "ratio_to_baseline_p50": ratios,
        "throughput_per_s": round(len(ended) / elapsed, 2) if elapsed > 0 else None,
        "elapsed_s": round(elapsed, 2),
        "outcomes": dict(Counter(i.outcome for i in items if i.outcome is not None)),
        "errors": dict(Counter(i.error for i in items if i.error is not None)),
        "rate_limited": rate_limited,
    }


def baseline(account: Account, count: int, timeout: float) -> list[float]:
    """Round trips of GET /v1/me, one at a time."""
    seconds = []
    for _ in range(count):
        at = time.perf_counter()
        account.expect(account.call("GET", "/v1/me", deadline=time.monotonic() + timeout), 200)
        seconds.append(time.perf_counter() - at)
    return seconds


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.width = max(console.width, 100)  # a pipe is 80 columns: the table needs more
    table = Table(title=f"load test of {report['api_host']} ({report['started_at']})")
    for column in ("scenario", "n", "p50 ms", "p95 ms", "p99 ms", "p50/p95/p99 ÷ base p50",
                   "items/s", "429s"):  # fmt: skip
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for result in report["scenarios"]:
        base, latency = result["baseline"], result["latency"] or {}
        ratio = result["ratio_to_baseline_p50"]
        table.add_row(
            "  baseline", str(base["count"]),
            *(f"{base[k]:.0f}" if k in base else "-" for k in ("p50_ms", "p95_ms", "p99_ms")),
            "1.0", "", "",
        )  # fmt: skip
        table.add_row(
            result["scenario"], str(result["count"]),
            *(f"{latency[k]:.0f}" if k in latency else "-" for k in ("p50_ms", "p95_ms", "p99_ms")),
            " / ".join(str(ratio[f"p{q}"]) for q in (50, 95, 99)) if ratio else "-",
            str(result["throughput_per_s"] or "-"), str(result["rate_limited"]),
        )  # fmt: skip
    console.print(table)
    for result in report["scenarios"]:
        outcomes = ", ".join(f"{k} {v}" for k, v in result["outcomes"].items()) or "none"
        errors = ", ".join(f"{k}: {v}" for k, v in result["errors"].items()) or "none"
        console.print(
            f"{result['scenario']} ({result['measured']}, {result['concurrency']} at once): "
            f"outcomes {outcomes}; errors {errors}"
        )
    for note in report["notes"]:
        console.print(f"• {note}")


# -- the scenarios ---------------------------------------------------------------------
def dicom_files(count: int) -> list[bytes]:
    """Small single-image studies of one new patient each (the generator the other
    benchmarks use); a random seed per run, so a second run is not `duplicate`."""
    from infra.samples.synthetic_dicom import make_study

    base = random.randrange(1, 2**30)
    files = []
    for n in range(count):
        (ds,) = make_study(
            patient_name=f"LOAD{base + n}^TEST", n_series=1, n_instances=1, with_sr=False,
            rows=IMAGE_ROWS, cols=IMAGE_ROWS, seed=base + n,
        )  # fmt: skip
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        files.append(buffer.getvalue())
    return files


def upload_id_of(grant: Mapping[str, Any], put: requests.Response) -> str:
    """The id ingestion gives the upload: its bucket (from the signed URL, path style),
    object and the generation the PUT answered (Cloud Storage's x-goog-generation header,
    or the object resource fake-gcs-server answers)."""
    from functions.ingestion.domain import Upload

    name = str(grant["object"])
    path = unquote(urlparse(str(grant["url"])).path)
    bucket = path.removesuffix(f"/{name}").rsplit("/", 1)[-1] if path.endswith(name) else ""
    generation = put.headers.get("x-goog-generation")
    if generation is None:
        try:
            generation = put.json().get("generation")
        except (ValueError, AttributeError):
            generation = None
    if not bucket or generation is None:
        raise Failure("upload without a bucket or generation")
    return Upload(bucket, name, int(generation), 0).unit_id


class Run:
    """One run: its accounts, its options, what it created (to say, and to retire)."""

    def __init__(self, args: argparse.Namespace, accounts: dict[str, Account]) -> None:
        self.args, self.accounts = args, accounts
        self.code = uuid.uuid4().hex[:8]
        self.experts: list[str] = []
        self.notes: list[str] = []

    def _poll(self, probe: Callable[[], T | None], deadline: float) -> T:
        return poll(probe, deadline, self.longest_poll)

    @property
    def longest_poll(self) -> float:
        """--poll-max, or longer when the items in flight, each polling one route, would
        together spend more than the account's query limit on it (a quarter to spare for
        the quick first polls): a 429 waits out the limit's minute, which would be timed."""
        within: float = 1.25 * self.args.concurrency * 60 / self.args.queries_per_minute
        return max(float(self.args.poll_max), within)

    # upload ------------------------------------------------------------------------------
    def upload(self, data: bytes, deadline: float) -> tuple[str, float]:
        center = self.accounts["center"]
        grant = center.expect(
            center.call("POST", "/v1/uploads", json={"file_name": "load.dcm"}, deadline=deadline),
            201,
        )
        at = time.perf_counter()
        put = center.call(
            "PUT", str(grant["url"]), data=data, headers=grant.get("headers") or {},
            deadline=deadline, signed=True,
        )  # fmt: skip
        center.expect(put, 200, 201)
        upload_id = upload_id_of(grant, put)

        def ended() -> str | None:
            answer = center.call("GET", f"/v1/uploads/{upload_id}", deadline=deadline)
            if answer.status_code == 404:  # not recorded yet
                return None
            status = str(center.expect(answer, 200).get("status"))
            return status if status in UPLOAD_ENDS else None

        outcome = self._poll(ended, deadline)
        return outcome, time.perf_counter() - at

    # commands ----------------------------------------------------------------------------
    def command(
        self, path: str, body: dict[str, Any], deadline: float, account: str = "client"
    ) -> tuple[dict[str, Any], str]:
        """POST a command as ``account`` (with an Idempotency-Key, reused if it is sent again)
        and wait for its outcome; (the 202's answer, the outcome)."""
        client = self.accounts[account]
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        accepted = client.expect(
            client.call("POST", path, json=body, headers=headers, deadline=deadline), 202
        )
        link = client.path(str(accepted["links"]["command"]))

        def outcome() -> str | None:
            found = client.expect(client.call("GET", link, deadline=deadline), 200)
            status = str(found.get("status"))
            return status if status in COMMAND_ENDS else None

        return accepted, self._poll(outcome, deadline)

    def subscription(self, plan: str) -> dict[str, Any]:
        from infra.samples.clients import SAMPLE_CLIENT

        # The account's own client code; a reserved domain, so no notification is delivered.
        code = self.accounts["client"].scope
        client = {**SAMPLE_CLIENT, "code": code, "email": f"load-{self.code}@example.com"}
        return {"client": client, "plan": plan}

    def basic(self, index: int, deadline: float) -> tuple[str, float]:
        at = time.perf_counter()
        outcome = self.command("/v1/subscriptions", self.subscription("BASIC"), deadline)[1]
        return outcome, time.perf_counter() - at

    # saga --------------------------------------------------------------------------------
    def dataset(self) -> dict[str, Any]:
        """As small as the minimum cell size allows, one image a patient: every saga does
        the same work however large the catalogue grows from run to run."""
        criteria = {"max_images": SEED_PATIENTS, "max_per_patient": 1}
        return {"code": f"load-{self.code}", "criteria": criteria}

    def purchase(self, index: int, deadline: float) -> tuple[str, float]:
        client = self.accounts["client"]
        with stage("subscribe"):
            accepted, outcome = self.command(
                "/v1/subscriptions", self.subscription("PRO"), deadline
            )
            if outcome != "applied":
                raise Failure(outcome)
        subscription_id = str(accepted["subscription_id"])
        request = {"dataset": self.dataset(), "cloud": {"code": "links", "type": "links"}}
        base = f"/v1/subscriptions/{subscription_id}"
        with stage("data request"):
            if (outcome := self.command(f"{base}/data-request", request, deadline)[1]) != "applied":
                raise Failure(outcome)
        at = time.perf_counter()
        pay = {"card_token": self.args.card_token}
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        with stage("pay"):
            client.expect(
                client.call(
                    "POST", f"{base}/payments", json=pay, headers=headers, deadline=deadline
                ),
                202,
            )

        def ended() -> str | None:
            answer = client.call(
                "GET", "/v1/sagas", params={"subscription_id": subscription_id}, deadline=deadline
            )
            for saga in client.expect(answer, 200).get("items", []):
                if saga.get("status") in SAGA_ENDS:
                    return SAGA_ENDS[saga["status"]]
            return None

        with stage("saga"):
            outcome = self._poll(ended, deadline)
        return outcome, time.perf_counter() - at

    def prepare_saga(self, deadline: float) -> None:
        """Load experts enough for every saga, and a catalogue the dataset can come from."""
        operator = self.accounts.get("operator")
        if self.args.experts and operator is not None:
            # As benchmarks/saga.py: several experts, so assignments do not all contend
            # for one registry entry, and capacity enough for every saga at once.
            for n in range(max(LOAD_EXPERTS, math.ceil(self.args.count / 100))):
                code = f"LOAD-{self.code}-{n}"
                body = bench_expert(
                    code, f"load{self.code}{n}", f"load-expert-{self.code}-{n}@example.com"
                )
                self.expert_command("/v1/experts", body, deadline)
                self.experts.append(code)
            self.notes.append(f"load experts registered (retired at the end): {len(self.experts)}")
        elif self.args.experts:
            self.notes.append("no operator account: sagas rely on the project's own experts")
        client = self.accounts["client"]
        quote = {"plan": "PRO", "dataset_code": self.dataset()["code"],
                 "criteria": self.dataset()["criteria"]}  # fmt: skip
        answer = client.call("POST", "/v1/quotes", json=quote, deadline=deadline)
        if answer.status_code == 422 and "center" in self.accounts:
            self.notes.append(f"catalogue too small ({error_key(answer)}): "
                              f"{SEED_PATIENTS} patients uploaded first")  # fmt: skip
            for data in dicom_files(SEED_PATIENTS):
                self.upload(data, deadline)
        elif answer.status_code != 200:
            self.notes.append(f"the dataset's quote was refused: {error_key(answer)}")

    def expert_command(self, path: str, body: dict[str, Any], deadline: float) -> None:
        if (ended := self.command(path, body, deadline, account="operator")[1]) != "applied":
            raise Failure(f"{path} {ended}")

    def retire_experts(self) -> None:
        deadline = time.monotonic() + self.args.timeout
        for code in self.experts:
            try:
                self.expert_command(f"/v1/experts/{code}/retire", {}, deadline)
            except Failure as failure:
                self.notes.append(f"a load expert was not retired ({failure}): retire it by hand")

    # the burst -------------------------------------------------------------------------
    def scenario(self, name: str) -> dict[str, Any]:
        args, tally = self.args, self.accounts[NEEDS[name][0]].tally
        prepare_deadline = time.monotonic() + args.timeout
        measured = {
            "upload": "PUT → upload processed",
            "commands": "POST → command applied/rejected",
            "saga": "payment POST → saga ended",
        }[name]
        one: Callable[[int, float], tuple[str, float]]
        if name == "upload":
            files = dicom_files(args.count)
            one = lambda index, deadline: self.upload(files[index], deadline)  # noqa: E731
        elif name == "commands":
            one = self.basic
        else:
            try:
                self.prepare_saga(prepare_deadline)
            except Failure as failure:
                self.notes.append(f"the saga burst's preparation failed: {failure}")
            one = self.purchase
        base = baseline(self.accounts[NEEDS[name][0]], args.baseline, args.timeout)
        limited_before = tally.rate_limited
        items, started = run_items(args.count, args.concurrency, one, args.timeout)
        return summarize(
            name, items, started, base, rate_limited=tally.rate_limited - limited_before,
            concurrency=args.concurrency, measured=measured,
        )  # fmt: skip


# -- accounts ------------------------------------------------------------------------------
def local_account(role: str, state_dir: Path | None) -> Credentials:
    """A throwaway account of this run on the local stack, which has none of its own: made
    in identity's database of the stack as tools.accounts makes one, at a cheap argon2
    cost (the hash carries it)."""
    from functions.bootstrap import cloud_platform
    from functions.identity import wiring
    from functions.identity.domain import NewAccount
    from functions.identity.messages import Role
    from infra.local.stack import LocalStack
    from shared.config import Settings
    from shared.service.context import database_of

    try:
        os.environ.update(LocalStack.attach(state_dir).env)
    except OSError:
        raise SystemExit(
            f"no local stack described in {state_dir or '.local'}: start one "
            f"(python -m infra.local up --detach) or give the {role} account "
            f"(SALUDTECH_LOAD_{role.upper()}_USERNAME and _PASSWORD)"
        ) from None
    settings = Settings(api_password_time_cost=1, api_password_memory_kib=64)
    accounts = wiring.build(cloud_platform(settings, database_of("identity"))).accounts
    code = uuid.uuid4().hex[:8]
    scope = {"center": f"load-center-{code}", "client": code, "operator": ""}[role]
    credentials = Credentials(f"load-{role}-{code}", uuid.uuid4().hex)
    accounts.register(
        NewAccount(credentials.username, credentials.password, Role(role), scope,
                   f"load-{role}-{code}@example.com", "1")
    )  # fmt: skip
    return credentials


def scenarios_of(choice: str) -> list[str]:
    return list(SCENARIOS) if choice == "all" else [choice]


def accounts_for(
    args: argparse.Namespace, api: str, local: bool, env: Mapping[str, str], tally: Tally
) -> dict[str, Account]:
    """The accounts the chosen scenarios act with: given, or on the local stack made for
    the run. A missing account a scenario only uses (the saga's operator) is left out."""
    chosen = scenarios_of(args.scenario)
    needed = {role for s in chosen for role in NEEDS[s]}
    wanted = needed | {role for s in chosen for role in USES[s]}
    accounts = {}
    for role in ROLES:
        if role not in wanted:
            continue
        credentials = credentials_of(role, getattr(args, f"{role}_username"), env)
        if credentials is None and local:
            credentials = local_account(role, args.state_dir)
        if credentials is None:
            if role in needed:
                raise SystemExit(
                    f"the {role} account is needed: SALUDTECH_LOAD_{role.upper()}_USERNAME "
                    f"and SALUDTECH_LOAD_{role.upper()}_PASSWORD (or --{role}-username)"
                )
            continue
        accounts[role] = Account(api, role, credentials, tally)
    return accounts


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    from infra.local.stack import DEFAULT_STATE_DIR

    stack_api = local_api_url(args.state_dir or DEFAULT_STATE_DIR)
    api = (args.api_url or stack_api).rstrip("/")
    if not is_loopback(api) and not args.yes:
        raise SystemExit(
            f"{urlparse(api).hostname} is not this machine: the run creates subscriptions, "
            "payments, data services and images there. Pass --yes to go ahead."
        )
    tally = Tally()
    # Accounts are made for the run only in the local stack's own identity database.
    accounts = accounts_for(args, api, api == stack_api, os.environ, tally)
    run = Run(args, accounts)
    report: dict[str, Any] = {
        "api_host": urlparse(api).netloc,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scenarios": [],
        "notes": run.notes,
    }
    try:
        for name in scenarios_of(args.scenario):
            if not args.json:
                print(f"{name}: {args.count} items, {args.concurrency} at once…", file=sys.stderr)
            report["scenarios"].append(run.scenario(name))
    finally:
        run.retire_experts()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
