"""The demo `make dev` shows once the stack is up: a real flow, through the real parts.

It does what a user would do by hand (the README lists the same steps as curl and gcloud
commands): create a PRO subscription over HTTP, pay it with a card the sandbox declines, pay
it again with one it approves, and shows the command outcomes, the stored subscription and
the events that were published, as they arrive. Then it uploads a synthetic DICOM image
full of planted PHI to the ingest bucket with the storage client, waits for ImageAnonymized
and shows the catalogue record. Last, a dataset of that image is delivered: the sample
experts registered, a second PRO subscription with the client's data request (its centre's
images, copied to a bucket), paid, and its saga (data service, expert and dataset in
parallel, delivery) shown with the delivered files. `python -m infra.local.demo` runs it
against a stack started with `up --detach`.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

from infra.local.environment import temporary_environment
from infra.local.stack import LocalStack
from infra.samples.clients import SAMPLE_CLIENT
from infra.samples.experts import register_all

DEMO_CENTER = "hospital-demo"


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


def _wait(http: requests.Session, base: str, command_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status: dict[str, Any] = http.get(
            f"{base}/subscriptions_queries_http/commands/{command_id}", timeout=10
        ).json()
        if status.get("status") != "pending":
            return status
        time.sleep(0.05)
    return {"status": "pending (timed out)"}


def run_demo(stack: LocalStack, console: Console) -> bool:
    """Run the flow; True when every step did what it should."""
    base, http = stack.functions_url, requests.Session()
    watch = _EventWatch(stack.project_id, "subscriptions-events")
    ok = True
    try:
        console.rule("[bold]Demo: a PRO subscription, end to end")
        steps = [
            (
                "create a PRO subscription",
                "/subscriptions",
                {"client": SAMPLE_CLIENT, "plan": "PRO"},
                "applied",
            ),
            (
                "pay with a card the sandbox declines",
                "/subscriptions/{sid}/payments",
                {"card_token": "tok_declined"},
                "applied",
            ),
            (
                "pay with a card the sandbox approves",
                "/subscriptions/{sid}/payments",
                {"card_token": "tok_visa"},
                "applied",
            ),
            (
                "change to the plan it already has",
                "/subscriptions/{sid}/plan",
                {"plan": "PRO"},
                "rejected",
            ),
        ]
        sid = ""
        for title, path, body, expected in steps:
            url = f"{base}/subscriptions_commands_http{path.format(sid=sid)}"
            started = time.perf_counter()
            accepted = http.post(url, json=body, timeout=10).json()
            sid = sid or accepted["subscription_id"]
            status = _wait(http, base, accepted["command_id"])
            elapsed = (time.perf_counter() - started) * 1000
            good = status.get("status") == expected
            ok &= good
            mark = "[green]✓" if good else "[red]✗"
            reason = f" ({status['reason']})" if status.get("reason") else ""
            console.print(
                f"{mark}[/] {title}: POST {path.format(sid=sid)} → 202, "
                f"then {status.get('status')}{reason} in {elapsed:.0f} ms"
            )
        view = http.get(f"{base}/subscriptions_queries_http/subscriptions/{sid}", timeout=10).json()
        console.print(
            f"  stored: status={view['status']} plan={view['plan']['code']} "
            f"paid_through={view['paid_through']} version={view['version']}"
        )
        _show_events(console, watch, expected=5)
    finally:
        watch.close()
        http.close()
    ingested = run_ingestion_demo(stack, console)
    return ingested and run_dataset_demo(stack, console) and ok


def run_ingestion_demo(stack: LocalStack, console: Console) -> bool:
    """Upload one image as a health center would; show the event and the catalogue record."""
    from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]

    from functions.ingestion.domain import Upload
    from infra.samples.synthetic_dicom import make_study

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
    if event is None or not event.get("ce-type", "").endswith("image.anonymized.v1"):
        console.print("[red]✗[/] no ImageAnonymized event within 30 s")
        return False
    elapsed = (time.perf_counter() - started) * 1000
    image_id = event.get("ce-subject", "")
    console.print(f"[green]✓[/] ImageAnonymized {image_id} in {elapsed:.0f} ms")
    record = http.get(
        f"{stack.functions_url}/ingestion_queries_http/images/{image_id}", timeout=10
    ).json()
    console.print("  GET /ingestion_queries_http/images/<image_id> →")
    console.print_json(json.dumps(record))
    return bool(record.get("image_id") == image_id)


def run_dataset_demo(stack: LocalStack, console: Console) -> bool:
    """A PRO subscription whose saga delivers a dataset of the images the demo ingested."""
    console.rule("[bold]Demo: a PRO subscription's saga delivers a dataset")
    base, http = stack.functions_url, requests.Session()
    started = time.perf_counter()
    try:
        register_all(base)
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
        if not answer:
            console.print("[red]✗[/] the data request was not accepted")
            return False
        console.print(f"  data request for {DEMO_CENTER}'s images, delivered to a bucket → 202")
        http.post(
            f"{base}/subscriptions_commands_http/subscriptions/{sid}/payments",
            json={"card_token": "tok_visa"},
            timeout=10,
        )
        console.print("  paid with tok_visa; the saga runs")
        sagas = f"{base}/sagas_queries_http/sagas"

        def ended() -> dict[str, Any] | None:
            page = http.get(sagas, params={"subscription_id": sid}, timeout=10).json()
            saga: dict[str, Any] | None = (page.get("items") or [None])[0]
            done = saga and saga["status"] in ("COMPLETED", "COMPENSATED", "STUCK")
            return saga if done else None

        saga = _until(ended, 120)
        if not saga:
            console.print("[red]✗[/] the saga did not end within 120 s")
            return False
        steps = ", ".join(f"{s['name']}={s['status']}" for s in saga["steps"])
        elapsed = (time.perf_counter() - started) * 1000
        good = saga["status"] == "COMPLETED"
        mark = "[green]✓" if good else "[red]✗"
        console.print(f"{mark}[/] saga {saga['status']} in {elapsed:.0f} ms: {steps}")
        service_id = saga["facts"]["data_service_id"]
        view = http.get(
            f"{base}/data_services_queries_http/data-services/{service_id}", timeout=10
        ).json()
        manifest, delivery = view.get("manifest") or {}, view.get("delivery") or {}
        console.print(
            f"  data service: status={view.get('status')} expert={view.get('expert_code')} "
            f"images={manifest.get('images')} splits={manifest.get('splits')}"
        )
        console.print(
            f"  delivered: {delivery.get('manifest_uri')}, {delivery.get('checksums_uri')}"
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
        # Finished at once, so that a demo run again (`up --persist`) finds a free expert.
        http.post(
            f"{base}/data_services_commands_http/data-services/{service_id}/finish",
            json={},
            timeout=10,
        )
        console.print("  finished: the copies are revoked, the expert is free again")
        return bool(good and view.get("status") == "DELIVERED")
    finally:
        http.close()


def _until(probe: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    return None


def _wait_for_event(watch: _EventWatch, correlation_id: str) -> dict[str, str] | None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for event in watch.drain():
            if event.get("ce-correlationid") == correlation_id:
                return event
    return None


def _show_events(console: Console, watch: _EventWatch, expected: int) -> None:
    received: list[dict[str, str]] = []
    deadline = time.monotonic() + 10
    while len(received) < expected and time.monotonic() < deadline:
        received += watch.drain()
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


if __name__ == "__main__":
    attached = LocalStack.attach()
    os.environ.update(attached.env)
    raise SystemExit(0 if run_demo(attached, Console()) else 1)
