"""Builders for ingestion tests: synthetic DICOM bytes, zips, and finalized CloudEvents."""

from __future__ import annotations

import io
import itertools
import zipfile
from typing import Any

from cloudevents.http import CloudEvent
from pydicom.dataset import Dataset

from functions.bootstrap import InMemoryPlatform
from functions.ingestion import pipeline as names
from infra.samples.synthetic_dicom import make_study
from tests.support.cloud_events import binary_event

_events = itertools.count(1)


def dicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def study(n_instances: int = 1, seed: int = 7, **options: Any) -> list[bytes]:
    """Single-frame images of one series, full of planted PHI."""
    datasets = make_study(n_series=1, n_instances=n_instances, with_sr=False, seed=seed, **options)
    return [dicom_bytes(ds) for ds in datasets]


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(
    p: InMemoryPlatform,
    name: str,
    data: bytes,
    metadata: dict[str, str] | None = None,
    content_type: str = "application/dicom",
) -> CloudEvent:
    """Store `data` in the ingest bucket; return the finalized event Eventarc would send."""
    blobs = p.blobs
    bucket = p.settings.bucket(names.INGEST_BUCKET)
    info = blobs.write(
        bucket, name, data, create_only=False, content_type=content_type, metadata=metadata
    )
    return finalized_event(bucket, name, info.generation, len(data), metadata, content_type)


def deliver_upload(event: CloudEvent) -> None:
    """Hand ingestion_on_upload the finalized event as Eventarc (and the local bridge) POST
    it; its TransientError propagates, as the 500 the platform would see."""
    from functions.ingestion.entrypoints import ingestion_on_upload

    response = ingestion_on_upload(binary_event(event))
    assert response.status_code == 204, response.get_data()


def finalized_event(
    bucket: str,
    name: str,
    generation: int,
    size: int,
    metadata: dict[str, str] | None = None,
    content_type: str = "application/dicom",
    event_id: str | None = None,
) -> CloudEvent:
    return CloudEvent(
        {
            "type": "google.cloud.storage.object.v1.finalized",
            "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            "subject": f"objects/{name}",
            "id": event_id or f"evt-{next(_events)}",
        },
        {
            "bucket": bucket,
            "name": name,
            "generation": str(generation),
            "size": str(size),
            "contentType": content_type,
            "metadata": metadata or {},
        },
    )
