"""The demo `make dev` shows once the stack is up: real flows, through the real parts.

It does what a user would do by hand (the README lists the same steps as curl and gcloud
commands), and every step checks that it ended as it says, within a bounded wait: a step
that did not prints a red line with what it expected and what it saw, and the demo fails
(`up --demo` and `python -m infra.local.demo` exit 1).

1. The sample experts are in the registry (`up` registers them; the demo makes sure).
2. A synthetic DICOM image full of planted PHI is uploaded to the ingest bucket with the
   storage client; ImageAnonymized arrives and the catalogue record is shown. (First, so
   that the PRO purchase's standard dataset has an image to hold.)
3. A PRO subscription is created over HTTP, paid with a card the sandbox declines, then
   with one it approves; its saga must end COMPLETED (data service created, an expert
   assigned, the dataset prepared and DELIVERED), never refunded. The published events are
   shown. The data service is then finished (the expert is free again).
4. A second PRO subscription with the client's data request (its centre's images, copied
   to a bucket) is paid, its saga COMPLETED and the delivered files listed, then finished.

`python -m infra.local.demo [--state-dir DIR]` runs it against a stack started with
`up --detach` (its stack.json in DIR, .local by default).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.local.environment import temporary_environment
from infra.local.stack import DEFAULT_STATE_DIR, LocalStack
from infra.samples.clients import SAMPLE_CLIENT

DEMO_CENTER = "hospital-demo"
COMMAND_SECONDS = 30.0  # a command's outcome (202, then applied or rejected)
EVENT_SECONDS = 30.0  # an upload's ImageAnonymized
SAGA_SECONDS = 120.0  # a PRO saga, from the payment to COMPLETED
_T = TypeVar("_T")


class Steps:
    """Each step of the demo says what it expected and what it saw: a green ✓, or a red ✗
    line naming the step, the expectation and the outcome. The demo fails if any did."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.failed: list[str] = []

    def check(self, title: str, expected: str, seen: str, *, good: bool | None = None) -> bool:
        good = seen == expected if good is None else good
        title, expected, seen = escape(title), escape(expected), escape(seen)
        if good:
            self.console.print(f"[green]✓[/] {title}: {seen}")
        else:
            self.console.print(
                f"[bold red]✗ FAILED: {title}: expected {expected}, saw {seen}[/]", soft_wrap=True
            )
            self.failed.append(title)
        return good

    @property
    def ok(self) -> bool:
        return not self.failed


class _EventWatch:
    def __init__(self, project: str, topic: str) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined,unused-ignore]

        self._subscriber = pubsub_v1.SubscriberClient()
        self.path = self._subscriber.subscription_path(project, f"demo-{uuid.uuid4().hex[:8]}")
        self._subscriber.create_subscription(
            name=self.path, topic=f"projects/{project}/topics/{topic}"
        )

    def drain(self) -> list[dict[str, str]]:
        response = self._subscriber.pull(subscription=self.path, max_messages=100, timeout=5)
        if response.received_messages:
            self._subscriber.acknowledge(
                subscription=self.path, ack_ids=[m.ack_id for m in response.received_messages]
            )
        return [
            dict(m.message.attributes) | {"data": m.message.data.decode()}
            for m in response.received_messages
        ]

    def close(self) -> None:
        self._subscriber.delete_subscription(subscription=self.path)


