"""What the data_services queries door answers: its read models, part of the context's
published contract with messages.py. The door (doors.py) answers them and generates its
GET /openapi.json from them; the api (functions/api/context_views.py) reads the door's
answers into the same models, so the two cannot drift.
"""

from __future__ import annotations

from functions.data_services.domain import Status
from functions.data_services.messages import CloudTarget, DatasetCriteria
from shared.entrypoints.door_app import ReadModel


class ClientCode(ReadModel):
    """The client by code only (also of a service a v1 command created with names)."""

    code: str


class DatasetView(ReadModel):
    code: str
    name: str
    criteria: DatasetCriteria


class ManifestSummaryView(ReadModel):
    """The frozen manifest the service delivers."""

    manifest_id: str
    images: int
    patients: int
    chunks: int
    bytes: int
    splits: dict[str, int]
    digest: str


class DeliveryView(ReadModel):
    objects: int
    bytes: int
    manifest_uri: str
    checksums_uri: str
    delivered_at: str
    links_uri: str | None = None
    links_expire_at: str | None = None


class ProgressView(ReadModel):
    """One record per chunk delivered (and revoked)."""

    chunks: int
    chunks_delivered: int
    objects_delivered: int
    objects_copied: int
    chunks_revoked: int


class DataServiceView(ReadModel):
    data_service_id: str
    subscription_id: str
    client: ClientCode
    plan: str
    cloud: CloudTarget
    dataset: DatasetView
    speciality: str
    status: Status
    expert_code: str | None
    created_at: str
    assigned_at: str | None
    prepared_at: str | None
    started_at: str | None
    ended_at: str | None
    end_reason: str | None
    manifest: ManifestSummaryView | None
    delivery: DeliveryView | None
    version: int
    # Only on GET /data-services/<id>, once the manifest is frozen.
    progress: ProgressView | None = None


class ManifestEntryView(ReadModel):
    image_id: str
    patient_token: str
    study_id: str
    split: str
    uri: str
    sha256: str
    size: int
    modality: str | None
    anatomical_region: str | None
    pathology: str | None


class ManifestPage(ReadModel):
    manifest_id: str
    chunk: int
    entries: list[ManifestEntryView]
    next_chunk: int | None


class ExpertView(ReadModel):
    """An expert of the registry, without the person behind the code (national id and
    email stay in storage)."""

    expert_code: str
    first_names: str
    last_names: str
    username: str
    specialities: list[str]
    capacity: int
    registered_at: str
    assignments: list[str]
    load: int
