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
# Never answered: the clinical history (above) and the instance key, the platform-internal
# link between centers' copies of one instance (docs/decisions/0013-referrals.md).


_REJECTION_FIELDS = (
    "rejection_id", "reason", "detail", "package_id", "entry_index", "rejected_at", "data_source",
    "review", "reviewed_at", "released_as",
)  # fmt: skip


def image_view(document: Document) -> dict[str, Any]:
    view = {name: document.get(name) for name in _PUBLIC_FIELDS}
    view["has_clinical_history"] = bool(document.get("clinical_history_encrypted"))
    # The upload the image came from (its package, or the object), for the center's view.
    view["upload_id"] = document.get("package_id") or document.get("source_unit_id")
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


def quarantine(
    store: DocumentStore, collection: str, center: str | None, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Every center's quarantined uploads (or one's), newest first, for an operator's
    review (single-field order, or the (data_source, rejected_at DESC) index)."""
    where = [Filter("data_source", "==", center)] if center else []
    return newest_first(
        store, collection, where, order_by="rejected_at", view=rejection_view, limit=limit,
        cursor=cursor,
    )  # fmt: skip


# -- a center's view of its uploads and studies (docs/ingestion.md, "A center's view") ------
UPLOAD_STATUSES = frozenset(
    {"received", "deidentified", "duplicate", "quarantined", "released", "discarded", "complete"}
)
_UPLOAD_FIELDS = (
    "upload_id", "data_source", "kind", "status", "received_at", "updated_at", "image_id",
    "study_id", "study_ids", "reason", "detail", "entry_count", "released_as",
)  # fmt: skip
STUDY_IMAGES_SHOWN = 500


def upload_view(document: Document) -> dict[str, Any]:
    return {name: document.get(name) for name in _UPLOAD_FIELDS}


def upload_of(
    store: DocumentStore, uploads: str, entries: str, rejections: str, *, upload_id: str,
    center: str,
) -> dict[str, Any] | None:  # fmt: skip
    """One upload of `center` (None for another center's: answered as missing). A package
    adds its entries' outcomes so far and each quarantined entry's reason."""
    document = store.get(uploads, upload_id)
    if document is None or document.get("data_source") != center:
        return None
    view = upload_view(document)
    if document.get("kind") == "package":
        count = int(document.get("entry_count") or 0)
        done = store.query(entries, [Filter("package_id", "==", upload_id)], limit=count + 1)
        outcomes = [
            ("duplicate" if d.get("unchanged") else "deidentified")
            if d.get("outcome") == "anonymized"
            else "quarantined"
            for _, d in done.items
        ]
        refused = store.query(rejections, [Filter("package_id", "==", upload_id)], limit=count + 1)
        view["entries"] = {
            "deidentified": outcomes.count("deidentified"),
            "duplicate": outcomes.count("duplicate"),
            "quarantined": outcomes.count("quarantined"),
            "pending": max(count - len(outcomes), 0),
        }
        view["quarantined"] = sorted(
            (
                {
                    "rejection_id": d.get("rejection_id"),
                    "entry_index": d.get("entry_index"),
                    "reason": d.get("reason"),
                    "detail": d.get("detail"),
                }
                for _, d in refused.items
            ),
            key=lambda r: int(r.get("entry_index") or 0),
        )
    return view


def uploads_of_center(
    store: DocumentStore, uploads: str, center: str, status: str | None, *, limit: int,
    cursor: str | None,
) -> dict[str, Any]:  # fmt: skip
    """A center's uploads, newest first, of one status or all. Needs the composite indexes
    (data_source, received_at DESC) and (data_source, status, received_at DESC)."""
    where = [Filter("data_source", "==", center)]
    if status:
        if status not in UPLOAD_STATUSES:
            raise PermanentError(
                "invalid_status", f"one of {', '.join(sorted(UPLOAD_STATUSES))}", field="status"
            )
        where.append(Filter("status", "==", status))
    return newest_first(
        store, uploads, where, order_by="received_at", view=upload_view, limit=limit,
        cursor=cursor,
    )  # fmt: skip


def study_of(
    store: DocumentStore, images: str, study_id: str, center: str
) -> dict[str, Any] | None:
    """One study of `center`: its images (the center's own copies only), by series. None
    when the center has no image in it: another center's study is answered as missing."""
    found = store.query(
        images,
        [Filter("study_id", "==", study_id), Filter("data_source", "==", center)],
        limit=STUDY_IMAGES_SHOWN + 1,
    ).items
    if not found:
        return None
    shown = [image_view(d) for _, d in found[:STUDY_IMAGES_SHOWN]]
    series: dict[str, int] = {}
    for image in shown:
        series[str(image["series_id"])] = series.get(str(image["series_id"]), 0) + 1
    uploads = {str(d.get("package_id") or d.get("source_unit_id")) for _, d in found}
    return {
        "study_id": study_id,
        "patient_token": shown[0]["patient_token"],
        "images": len(found) if len(found) <= STUDY_IMAGES_SHOWN else None,
        "series": [{"series_id": k, "images": v} for k, v in sorted(series.items())],
        "modalities": sorted({str(i["modality"]) for i in shown if i["modality"]}),
        "uploads": sorted(uploads),
        "first_ingested_at": min(str(i["ingested_at"]) for i in shown),
        "last_ingested_at": max(str(i["ingested_at"]) for i in shown),
        "items": shown,
        "truncated": len(found) > STUDY_IMAGES_SHOWN,
    }
