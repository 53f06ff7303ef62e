"""What the ingestion queries door answers: its read models, part of the context's published
contract with messages.py. The door (doors.py) answers them and generates its
GET /openapi.json from them; the api (functions/api/context_views.py) reads the door's
answers into the same models, so the two cannot drift.
"""

from __future__ import annotations

from functions.ingestion.messages import PixelCleaningSummary
from shared.entrypoints.door_app import ReadModel


class ImageView(ReadModel):
    """A catalogue record, without its clinical history."""

    image_id: str | None
    patient_token: str | None
    study_id: str | None
    series_id: str | None
    modality: str | None
    anatomical_region: str | None
    pathology: str | None
    image_format: str | None
    data_source: str | None
    uri: str | None
    size: int | None
    sha256: str | None
    profile: str | None
    options: list[str] | None
    ingested_at: str | None
    package_id: str | None
    pixel_cleaning: PixelCleaningSummary | None
    has_clinical_history: bool


class RejectionView(ReadModel):
    """An upload a center sent that was quarantined, and why."""

    rejection_id: str | None
    reason: str | None
    detail: str | None
    package_id: str | None
    entry_index: int | None
    rejected_at: str | None
    data_source: str | None
