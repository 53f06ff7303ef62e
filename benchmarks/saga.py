"""The PRO saga on the local stack: from SubscriptionCreated to the client's "ready"
notification, for one saga at a time and for many at once, beside the same number of plain
command round trips (HTTP → SubscriptionCreated observed) in the same run.

A saga here is a PRO CreateSubscription POSTed to the subscriptions' door and paid with
`tok_visa` as soon as its 202 comes back, then everything the saga drives: the payment,
CreateDataService, AssignExpert and PrepareDataset in parallel, StartDataService, the
delivery, SagaCompleted, and the client's "ready" email. Its clock starts when
SubscriptionCreated is seen on subscriptions-events and stops at the end point:

- the "ready" email in the stack's mailbox (an SMTP sink in this process), when the
  notifications context has a rule for SagaCompleted (functions/notifications/rules.py);
- otherwise the SagaCompleted event on sagas-events. The output says which was used, and
  gives the SagaCompleted time beside the email's when both exist.

A command round trip is a BASIC CreateSubscription POSTed, timed to its SubscriptionCreated
(what benchmarks/commands.py calls the pipeline), sent the same way and as many at once.

    .venv/bin/python -m benchmarks.saga [--single 5] [--concurrent 100] [--workers 16]
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from benchmarks.support import Arrivals, bench_expert, bench_stack, percentile
from infra.local.mail import MailSink
from infra.samples.clients import SAMPLE_CLIENT
from shared.service.context import database_of

DATA_SERVICES_DB = database_of("data_services")  # whose catalogue projection is read

CREATED = "co.saludtech.subscriptions.subscription.created.v1"
COMPLETED = "co.saludtech.sagas.saga.completed.v1"
ENDED = {COMPLETED, "co.saludtech.sagas.saga.compensated.v1", "co.saludtech.sagas.saga.stuck.v1"}
TIMEOUT_SECONDS = 900


def ready_subject() -> re.Pattern[str] | None:
    """The subject of the client's "ready" email, when notifications tell it on SagaCompleted."""
    from functions.notifications.rules import RULES
    from functions.notifications.templates import TEMPLATES
    from functions.sagas.messages import SagaCompleted

    rule = RULES.get(SagaCompleted)
    if rule is None or rule.template not in TEMPLATES:
        return None
    parts = re.split(r"\{[a-z_]+\}", TEMPLATES[rule.template].subject)
    return re.compile("^" + ".*".join(re.escape(p) for p in parts) + "$")


def _created_key(message: Any) -> str:
    if message.attributes.get("ce-type") != CREATED:
        return ""
    return str(message.attributes.get("ce-subject", ""))


def _ended_key(message: Any) -> str:
    kind = message.attributes.get("ce-type", "")
    if kind not in ENDED:
        return ""
    return f"{kind}|{json.loads(message.data)['subscription_id']}"


def _bench_experts(functions_url: str, count: int = 5) -> None:
    """Experts enough for every saga of the run (the samples' capacity of 9 would leave
    the later sagas without an expert: compensated), each at the largest capacity."""
    for n in range(count):
        expert = bench_expert(f"BENCH-{n:02d}", f"bench{n:02d}", f"bench-expert-{n}@example.com")
        answer = requests.post(
            f"{functions_url}/data_services_commands_http/experts",
            json=expert,
            headers={"Idempotency-Key": f"bench-{expert['expert_code']}"},
            timeout=60,
        )
        answer.raise_for_status()


def _images_in_catalogue(stack: Any, patients: int = 1) -> None:
    """Two anonymized images of each of `patients` patients in the data services'
    catalogue, so a dataset resolves (a buyer's data request needs as many patients as the
    minimum cell size: fewer are refused `dataset_too_small`)."""
    from google.cloud import firestore, storage  # type: ignore[attr-defined]
    from google.cloud.firestore_v1.base_query import FieldFilter

    from tests.unit.ingestion.helpers import study

    center = f"bench-center-{uuid.uuid4().hex[:8]}"
    ingest = storage.Client(project=stack.project_id).bucket(stack.bucket("ingest"))
    for patient in range(patients):
        for index, data in enumerate(
            study(n_instances=2, seed=97, patient_id=f"{center}-{patient}")
        ):
            ingest.blob(f"{center}/{patient}-{index}.dcm").upload_from_string(data)
    prefix = stack.env.get("SALUDTECH_COLLECTION_PREFIX", "")
    catalogue = firestore.Client(project=stack.project_id, database=DATA_SERVICES_DB).collection(
        f"{prefix}data_services_catalogue"
    )
    query = catalogue.where(filter=FieldFilter("data_source", "==", center))
    deadline = time.monotonic() + 180
    while len(list(query.stream())) < 2 * patients:
        if time.monotonic() > deadline:
            raise SystemExit("the catalogue projection did not get the images")
        time.sleep(0.3)