def _until(probe: Callable[[], _T | None], seconds: float) -> _T | None:
    """The first truthy answer of `probe` within `seconds`, else None."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            return None
        time.sleep(0.3)


def _outcome(http: requests.Session, base: str, door: str, command_id: str) -> dict[str, Any]:
    """What became of a command (its context's queries door), once it is not pending."""

    def ended() -> dict[str, Any] | None:
        answer = http.get(f"{base}/{door}/commands/{command_id}", timeout=10)
        status: dict[str, Any] = answer.json() if answer.ok else {}
        return status if status.get("status") not in (None, "pending") else None

    return _until(ended, COMMAND_SECONDS) or {"status": f"pending after {COMMAND_SECONDS:.0f} s"}


def _said(status: dict[str, Any]) -> str:
    reason = f" ({status['reason']})" if status.get("reason") else ""
    return f"{status.get('status')}{reason}"


def _saga_of(http: requests.Session, base: str, sid: str) -> dict[str, Any] | None:
    """The subscription's saga once it has ended (COMPLETED, COMPENSATED or STUCK)."""

    def ended() -> dict[str, Any] | None:
        answer = http.get(
            f"{base}/sagas_queries_http/sagas", params={"subscription_id": sid}, timeout=10
        )
        items = answer.json().get("items") if answer.ok else None
        saga: dict[str, Any] | None = (items or [None])[0]
        done = saga is not None and saga["status"] in ("COMPLETED", "COMPENSATED", "STUCK")
        return saga if done else None

    return _until(ended, SAGA_SECONDS)


def _saga_said(saga: dict[str, Any] | None) -> str:
    if saga is None:
        return f"no ended saga within {SAGA_SECONDS:.0f} s"
    failure = f" ({saga['failed_step']}: {saga['failure']})" if saga.get("failed_step") else ""
    steps = ", ".join(f"{s['name']}={s['status']}" for s in saga["steps"])
    return f"{saga['status']}{failure} [{steps}]"


def run_demo(stack: LocalStack, console: Console) -> bool:
    """Run every flow; True when every step ended as it says."""
    steps = Steps(console)
    try:
        _experts_step(stack, steps)
        run_ingestion_demo(stack, console, steps)
        run_purchase_demo(stack, console, steps)
        run_dataset_demo(stack, console, steps)
    except Exception as error:  # a flow cut short still names its step, in red
        steps.check("the demo", "to run to its end", f"{type(error).__name__}: {error}", good=False)
    console.rule("[bold]Demo: done")
    if steps.ok:
        console.print("[green]✓ every step ended as it says[/]")
    else:
        console.print(
            f"[bold red]✗ the demo failed: {len(steps.failed)} step(s) did not end as they "
            f"say: {'; '.join(steps.failed)}[/]",
            soft_wrap=True,
        )
    return steps.ok


def _experts_step(stack: LocalStack, steps: Steps) -> None:
    from infra.samples.experts import SeedError

    steps.console.rule("[bold]Demo: the sample experts are in the registry")
    try:
        outcome = stack.seed_samples()
    except (SeedError, requests.RequestException) as error:
        steps.check("the sample experts are registered", "3 experts", str(error), good=False)
        return
    seen = ", ".join(f"{code} {what}" for code, what in (outcome or {}).items())
    steps.check(
        "the sample experts are registered", "3 experts", seen or "no data services door",
        good=bool(outcome),
    )  # fmt: skip


def run_ingestion_demo(stack: LocalStack, console: Console, steps: Steps | None = None) -> bool:
    """Upload one image as a health center would; check the event and the catalogue record."""
    from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]

    from functions.ingestion.domain import Upload
    from infra.samples.synthetic_dicom import make_study

    steps = steps or Steps(console)
    failed = len(steps.failed)
    console.rule("[bold]Demo: a DICOM upload, de-identified, stored and catalogued")
    http = requests.Session()
    with temporary_environment(stack.env):
        watch = _EventWatch(stack.project_id, "ingestion-events")
        try:
            [image] = make_study(
                patient_name="DOE^JANE", n_series=1, n_instances=1, with_sr=False,
                seed=uuid.uuid4().int % 10_000,
            )  # fmt: skip
            data = io.BytesIO()
            image.save_as(data, enforce_file_format=True)
            bucket = storage.Client(project=stack.project_id).bucket(stack.bucket("ingest"))
            blob = bucket.blob(f"{DEMO_CENTER}/{uuid.uuid4().hex[:8]}.dcm")
            blob.metadata = {"pathology": "nodule", "clinical_history": "smoker, 20 years"}
            started = time.perf_counter()
            blob.upload_from_string(data.getvalue(), content_type="application/dicom")
            unit_id = Upload(bucket.name, blob.name, int(blob.generation), 0).unit_id
            console.print(
                f"  uploaded gs://{bucket.name}/{blob.name} (synthetic, PHI planted in its header)"
            )
            event = _wait_for_event(watch, unit_id)
        finally:
            watch.close()
    kind = (event or {}).get("ce-type", "")
    elapsed = (time.perf_counter() - started) * 1000
    image_id = (event or {}).get("ce-subject", "")
    if not steps.check(
        "the upload is de-identified",
        "an ImageAnonymized event",
        f"{kind.removeprefix('co.saludtech.')} {image_id} in {elapsed:.0f} ms"
        if event
        else f"no event within {EVENT_SECONDS:.0f} s",
        good=kind.endswith("image.anonymized.v1"),
    ):
        return False
    answer = http.get(f"{stack.functions_url}/ingestion_queries_http/images/{image_id}", timeout=10)
    record = answer.json() if answer.ok else {}
    console.print("  GET /ingestion_queries_http/images/<image_id> →")
    console.print_json(json.dumps(record))
    steps.check(
        "the image is catalogued",
        f"its record ({image_id})",
        f"{answer.status_code} {record.get('image_id')}",
        good=record.get("image_id") == image_id,
    )
    return len(steps.failed) == failed


