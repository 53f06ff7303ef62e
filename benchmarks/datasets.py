"""Datasets: resolving criteria over a 100,000-record catalogue projection, and delivery
throughput beside a raw bucket-to-bucket copy, measured in the same run.

- resolve: select + split + manifest over 100,000 records in process (the domain's own
  cost), then the whole resolution (projection query pages → datasets.select →
  build_manifest) on the Firestore emulator: seconds and documents read, for a broad
  criterion (every CT) and a narrow one (one pathology of one source). The emulator
  writes about 70 documents a second on this machine and scans without indexes, so it
  holds fewer records (--emulator-records).
- deliver: a data service started over HTTP on the local stack, its chunks fanned out and
  copied by the functions, timed from the start command to DELIVERED (objects/s), beside
  the same objects copied bucket-to-bucket by one client here (the raw rate of
  fake-gcs-server on this machine).

    .venv/bin/python benchmarks/datasets.py [--records 100000] [--objects 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support import bench_stack  # noqa: E402
from functions.data_services.datasets import CatalogueRecord, build_manifest, select  # noqa: E402
from functions.data_services.domain import normalized_criteria  # noqa: E402
from functions.data_services.messages import DatasetCriteria  # noqa: E402
from functions.data_services.plans import ALLOWANCES  # noqa: E402
from functions.data_services.projections import Projections  # noqa: E402
from functions.data_services.unit_of_work import Collections  # noqa: E402
from infra.samples.clients import SAMPLE_CLIENT  # noqa: E402
from infra.samples.experts import register_all  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.ports.documents import Page  # noqa: E402
from shared.service.context import database_of  # noqa: E402

DATA_SERVICES_DB = database_of("data_services")  # whose catalogue projection is read

MODALITIES = ("CT", "MR", "CR", "US")
PATHOLOGIES = ("NODULE", "EFFUSION", "FRACTURE", "NORMAL")


def record(index: int, bucket: str = "anon") -> CatalogueRecord:
    return CatalogueRecord(
        image_id=f"img-{index:07d}",
        patient_token=f"pt-{index // 4:06d}",
        study_id=f"st-{index // 4:06d}",
        data_source=f"center-{index % 20:02d}",
        ingested_at=f"2026-{1 + index % 12:02d}-{1 + index % 28:02d}T00:00:{index % 60:02d}.000Z",
        uri=f"gs://{bucket}/img-{index:07d}.dcm",
        size=512,
        sha256=hashlib.sha256(str(index).encode()).hexdigest(),
        modality=MODALITIES[index % 4],
        anatomical_region="CHEST",
        pathology=PATHOLOGIES[index // 4 % 4],
    )


class CountingStore:
    """A DocumentStore that counts the documents its queries return (Firestore bills
    reads per document)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.reads = inner, 0

    def query(self, *args: Any, **kwargs: Any) -> Page:
        page: Page = self.inner.query(*args, **kwargs)
        self.reads += len(page.items)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


CRITERIA = {
    "broad (every CT)": {"modality": "CT"},
    "narrow (CT, one pathology, one source)": {
        "modality": "CT", "pathology": "NODULE", "sources": ["center-04"],
    },
}  # fmt: skip


def resolve(store: Any, collection: str) -> dict[str, dict[str, float]]:
    counting = CountingStore(store)
    projections = Projections(counting, Collections.from_settings(Settings()))
    projections.collections = Collections(
        **{**asdict(projections.collections), "catalogue": collection}
    )
    allowance = ALLOWANCES["ENTERPRISE"]
    results = {}
    for name, fields in CRITERIA.items():
        criteria = normalized_criteria(DatasetCriteria(**fields), allowance)  # type: ignore[arg-type]
        counting.reads = 0
        started = time.perf_counter()
        chosen = select(projections.matching(criteria), criteria, allowance.max_images)
        manifest = build_manifest("bench", chosen, criteria.split)
        seconds = time.perf_counter() - started
        results[name] = {
            "seconds": seconds, "reads": counting.reads, "images": len(manifest.entries),
            "reads_per_second": counting.reads / seconds,
        }  # fmt: skip
    return results


def seed_firestore(client: Any, collection: str, count: int) -> float:
    started = time.perf_counter()
    batch, pending = client.batch(), 0
    for index in range(count):
        r = record(index)
        batch.set(client.collection(collection).document(r.image_id), asdict(r))
        pending += 1
        if pending == 500:
            batch.commit()
            batch, pending = client.batch(), 0
    if pending:
        batch.commit()
    return time.perf_counter() - started


