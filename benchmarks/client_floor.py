"""What one request costs the calling function in CPU, per kind of request the product
makes, through the Google client libraries the functions use, against the local stack's
emulators; and what that puts under an image's function CPU.

Issue 23 asks for at most 5 ms of function CPU per ingested image (no burned-in check).
The engine takes about 0.6 ms; the rest is the requests the two functions of an image make
(ingestion-on-upload, data-services-project-image: `docs/capacity.md`, "Measured, per
unit") and receiving their two pushes. This script prices each of those requests in CPU of
this process (`time.process_time`: every thread, the clients' background ones included),
beside a baseline measured in the same run: one bare HTTP/1.1 request on a kept-alive
connection (`http.client`) to the same GCS front, the least any request from Python costs.

    .venv/bin/python -m benchmarks.client_floor [--count 300]
"""

from __future__ import annotations

import argparse
import http.client
import os
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from benchmarks.support import bench_stack


def cpu_ms(call: Callable[[], Any], count: int) -> float:
    for _ in range(min(10, count)):  # connections, channels, caches
        call()
    started = time.process_time()
    for _ in range(count):
        call()
    return (time.process_time() - started) * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="requests of each kind")
    args = parser.parse_args()
    with bench_stack() as stack:
        from google.cloud import firestore, storage  # type: ignore[attr-defined]

        from shared.adapters.gcs_blob_store import GcsBlobStore
        from shared.adapters.pubsub_publisher import PubSubPublisher

        front = urlsplit(os.environ["STORAGE_EMULATOR_HOST"])
        bare = http.client.HTTPConnection(front.hostname or "127.0.0.1", front.port)
        bucket_name = stack.bucket("anonymized")

        def bare_request() -> None:
            bare.request("GET", f"/storage/v1/b/{bucket_name}")
            bare.getresponse().read()

        blobs = GcsBlobStore(storage.Client(project=stack.project_id))
        data = os.urandom(139 * 1024)
        blobs.write(bucket_name, "source", data)
        db = firestore.Client(project=stack.project_id, database="saludtech-ingestion")
        documents = db.collection("client-floor")
        documents.document("present").set({"x": 1})

        def transaction(reads: int, writes: int) -> Callable[[], None]:
            @firestore.transactional
            def body(tx: Any) -> None:
                refs = [documents.document(uuid.uuid4().hex) for _ in range(max(reads, writes))]
                list(tx.get_all(refs[:reads]))
                for ref in refs[:writes]:
                    tx.set(ref, {"a": 1, "b": "x" * 200})

            return lambda: body(db.transaction())

        def write_then_delete() -> None:
            name = uuid.uuid4().hex
            info = blobs.write(bucket_name, name, b"x")
            blobs.delete(bucket_name, name, generation=info.generation)

        def write_one() -> None:
            blobs.write(bucket_name, uuid.uuid4().hex, data)

        publisher = PubSubPublisher(stack.project_id)

        baseline = cpu_ms(bare_request, args.count)
        # The requests one CT slice's two functions make, one of each (the counting
        # adapters' figures for a slice uploaded alone: docs/capacity.md).
        measured = {
            "gcs: read the upload (139 KiB)": cpu_ms(
                lambda: blobs.read_bytes(bucket_name, "source"), args.count
            ),
            "firestore: get one document (catalogued?)": cpu_ms(
                lambda: documents.document("present").get(), args.count
            ),
            "gcs: write the anonymized copy (139 KiB)": cpu_ms(write_one, args.count),
            # inbox + catalogue record + outbox
            "firestore: transaction, read 2, write 3": cpu_ms(transaction(2, 3), args.count),
            "pubsub: publish one event": cpu_ms(
                lambda: publisher.publish_raw("ingestion-events", b"x" * 900, {"ce-type": "bench"}),
                args.count,
            ),
            # data services' projection of the image
            "firestore: transaction, read 1, write 1": cpu_ms(transaction(1, 1), args.count),
        }
        # A delete alone: the write of the 1-byte object it needs first is priced apart.
        small_write = cpu_ms(lambda: blobs.write(bucket_name, uuid.uuid4().hex, b"x"), 100)
        measured["gcs: delete the upload (generation match)"] = max(
            cpu_ms(write_then_delete, 100) - small_write, 0.0
        )
    print(f"CPU of this process per request, {args.count} of each, {os.cpu_count()} cores")
    print(f"{'request (one of each per CT slice)':46}{'CPU ms':>9}{'÷ bare HTTP':>13}")
    print(f"{'bare HTTP/1.1 request (baseline)':46}{baseline:>9.2f}{1:>13.1f}")
    for label, cost in measured.items():
        print(f"{label:46}{cost:>9.2f}{cost / baseline:>13.1f}")
    floor = sum(measured.values())
    print(
        f"\nrequests of one CT slice's functions: {floor:.1f} ms of client CPU "
        f"({floor / baseline:.0f} bare requests), before receiving its two pushes and "
        f"de-identifying it; issue 23's goal for the whole: 5 ms"
    )


if __name__ == "__main__":
    main()
