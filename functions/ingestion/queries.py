"""Read side of the catalogue (original: ObtenerImagenAnonimizada): one image, or a page;
and a center's quarantine (the uploads it sent that were rejected), newest first.

Clinical history is never returned, not even encrypted: the catalogue's readers are the
clients who buy data, and the history is for the platform's own curation only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.domain.clock import rfc3339
from shared.domain.errors import PermanentError
from shared.ports.documents import Document, DocumentStore, Filter, Operator
from shared.service.pagination import newest_first, refuse_unknown_parameters

QUERY_PARAMETERS = frozenset(
    {"modality", "anatomical_region", "pathology", "center", "ingested_from", "ingested_to",
     "limit", "cursor"}
)  # fmt: skip
# Query parameter -> stored field; values are compared upper-cased, as they are stored.
EQUALITY_FILTERS = {
    "modality": "modality",
    "anatomical_region": "anatomical_region",
    "pathology": "pathology",
    "center": "data_source",
}
_PUBLIC_FIELDS = (
    "image_id", "patient_token", "study_id", "series_id", "modality", "anatomical_region",
    "pathology", "image_format", "data_source", "uri", "size", "sha256", "profile",
    "options", "ingested_at", "package_id", "pixel_cleaning",
)  # fmt: skip


_REJECTION_FIELDS = (
    "rejection_id", "reason", "detail", "package_id", "entry_index", "rejected_at", "data_source",
)  # fmt: skip


def image_view(document: Document) -> dict[str, Any]:
    view = {name: document.get(name) for name in _PUBLIC_FIELDS}
    view["has_clinical_history"] = bool(document.get("clinical_history_encrypted"))
    return view


def get_image(store: DocumentStore, collection: str, image_id: str) -> dict[str, Any] | None:
    document = store.get(collection, image_id)
    return image_view(document) if document else None


def _instant(raw: str, parameter: str) -> str:
    """An ISO date or date-time as the stored form (UTC, milliseconds, Z)."""
    try:
        moment = datetime.fromisoformat(raw[:40])
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # Year 1 at +14:00 or year 9999 at -14:00 has no UTC instant: OverflowError.
        return rfc3339(moment)
    except (ValueError, OverflowError) as error:
        raise PermanentError(
            "invalid_date", "use an ISO 8601 date or date-time in years 1 to 9999", field=parameter
        ) from error


def _normal(name: str, value: str) -> str:
    # Codes are stored upper-cased; a center id is stored as the center named it.
    return value.strip() if name == "center" else value.strip().upper()


def list_images(
    store: DocumentStore,
    collection: str,
    parameters: Mapping[str, str],
    *,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Newest first. ingested_from is inclusive, ingested_to exclusive. Needs the composite
    indexes declared in infra/topology.yaml (each filter field with ingested_at DESC)."""
    refuse_unknown_parameters(parameters, set(QUERY_PARAMETERS))
    where = [
        Filter(stored, "==", _normal(name, parameters[name]))
        for name, stored in EQUALITY_FILTERS.items()
        if parameters.get(name, "").strip()
    ]
    ranges: tuple[tuple[str, Operator], ...] = (("ingested_from", ">="), ("ingested_to", "<"))
    for parameter, op in ranges:
        if parameters.get(parameter):
            where.append(Filter("ingested_at", op, _instant(parameters[parameter], parameter)))
    return newest_first(
        store, collection, where, order_by="ingested_at", view=image_view, limit=limit,
        cursor=cursor,
    )  # fmt: skip


def rejection_view(document: Document) -> dict[str, Any]:
    return {name: document.get(name) for name in _REJECTION_FIELDS}


def rejections_of_center(
    store: DocumentStore, collection: str, center: str, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """A center's quarantined uploads, newest first. Needs the composite index
    (data_source ASC, rejected_at DESC)."""
    return newest_first(
        store, collection, [Filter("data_source", "==", center)], order_by="rejected_at",
        view=rejection_view, limit=limit, cursor=cursor,
    )  # fmt: skip