def run_purchase_demo(stack: LocalStack, console: Console, steps: Steps | None = None) -> bool:
    """A PRO subscription bought the way a client would: created, paid (a declined card,
    then an approved one); its saga must provision and deliver the data service."""
    steps = steps or Steps(console)
    failed = len(steps.failed)
    base, http = stack.functions_url, requests.Session()
    with temporary_environment(stack.env):
        watch = _EventWatch(stack.project_id, "subscriptions-events")
    try:
        console.rule("[bold]Demo: a PRO subscription, bought end to end")
        commands = [
            ("create a PRO subscription", "/subscriptions",
             {"client": SAMPLE_CLIENT, "plan": "PRO"}, "applied"),
            ("pay with a card the sandbox declines", "/subscriptions/{sid}/payments",
             {"card_token": "tok_declined"}, "applied"),
            ("pay with a card the sandbox approves", "/subscriptions/{sid}/payments",
             {"card_token": "tok_visa"}, "applied"),
            ("change to the plan it already has", "/subscriptions/{sid}/plan",
             {"plan": "PRO"}, "rejected (plan_unchanged)"),
        ]  # fmt: skip
        sid = ""
        started = time.perf_counter()
        for title, path, body, expected in commands:
            url = f"{base}/subscriptions_commands_http{path.format(sid=sid)}"
            began = time.perf_counter()
            answer = http.post(url, json=body, timeout=10)
            if not answer.ok:
                steps.check(title, "202", f"{answer.status_code} {answer.text[:200]}", good=False)
                return False
            accepted = answer.json()
            sid = sid or accepted["subscription_id"]
            status = _outcome(http, base, "subscriptions_queries_http", accepted["command_id"])
            elapsed = (time.perf_counter() - began) * 1000
            seen = _said(status)
            steps.check(
                f"{title} (POST {path.format(sid=sid)} → 202)",
                expected,
                f"{seen} in {elapsed:.0f} ms",
                good=seen == expected,
            )
        saga = _saga_of(http, base, sid)
        elapsed = (time.perf_counter() - started) * 1000
        steps.check(
            "its saga provisions the data service",
            "COMPLETED",
            f"{_saga_said(saga)} in {elapsed:.0f} ms",
            good=saga is not None and saga["status"] == "COMPLETED",
        )
        view = http.get(f"{base}/subscriptions_queries_http/subscriptions/{sid}", timeout=10).json()
        steps.check(
            "the subscription stays paid",
            "status=ACTIVE plan=PRO",
            f"status={view.get('status')} plan={(view.get('plan') or {}).get('code')} "
            f"paid_through={view.get('paid_through')} version={view.get('version')}",
            good=view.get("status") == "ACTIVE" and (view.get("plan") or {}).get("code") == "PRO",
        )
        service_id = (saga or {}).get("facts", {}).get("data_service_id")
        if service_id:
            _check_delivered(http, base, service_id, steps)
        events = _show_events(console, watch, until=lambda types: "payment_refunded" in types)
        refunded = [t for t in events if "payment_refunded" in t]
        steps.check(
            "the payment is kept",
            "no PaymentRefunded event",
            ", ".join(refunded) or "none refunded",
            good=not refunded and any("subscription.paid" in t for t in events),
        )
        if service_id:
            _finish(http, base, service_id, steps)
    finally:
        with temporary_environment(stack.env):
            watch.close()
        http.close()
    return len(steps.failed) == failed


