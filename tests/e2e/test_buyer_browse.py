"""Before buying, on the emulators: ImageAnonymized events of a fresh data source published
on ingestion-events → data services' catalogue projection → a client's counts and quote
through the api (its doors over HTTP: data services' and subscriptions' query doors)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
import requests

from functions.identity.messages import Role
from functions.ingestion.messages import ImageAnonymized
from shared.adapters.pubsub_publisher import PubSubPublisher
from shared.ports.envelope import Envelope
from tests.e2e.conftest import STACK_SEALER
from tests.e2e.test_api_flow import api_url, login, register, until

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
PATIENTS, IMAGES_EACH = 12, 2  # above the default minimum cell size (10 patients)


def image(source: str, patient: int, index: int) -> ImageAnonymized:
    image_id = f"{source}-img-{patient:02d}-{index}"
    return ImageAnonymized(
        image_id=image_id, patient_token=f"{source}-pt-{patient:02d}",
        study_id=f"{source}-st-{patient:02d}", series_id="se-1", modality="CT",
        anatomical_region="CHEST", pathology="NODULE" if patient % 2 else None,
        image_format="DICOM", data_source=source, uri=f"gs://anonymized/{image_id}.dcm",
        size=300_000, sha256=hashlib.sha256(image_id.encode()).hexdigest(),
        ingested_at=f"2026-11-01T10:{patient:02d}:{index:02d}.000Z",
    )  # fmt: skip


def test_a_client_browses_the_catalogue_then_quotes_a_dataset(stack: Any) -> None:
    source = f"center-{uuid.uuid4().hex[:8]}"  # this test's images only
    envelopes = [
        Envelope(payload=image(source, patient, index), source="/tests/e2e")
        for patient in range(PATIENTS)
        for index in range(IMAGES_EACH)
    ]
    PubSubPublisher(stack.project_id, sealer=STACK_SEALER).publish("ingestion-events", envelopes)
    auth = login(stack, register(Role.CLIENT, uuid.uuid4().hex[:8]))
    base = api_url(stack)

    def counts(**query: str) -> dict[str, Any]:
        answer = requests.get(
            f"{base}/v1/catalogue/counts", params={"sources": source, **query}, headers=auth,
            timeout=30,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    total = until(lambda: (found := counts())["total"]["images"] == 20 and found, 45)
    assert total, "the catalogue projection did not get the images"
    # 24 images, 12 studies of 12 patients: rounded down to a multiple of 5.
    assert total["total"] == {
        "suppressed": False, "images": 20, "studies": 10, "patients": 10, "below": None,
    }  # fmt: skip
    by_pathology = counts(group_by="pathology")["groups"]
    # 6 patients with a nodule, 6 without a pathology: both under 10, merged and shown.
    assert [(g["value"], g["other"], g["patients"]) for g in by_pathology] == [(None, True, 10)]
    assert counts(pathology="nodule")["total"]["suppressed"]

    quote = requests.post(
        f"{base}/v1/quotes", headers=auth, timeout=30,
        json={"plan": "PRO", "criteria": {"sources": [source], "max_per_patient": 1}},
    )  # fmt: skip
    assert quote.status_code == 200, quote.text
    assert (quote.json()["images"], quote.json()["patients"]) == (10, 10)  # 12 each
    assert quote.json()["price"]["code"] == "PRO" and quote.json()["price"]["price_cents"] > 0
    small = requests.post(
        f"{base}/v1/quotes", headers=auth, timeout=30,
        json={"plan": "PRO", "criteria": {"sources": [source], "pathology": "nodule"}},
    )  # fmt: skip
    assert (small.status_code, small.json()["error"]["reason"]) == (422, "dataset_too_small")