def deliver(stack: Any, objects: int) -> dict[str, float]:
    """Copies made by the functions (start → DELIVERED) beside a raw copy loop here."""
    from google.cloud import firestore, storage  # type: ignore[attr-defined]

    gcs = storage.Client(project=stack.project_id)
    anonymized, delivery = stack.bucket("anonymized"), stack.bucket("delivery")
    db = firestore.Client(project=stack.project_id, database=DATA_SERVICES_DB)
    catalogue = db.collection("data_services_catalogue")
    source = f"bench-{uuid.uuid4().hex[:6]}"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: gcs.bucket(anonymized).blob(f"img-{i:07d}.dcm").upload_from_string(b"x" * 512), range(objects)))  # fmt: skip
    for start in range(0, objects, 500):
        batch = db.batch()
        for index in range(start, min(objects, start + 500)):
            batch.set(
                catalogue.document(f"img-{index:07d}"),
                {**asdict(record(index, anonymized)), "data_source": source},
            )
        batch.commit()

    # Raw: the same objects copied bucket-to-bucket, one client, 8 threads.
    raw_started = time.perf_counter()
    bucket = gcs.bucket(anonymized)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: bucket.copy_blob(bucket.blob(f"img-{i:07d}.dcm"), gcs.bucket(delivery), f"raw/{i}.dcm"), range(objects)))  # fmt: skip
    raw_seconds = time.perf_counter() - raw_started

    base = stack.functions_url
    client_code = f"b{uuid.uuid4().hex[:6]}"
    subscription = requests.post(
        f"{base}/subscriptions_commands_http/subscriptions",
        json={"client": {**SAMPLE_CLIENT, "code": client_code}, "plan": "ENTERPRISE"}, timeout=30,
    ).json()  # fmt: skip
    register_all(base)
    doors, views = f"{base}/data_services_commands_http", f"{base}/data_services_queries_http"
    body = {
        "subscription_id": subscription["subscription_id"],
        "client": {"code": client_code, "first_names": "Ana", "last_names": "Rojas", "username": "arojas"},
        "plan": {"code": "ENTERPRISE"}, "cloud": {"code": "c", "type": "bucket"},
        "dataset": {"code": "bench", "criteria": {"sources": [source]}},
    }  # fmt: skip
    for _ in range(100):  # the subscription's projection arrives through the bridge
        created = requests.post(f"{doors}/data-services", json=body, timeout=30)
        if created.status_code == 202:
            break
        time.sleep(0.2)
    service_id = created.json()["subject"]
    _wait(views, service_id, {"CREATED"})
    requests.post(f"{doors}/data-services/{service_id}/expert", json={}, timeout=30)
    _wait(views, service_id, {"EXPERT_ASSIGNED"})
    started = time.perf_counter()  # the resolution (prepare) and the delivery (start)
    requests.post(f"{doors}/data-services/{service_id}/dataset", json={}, timeout=30)
    for _ in range(3000):
        if requests.get(f"{views}/data-services/{service_id}", timeout=30).json().get("manifest"):
            break
        time.sleep(0.2)
    requests.post(f"{doors}/data-services/{service_id}/start", json={}, timeout=30)
    view = _wait(views, service_id, {"DELIVERED", "FAILED"}, timeout=900)
    seconds = time.perf_counter() - started
    return {
        "objects": objects, "status": view["status"],
        "pipeline_seconds": seconds, "pipeline_objects_per_second": objects / seconds,
        "raw_seconds": raw_seconds, "raw_objects_per_second": objects / raw_seconds,
    }  # fmt: skip


def _wait(views: str, service_id: str, states: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(f"{views}/data-services/{service_id}", timeout=30)
        view: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        if view.get("status") in states or time.monotonic() > deadline:
            return view
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--emulator-records", type=int, default=5_000)
    parser.add_argument("--objects", type=int, default=1_000)
    parser.add_argument("--no-stack", action="store_true", help="only what runs in process")
    args = parser.parse_args()

    catalogue = [record(index) for index in range(args.records)]
    allowance = ALLOWANCES["ENTERPRISE"]
    print(f"select + split + manifest over {args.records} records, in process (no store)")
    for name, fields in CRITERIA.items():
        criteria = normalized_criteria(DatasetCriteria(**fields), allowance)  # type: ignore[arg-type]
        started = time.perf_counter()
        manifest = build_manifest(
            "bench", select(catalogue, criteria, allowance.max_images), criteria.split
        )
        seconds = time.perf_counter() - started
        print(f"  {name:42} {len(manifest.entries):>7} images {seconds:7.2f} s")

    if args.no_stack:
        return
    with bench_stack() as stack:
        from google.cloud import firestore

        from shared.adapters.firestore_store import FirestoreDocumentStore

        client = firestore.Client(project=stack.project_id, database=DATA_SERVICES_DB)
        # The emulator writes about 70 documents a second here: 100,000 would take 25 min.
        seeded = seed_firestore(client, "bench_catalogue", args.emulator_records)
        print(
            f"resolve over {args.emulator_records} records, Firestore emulator"
            f" (seeded in {seeded:.0f} s)"
        )
        for name, row in resolve(FirestoreDocumentStore(client), "bench_catalogue").items():
            print(
                f"  {name:42} {row['images']:>7} images {row['seconds']:7.2f} s {row['reads']:>7} reads"
                f" ({row['reads_per_second']:,.0f} reads/s)"
            )
        result = deliver(stack, args.objects)
        print(f"deliver {result['objects']} objects on the local stack ({result['status']})")
        print(f"  raw copy, 8 threads here       {result['raw_objects_per_second']:8.1f} objects/s")
        print(f"  pipeline, start → DELIVERED    {result['pipeline_objects_per_second']:8.1f} objects/s"
              f"  ({result['pipeline_objects_per_second'] / result['raw_objects_per_second']:.0%} of raw)")  # fmt: skip


if __name__ == "__main__":
    main()
