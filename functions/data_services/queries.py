"""Read side: a data service with its state, dataset, progress and delivery; a client's data
services; an expert's assignments; the expert registry without its personal fields; what
the catalogue holds for a buyer's criteria and the quote of a dataset, in counts that
identify no one (catalogue_counts.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from functions.data_services import catalogue_counts as counting
from functions.data_services import revisions
from functions.data_services.datasets import ManifestEntry, first_copies, matches, resolve
from functions.data_services.domain import (
    DataService,
    DataServiceError,
    Where,
    manifest_uris,
    normalized_criteria,
    target_spec,
    validate_dataset_code,
    where_of,
)
from functions.data_services.expert_slots import with_load
from functions.data_services.messages import (
    CloudTarget,
    DatasetCriteria,
    DatasetQuoteRequest,
    Status,
)
from functions.data_services.plans import find_allowance
from functions.data_services.projections import Projections
from functions.data_services.unit_of_work import (
    EXPERT_SEALED,
    Collections,
    chunk_doc_id,
    load_service,
)
from shared.ports.documents import Document, DocumentStore, Filter
from shared.service.pagination import newest_first

# What a reader of the registry never gets: the person behind the code.
_HIDDEN_EXPERT_FIELDS = (*EXPERT_SEALED, *(f"{name}_sealed" for name in EXPERT_SEALED))
# The dataset code a quote's splits are computed with when it names none.
QUOTE_DATASET_CODE = "quote"


@dataclass(frozen=True)
class Place:
    """What a view needs to say where a service's data is."""

    delivery_bucket: str
    public_url: str


def where_view(document: Document, place: Place) -> dict[str, Any] | None:
    """Where the data is and how to fetch it, as the buyer may read it; `available` only
    while the service is DELIVERED (before, it says where the data will be)."""
    try:
        cloud = CloudTarget.model_validate(document["cloud"])
        spec = target_spec(document["data_service_id"], cloud, place.delivery_bucket)
    except (DataServiceError, ValueError):
        return None  # a target stored before its rules: nothing rather than a guess
    delivery = document.get("delivery") or {}
    where = where_of(spec, place.public_url, delivery.get("access_until"))
    return {**asdict(where), "available": document.get("status") == Status.DELIVERED.value}


def _buyer_facing(delivery: Any, where: dict[str, Any] | None) -> Any:
    """The delivery record without paths of the platform's that the buyer cannot read:
    its manifest files as the buyer reaches them (`where`)."""
    if not delivery or where is None:
        return delivery
    fields = {k: where[k] for k in Where.__dataclass_fields__}
    manifest_uri, checksums_uri = manifest_uris(Where(**fields))
    return {**delivery, "manifest_uri": manifest_uri, "checksums_uri": checksums_uri,
            "links_uri": None}  # fmt: skip


def data_service_view(document: Document, place: Place | None = None) -> dict[str, Any]:
    """The stored service as the doors answer it; with `place`, also where its data is
    (the delivery's paths then the buyer's, never the platform's)."""
    where = where_view(document, place) if place is not None else None
    delivery = document.get("delivery")
    return {
        "data_service_id": document["data_service_id"],
        "subscription_id": document["subscription_id"],
        # The code only, also of a service stored with the names a v1 command carried.
        "client": {"code": document["client_code"]},
        "plan": document["plan_code"],
        "cloud": document["cloud"],
        "dataset": document["dataset"],
        "speciality": document["speciality"],
        "status": document["status"],
        "expert_code": document.get("expert_code"),
        "created_at": document["created_at"],
        "assigned_at": document.get("assigned_at"),
        "prepared_at": document.get("prepared_at"),
        "started_at": document.get("started_at"),
        "ended_at": document.get("ended_at"),
        "end_reason": document.get("end_reason"),
        "review_required": bool(document.get("review_required", False)),
        "approved_at": document.get("approved_at"),
        "start_requested_at": document.get("start_requested_at"),
        "previous_manifests": list(document.get("previous_manifests", [])),
        "manifest": document.get("manifest"),
        "delivery": _buyer_facing(delivery, where) if place is not None else delivery,
        "version": document.get("_version", 0),
        "where": where,
    }


def _records_of(
    store: DocumentStore, collection: str, manifest_id: str, chunks: int
) -> list[Document]:
    page = store.query(collection, [Filter("manifest_id", "==", manifest_id)], limit=chunks + 1)
    return [document for _, document in page.items]