class Run:
    """Sends subscriptions (and pays the PRO ones) and times them to their end points."""

    def __init__(self, stack: Any, sink: MailSink, subject: re.Pattern[str] | None) -> None:
        self.base = stack.functions_url
        self.sink = sink
        self.subject = subject
        self.created = Arrivals(stack.project_id, "subscriptions-events", key=_created_key)
        self.ended = Arrivals(stack.project_id, "sagas-events", key=_ended_key)
        self.local = threading.local()
        self.run = uuid.uuid4().hex[:6]
        self.counter = 0
        self.lock = threading.Lock()
        # Arrivals time with perf_counter, the mailbox with time.time.
        self.offset = time.time() - time.perf_counter()

    def close(self) -> None:
        self.created.close()
        self.ended.close()

    def _http(self) -> requests.Session:
        if not hasattr(self.local, "http"):
            self.local.http = requests.Session()
        session: requests.Session = self.local.http
        return session

    def _client(self) -> dict[str, str]:
        with self.lock:
            self.counter += 1
            code = f"s{self.run}{self.counter:04d}"
        return {**SAMPLE_CLIENT, "code": code, "email": f"{code}@example.com"}

    def send(self, plan: str) -> tuple[str, str]:
        """(subscription id, client email); a PRO one is paid at once."""
        client = self._client()
        url = f"{self.base}/subscriptions_commands_http/subscriptions"
        answer = self._http().post(url, json={"client": client, "plan": plan}, timeout=120)
        answer.raise_for_status()
        subscription_id = str(answer.json()["subscription_id"])
        if plan == "PRO":
            paid = self._http().post(
                f"{url}/{subscription_id}/payments", json={"card_token": "tok_visa"}, timeout=120
            )
            paid.raise_for_status()
        return subscription_id, client["email"]

    def many(self, plan: str, count: int, workers: int) -> list[tuple[str, str]]:
        if workers == 1:
            return [self.send(plan) for _ in range(count)]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda _: self.send(plan), range(count)))

    def commands(self, count: int, workers: int) -> list[float]:
        """Milliseconds from each BASIC command's POST to its SubscriptionCreated."""
        self.created.eager = workers == 1
        latencies = []
        if workers == 1:
            for _ in range(count):
                at = time.perf_counter()
                subscription_id, _email = self.send("BASIC")
                self._wait(self.created, {subscription_id})
                latencies.append((self.created.seen[subscription_id] - at) * 1000)
            return latencies
        sent_at: dict[str, float] = {}

        def one(_: int) -> None:
            at = time.perf_counter()
            subscription_id, _email = self.send("BASIC")
            sent_at[subscription_id] = at

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(count)))
        self._wait(self.created, set(sent_at))
        return [(self.created.seen[s] - at) * 1000 for s, at in sent_at.items()]

    def sagas(self, count: int, workers: int) -> dict[str, Any]:
        """From SubscriptionCreated to SagaCompleted and to the "ready" email, per saga;
        one at a time (workers 1: each saga ends before the next starts) or all at once."""
        self.created.eager = self.ended.eager = workers == 1
        sent: list[tuple[str, str]] = []
        if workers == 1:
            for _ in range(count):
                sent += self.many("PRO", 1, 1)
                self._wait_ended(sent[-1:])
        else:
            sent = self.many("PRO", count, workers)
            self._wait_ended(sent)
        outcomes = {
            kind.rsplit(".", 2)[-2]: sum(f"{kind}|{s}" in self.ended.seen for s, _ in sent)
            for kind in sorted(ENDED)
        }
        completed = [(s, e) for s, e in sent if f"{COMPLETED}|{s}" in self.ended.seen]
        to_event = [
            (self.ended.seen[f"{COMPLETED}|{s}"] - self.created.seen[s]) * 1000
            for s, _ in completed
        ]
        to_email = self._ready_emails(completed) if self.subject else []
        return {
            "outcomes": outcomes,
            "why_not_completed": self._failures({s for s, _ in sent} - {s for s, _ in completed}),
            "to_saga_completed": to_event,
            "to_ready_email": to_email,
        }

    def _failures(self, subscription_ids: set[str]) -> dict[str, int]:
        """(failed step: reason) -> how many of these sagas ended that way, from the sagas'
        read side."""
        found: Counter[str] = Counter()
        for subscription_id in sorted(subscription_ids):
            page = (
                self._http()
                .get(
                    f"{self.base}/sagas_queries_http/sagas",
                    params={"subscription_id": subscription_id},
                    timeout=60,
                )
                .json()
            )
            for saga in page.get("items", [])[:1]:
                found[f"{saga.get('failed_step')}: {saga.get('failure')}"] += 1
        return dict(found)

    def _ready_emails(self, completed: list[tuple[str, str]]) -> list[float]:
        """Milliseconds from SubscriptionCreated to each client's "ready" email (waited for)."""
        assert self.subject is not None
        wanted = {email: s for s, email in completed}
        deadline = time.monotonic() + TIMEOUT_SECONDS
        found: dict[str, float] = {}
        while len(found) < len(wanted) and time.monotonic() < deadline:
            for at, message in self.sink.arrivals():
                to, subject = str(message["To"]), str(message["Subject"])
                if to in wanted and to not in found and self.subject.match(subject):
                    found[to] = at
            time.sleep(0.2)
        return [
            (at - self.offset - self.created.seen[wanted[email]]) * 1000
            for email, at in found.items()
        ]

    def _wait_ended(self, sent: list[tuple[str, str]]) -> None:
        keys = {s for s, _ in sent}
        self._wait(self.created, keys)
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            done = {k.split("|", 1)[1] for k in list(self.ended.seen) if "|" in k}
            if keys <= done:
                return
            time.sleep(0.1)
        raise SystemExit(f"{len(keys - done)} sagas did not end within {TIMEOUT_SECONDS} s")

    @staticmethod
    def _wait(arrivals: Arrivals, keys: set[str]) -> None:
        if not arrivals.wait(keys, timeout=TIMEOUT_SECONDS):
            raise SystemExit("not every SubscriptionCreated arrived within the time limit")


