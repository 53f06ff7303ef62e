"""Builders of valid data_services messages and catalogue images, so each test states only
what it varies."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from functions.bootstrap import InMemoryPlatform
from functions.data_services.messages import (
    ClientRef,
    CloudPlace,
    CloudRef,
    CreateDataService,
    CreateDataServiceV2,
    DatasetCriteria,
    DatasetSpec,
    PlanRef,
    RegisterExpert,
)
from functions.ingestion.messages import ImageAnonymized
from functions.subscriptions.messages import SubscriptionCreated
from infra.samples.experts import SAMPLE_EXPERTS

ANONYMIZED = "saludtech-local-anonymized"
DELIVERY = "saludtech-local-delivery"
CLIENT_CODE = "0001"
# The client as only the deprecated CreateDataService v1 named it.
CLIENT_V1 = ClientRef(code=CLIENT_CODE, first_names="Pablo", last_names="Perez", username="pperez")


def create_command(
    *,
    subscription_id: str = "sub-1",
    plan: str = "PRO",
    cloud_type: str = "bucket",
    expert_code: str | None = None,
    client_code: str = CLIENT_CODE,
    cloud: dict[str, str] | None = None,
    **criteria: Any,
) -> CreateDataServiceV2:
    return CreateDataServiceV2(
        data_service_id=f"ds-{uuid.uuid4().hex[:12]}",
        subscription_id=subscription_id,
        client_code=client_code,
        plan=PlanRef(code=plan, name=plan.title()),
        cloud=CloudRef(code="c1", name="client bucket", type=cloud_type),
        cloud_place=CloudPlace(**cloud) if cloud else None,
        dataset=DatasetSpec(code="chest-ct", name="Chest CT", criteria=DatasetCriteria(**criteria)),
        expert_code=expert_code,
    )


def create_command_v1(**changes: Any) -> CreateDataService:
    """The same command as a v1 one already on the topic, with the client's names."""
    v2 = create_command(**changes)
    client = CLIENT_V1.model_copy(update={"code": v2.client_code})
    fields = v2.model_dump(exclude={"client_code", "cloud_place"})
    return CreateDataService(**fields, client=client)


def register_command(index: int = 0, **changes: Any) -> RegisterExpert:
    return RegisterExpert(**{**SAMPLE_EXPERTS[index], **changes})


def subscription_created(
    subscription_id: str = "sub-1", client_code: str = "0001"
) -> SubscriptionCreated:
    return SubscriptionCreated(
        subscription_id=subscription_id,
        client_code=client_code,
        client_email="pperez@example.com",
        plan="PRO",
        price_cents=49_900,
        currency="USD",
        billing_period="monthly",
        provisions_data_service=True,
        status="PENDING_PAYMENT",
        created_at="2026-12-01T10:00:00.000Z",
    )


def image_event(
    index: int,
    *,
    patient: str | None = None,
    modality: str = "CT",
    region: str = "CHEST",
    pathology: str | None = "NODULE",
    source: str = "hospital-1",
    day: int = 1,
) -> ImageAnonymized:
    image_id = f"img-{index:06d}"
    data = f"pixels of {image_id}".encode()
    return ImageAnonymized(
        image_id=image_id,
        patient_token=patient or f"pt-{index // 3:05d}",
        study_id=f"st-{index // 3:05d}",
        series_id="se-1",
        modality=modality,
        anatomical_region=region,
        pathology=pathology,
        image_format="DICOM",
        data_source=source,
        uri=f"gs://{ANONYMIZED}/{image_id}.dcm",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        ingested_at=f"2026-11-{day:02d}T10:{index // 60 % 60:02d}:{index % 60:02d}.000Z",
    )


def store_image(platform: InMemoryPlatform, event: ImageAnonymized) -> None:
    """The anonymized object an ImageAnonymized names, as ingestion left it."""
    platform.blobs.write(
        ANONYMIZED,
        event.uri.split("/", 3)[3],
        f"pixels of {event.image_id}".encode(),
        create_only=False,
    )