def get_data_service(
    store: DocumentStore,
    collections: Collections,
    data_service_id: str,
    place: Place | None = None,
) -> dict[str, Any] | None:
    """The service, and its progress: one record per chunk delivered (and revoked)."""
    document = store.get(collections.services, data_service_id)
    if document is None:
        return None
    view = data_service_view(document, place)
    manifest = document.get("manifest")
    if manifest:
        chunks = int(manifest["chunks"])
        delivered = _records_of(store, collections.deliveries, manifest["manifest_id"], chunks)
        revoked = _records_of(store, collections.revocations, manifest["manifest_id"], chunks)
        view["progress"] = {
            "chunks": chunks,
            "chunks_delivered": len(delivered),
            "objects_delivered": sum(int(d["objects"]) for d in delivered),
            "objects_copied": sum(int(d.get("copied", 0)) for d in delivered),
            "chunks_revoked": len(revoked),
        }
    return view


def manifest_page(
    store: DocumentStore, collections: Collections, data_service_id: str, chunk: int
) -> dict[str, Any] | None:
    """One chunk of a service's frozen manifest; `next_chunk` pages on."""
    document = store.get(collections.services, data_service_id)
    manifest = (document or {}).get("manifest")
    if not manifest or not 0 <= chunk < int(manifest["chunks"]):
        return None
    stored = store.get(collections.manifest_chunks, chunk_doc_id(manifest["manifest_id"], chunk))
    entries = (stored or {}).get("entries", [])
    return {
        "manifest_id": manifest["manifest_id"],
        "chunk": chunk,
        "entries": entries,
        "next_chunk": chunk + 1 if chunk + 1 < int(manifest["chunks"]) else None,
    }


def data_services_of_client(
    store: DocumentStore,
    collections: Collections,
    client_code: str,
    *,
    limit: int,
    cursor: str | None,
    place: Place | None = None,
) -> dict[str, Any]:
    """Newest first. Needs the composite index (client_code ASC, created_at DESC)."""
    view = partial(data_service_view, place=place)
    return newest_first(
        store, collections.services, [Filter("client_code", "==", client_code)],
        order_by="created_at", view=view, limit=limit, cursor=cursor,
    )  # fmt: skip