def _row(label: str, values: list[float], baseline: list[float] | None) -> str:
    if not values:
        return f"{label:<52}{'(none)':>10}"
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    ratio = f"{p50 / percentile(baseline, 0.5):>11.1f}" if baseline else f"{'':>11}"
    return f"{label:<52}{len(values):>6}{p50:>10.0f}{p95:>10.0f}{ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=5, help="sagas one at a time")
    parser.add_argument("--concurrent", type=int, default=100, help="sagas all at once")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    subject = ready_subject()
    end_point = (
        'the client\'s "ready" email in the mailbox'
        if subject
        else "SagaCompleted on sagas-events (no notification rule for SagaCompleted yet)"
    )
    print(f"end point: {end_point}", flush=True)
    with (
        MailSink() as sink,
        bench_stack(extra_env={"SALUDTECH_SMTP_PORT": str(sink.port)}) as stack,
    ):
        _bench_experts(stack.functions_url)
        _images_in_catalogue(stack)
        run = Run(stack, sink, subject)
        try:
            run.commands(5, 1)  # warm every function on the way
            run.sagas(1, 1)
            results: dict[str, tuple[list[float], dict[str, Any]]] = {}
            for label, count, workers in (
                ("1 at a time", args.single, 1),
                (f"{args.concurrent} at once", args.concurrent, args.workers),
            ):
                baseline = run.commands(count, workers)
                time.sleep(3)
                results[label] = (baseline, run.sagas(count, workers))
                time.sleep(3)
        finally:
            run.close()
    print(f"\n{'':52}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'vs command':>11}")

    def chosen(saga: dict[str, Any]) -> list[float]:
        return list(saga["to_ready_email"] if subject else saga["to_saga_completed"])

    for label, (baseline, saga) in results.items():
        print(_row(f"command round trip, {label}", baseline, None))
        print(_row(f"saga to SagaCompleted, {label}", saga["to_saga_completed"], baseline))
        if subject:
            print(_row(f'saga to the "ready" email, {label}', saga["to_ready_email"], baseline))
        print(f"  outcomes: {saga['outcomes']}")
        if saga["why_not_completed"]:
            print(f"  not completed (failed step: reason): {saga['why_not_completed']}")
        values = chosen(saga)
        if values:
            print(
                f"  → {label}: p50 {percentile(values, 0.5) / 1000:.2f} s, "
                f"p95 {percentile(values, 0.95) / 1000:.2f} s to {end_point}"
            )


if __name__ == "__main__":
    main()