def run_dataset_demo(stack: LocalStack, console: Console, steps: Steps | None = None) -> bool:
    """A PRO subscription whose saga delivers a dataset of the images the demo ingested."""
    steps = steps or Steps(console)
    failed = len(steps.failed)
    console.rule("[bold]Demo: a PRO subscription's saga delivers a dataset")
    base, http = stack.functions_url, requests.Session()
    started = time.perf_counter()
    try:
        client = {**SAMPLE_CLIENT, "code": f"d{uuid.uuid4().hex[:8]}"}
        created = http.post(
            f"{base}/subscriptions_commands_http/subscriptions",
            json={"client": client, "plan": "PRO"},
            timeout=10,
        ).json()
        sid = created["subscription_id"]
        request = {
            "dataset": {"code": "demo", "criteria": {"sources": [DEMO_CENTER]}},
            "cloud": {"code": "demo", "name": "Demo bucket", "type": "bucket"},
            "speciality": "CHEST",
        }  # fmt: skip
        url = f"{base}/data_services_commands_http/subscriptions/{sid}/data-request"
        answer = _until(lambda: (r := http.post(url, json=request, timeout=10)).ok and r, 30)
        if not steps.check(
            f"a data request for {DEMO_CENTER}'s images, delivered to a bucket",
            "202",
            "202" if answer else "refused for 30 s",
            good=bool(answer),
        ):
            return False
        paid = http.post(
            f"{base}/subscriptions_commands_http/subscriptions/{sid}/payments",
            json={"card_token": "tok_visa"},
            timeout=10,
        )
        status = _outcome(http, base, "subscriptions_queries_http", paid.json()["command_id"])
        steps.check("pay with tok_visa", "applied", _said(status))
        saga = _saga_of(http, base, sid)
        elapsed = (time.perf_counter() - started) * 1000
        if not steps.check(
            "its saga delivers the dataset",
            "COMPLETED",
            f"{_saga_said(saga)} in {elapsed:.0f} ms",
            good=saga is not None and saga["status"] == "COMPLETED",
        ):
            return False
        assert saga is not None
        service_id = saga["facts"]["data_service_id"]
        view = _check_delivered(http, base, service_id, steps)
        manifest, delivery = view.get("manifest") or {}, view.get("delivery") or {}
        console.print(
            f"  expert={view.get('expert_code')} images={manifest.get('images')} "
            f"splits={manifest.get('splits')}"
        )
        with temporary_environment(stack.env):
            from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]

            names = [
                b.name
                for b in storage.Client(project=stack.project_id).list_blobs(
                    stack.bucket("delivery"), prefix=f"{service_id}/"
                )
            ]
        for name in names:
            console.print(f"    gs://{stack.bucket('delivery')}/{name}")
        files = {name.removeprefix(f"{service_id}/").split("/")[0] for name in names}
        # A patient's split is a keyed hash (datasets.split_of): the demo's one patient may
        # land in any of them, so the folders expected are the splits the manifest counts.
        splits = sorted(k for k, n in (manifest.get("splits") or {}).items() if n)
        expected = {"manifest.jsonl", "SHA256SUMS", *splits}
        steps.check(
            "the delivered files are in the bucket",
            ", ".join(["manifest.jsonl", "SHA256SUMS", *(f"{s}/" for s in splits)]),
            ", ".join(sorted(files)) or f"nothing ({delivery.get('manifest_uri')})",
            good=bool(splits) and expected <= files,
        )
        # Finished at once, so that a demo run again (`up --persist`) finds a free expert.
        _finish(http, base, service_id, steps)
    finally:
        http.close()
    return len(steps.failed) == failed


def _check_delivered(
    http: requests.Session, base: str, service_id: str, steps: Steps
) -> dict[str, Any]:
    answer = http.get(f"{base}/data_services_queries_http/data-services/{service_id}", timeout=10)
    view: dict[str, Any] = answer.json() if answer.ok else {}
    steps.check(
        f"its data service {service_id[:8]} is delivered",
        "DELIVERED",
        f"{view.get('status') or answer.status_code} (expert {view.get('expert_code')})",
        good=view.get("status") == "DELIVERED",
    )
    return view


def _finish(http: requests.Session, base: str, service_id: str, steps: Steps) -> None:
    answer = http.post(
        f"{base}/data_services_commands_http/data-services/{service_id}/finish",
        json={},
        timeout=10,
    )
    status = (
        _outcome(http, base, "data_services_queries_http", answer.json()["command_id"])
        if answer.ok
        else {"status": answer.status_code}
    )
    steps.check(
        "finish it: the copies are revoked, the expert is free again", "applied", _said(status)
    )


def _wait_for_event(watch: _EventWatch, correlation_id: str) -> dict[str, str] | None:
    deadline = time.monotonic() + EVENT_SECONDS
    while time.monotonic() < deadline:
        for event in watch.drain():
            if event.get("ce-correlationid") == correlation_id:
                return event
    return None


def _show_events(
    console: Console, watch: _EventWatch, until: Callable[[list[str]], bool]
) -> list[str]:
    """Print what the subscription's watch received; the events' types, in order."""
    received: list[dict[str, str]] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        drained = watch.drain()
        received += drained
        if until([e.get("ce-type", "") for e in received]) or (received and not drained):
            break
    table = Table(title="events published on subscriptions-events")
    for column in ("type", "subject", "id", "data"):
        table.add_column(column, overflow="fold")
    for event in received:
        data = json.loads(event["data"])
        summary = {k: data[k] for k in ("plan", "status", "reason", "amount_cents") if k in data}
        table.add_row(
            event.get("ce-type", "").removeprefix("co.saludtech."),
            event.get("ce-subject", "")[:8],
            event.get("ce-id", "")[:8],
            json.dumps(summary),
        )
    console.print(table)
    return [e.get("ce-type", "") for e in received]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.demo",
        description="Run the demo flows against a stack started with `up --detach`; every "
        "step checks its outcome, and the exit status is 1 if one did not end as it says.",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="The stack's state directory, with its stack.json (default: %(default)s).",
    )
    args = parser.parse_args(argv)
    try:
        attached = LocalStack.attach(args.state_dir)
    except FileNotFoundError:
        parser.exit(1, f"No stack described in {args.state_dir / 'stack.json'}: run `up` first.\n")
    os.environ.update(attached.env)
    return 0 if run_demo(attached, Console()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