def assignments_of_expert(
    store: DocumentStore,
    collections: Collections,
    expert_code: str,
    *,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """The services an expert is assigned to, newest assignment first. Needs the composite
    index (expert_code ASC, assigned_at DESC)."""
    return newest_first(
        store, collections.services, [Filter("expert_code", "==", expert_code)],
        order_by="assigned_at", view=data_service_view, limit=limit, cursor=cursor,
    )  # fmt: skip


def get_expert(store: DocumentStore, collections: Collections, code: str) -> dict[str, Any] | None:
    """The registry's view of an expert: its assignments and load counted from its slots."""
    document = store.get(collections.experts, code)
    if document is None:
        return None
    return _expert_view(with_load(store, collections, [(code, document)])[0][1])


# -- before buying: counts and quotes ------------------------------------------------------
def _as_sent(error: DataServiceError, criteria_field: str) -> DataServiceError:
    """The rule a criterion broke, named where the caller sent it (normalized_criteria
    names the fields of a data service's `dataset.criteria`)."""
    named = error.field or ""
    for stored in ("dataset.criteria", "dataset"):
        if named.startswith(stored):
            named = criteria_field + named[len(stored) :]
            break
    return DataServiceError(error.reason, error.detail, field=named.lstrip(".") or None)


def catalogue_counts(
    projections: Projections, criteria: DatasetCriteria, group_by: str | None, min_cell: int
) -> dict[str, Any]:
    """What the catalogue holds for the criteria (the filters; no plan, no caps), by
    `group_by` too: a CatalogueCountsView under the minimum cell size. It reads every
    matching record of the projection, as a prepare does (counting 10^5 takes ~0.5 s in
    process; the reads are the cost): broad criteria over a much larger catalogue would
    want counts kept by the projection instead."""
    try:
        wanted = normalized_criteria(criteria, None)
    except DataServiceError as error:
        raise _as_sent(error, "") from None
    records = first_copies(r for r in projections.matching(wanted) if matches(r, wanted))
    return counting.counts(records, min_cell, group_by)


def dataset_quote(
    projections: Projections, request: DatasetQuoteRequest, min_cell: int
) -> dict[str, Any]:
    """A DatasetQuoteView: the dataset a data service on the plan would resolve the criteria
    into, as its prepare does (datasets.resolve, the plan's allowance), counted under the
    minimum cell size. Refused (DataServiceError) with `unknown_plan`, the criteria's own
    reasons (invalid_date, invalid_split, dataset_exceeds_plan...), `dataset_exceeds_plan`
    when they match more than the plan allows and set no max_images, `dataset_too_small`
    under the minimum cell size."""
    allowance = find_allowance(request.plan)
    if allowance is None:
        raise DataServiceError(
            "unknown_plan", "plans with a data service are PRO and ENTERPRISE", field="plan"
        )
    try:
        validate_dataset_code(request.dataset_code or QUOTE_DATASET_CODE)
    except DataServiceError as error:
        raise DataServiceError(error.reason, error.detail, field="dataset_code") from None
    try:
        criteria = normalized_criteria(request.criteria, allowance)
    except DataServiceError as error:
        raise _as_sent(error, "criteria") from None
    chosen = resolve(projections.matching(criteria), criteria, allowance.max_images)
    if len(chosen) > allowance.max_images:
        raise DataServiceError(
            "dataset_exceeds_plan",
            f"the criteria match more than the {allowance.max_images} images the plan "
            "allows: set criteria.max_images",
            field="criteria.max_images",
        )
    counted = counting.quote(
        chosen, request.dataset_code or QUOTE_DATASET_CODE, criteria.split, min_cell
    )
    return {
        "plan": allowance.code,
        "max_images": criteria.max_images or allowance.max_images,
        **counted,
    }


# -- the expert's work ---------------------------------------------------------------------------
def service_aggregate(
    store: DocumentStore, collections: Collections, data_service_id: str
) -> DataService | None:
    """The service as its aggregate (a door checks a rule of the domain before it accepts a
    command)."""
    return load_service(store, collections, data_service_id)


def manifest_entries(
    store: DocumentStore, collections: Collections, manifest_id: str, chunks: int
) -> list[ManifestEntry]:
    return revisions.manifest_entries(store, collections, manifest_id, chunks)


def _versions(document: Document) -> list[str]:
    manifest = document.get("manifest") or {}
    current = [manifest["manifest_id"]] if manifest else []
    return [*current, *reversed(document.get("previous_manifests", []))]


def manifest_version_page(
    store: DocumentStore,
    collections: Collections,
    data_service_id: str,
    manifest_id: str,
    chunk: int,
) -> dict[str, Any] | None:
    """One chunk of a version of a service's manifest (the current one or one an exclusion
    replaced); None for a version of another service or a chunk past its end."""
    document = store.get(collections.services, data_service_id)
    if document is None or manifest_id not in _versions(document):
        return None
    stored = store.get(collections.manifest_chunks, chunk_doc_id(manifest_id, chunk))
    if stored is None:
        return None
    following = store.get(collections.manifest_chunks, chunk_doc_id(manifest_id, chunk + 1))
    return {
        "manifest_id": manifest_id,
        "chunk": chunk,
        "entries": stored.get("entries", []),
        "next_chunk": chunk + 1 if following is not None else None,
    }


def manifest_entry(
    store: DocumentStore, collections: Collections, data_service_id: str, image_id: str
) -> ManifestEntry | None:
    """An image of any manifest version of the service (the current one first)."""
    document = store.get(collections.services, data_service_id)
    if document is None:
        return None
    for manifest_id in _versions(document):
        index = 0
        while (chunk := store.get(collections.manifest_chunks,
                                  chunk_doc_id(manifest_id, index))) is not None:  # fmt: skip
            for entry in chunk.get("entries", []):
                if entry.get("image_id") == image_id:
                    return ManifestEntry(**entry)
            index += 1
    return None


def experts_page(
    store: DocumentStore, collections: Collections, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The registry without the person's national id and email, newest first; the
    assignments and load of a page's experts counted from their slots together."""
    page = newest_first(
        store, collections.experts, [], order_by="registered_at", view=_expert_view,
        limit=limit, cursor=cursor,
    )  # fmt: skip
    listed = [(item["expert_code"], item) for item in page["items"]]
    page["items"] = [view for _, view in with_load(store, collections, listed)]
    return page


def _expert_view(document: Document) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in _HIDDEN_EXPERT_FIELDS and k != "_version"}


def expert_contact(
    store: DocumentStore, collections: Collections, code: str
) -> dict[str, Any] | None:
    """How the notifications context reaches an expert: its email, no other personal data."""
    document = store.get(collections.experts, code)
    if document is None:
        return None
    return {
        "expert_code": code,
        "email": collections.sealed_experts.open(code, document)["email"],
        "retired": document.get("retired_at") is not None,
    }
