"""Read side: a data service with its state, dataset, progress and delivery; a client's data
services; an expert's assignments; the expert registry without its personal fields."""

from __future__ import annotations

from typing import Any

from functions.data_services.unit_of_work import Collections, chunk_doc_id
from shared.ports.documents import Document, DocumentStore, Filter
from shared.service.pagination import newest_first

# What a reader of the registry never gets: the person behind the code.
_HIDDEN_EXPERT_FIELDS = ("national_id", "email")


def data_service_view(document: Document) -> dict[str, Any]:
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
        "manifest": document.get("manifest"),
        "delivery": document.get("delivery"),
        "version": document.get("_version", 0),
    }


def _records_of(
    store: DocumentStore, collection: str, manifest_id: str, chunks: int
) -> list[Document]:
    page = store.query(collection, [Filter("manifest_id", "==", manifest_id)], limit=chunks + 1)
    return [document for _, document in page.items]


def get_data_service(
    store: DocumentStore, collections: Collections, data_service_id: str
) -> dict[str, Any] | None:
    """The service, and its progress: one record per chunk delivered (and revoked)."""
    document = store.get(collections.services, data_service_id)
    if document is None:
        return None
    view = data_service_view(document)
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
) -> dict[str, Any]:
    """Newest first. Needs the composite index (client_code ASC, created_at DESC)."""
    return newest_first(
        store, collections.services, [Filter("client_code", "==", client_code)],
        order_by="created_at", view=data_service_view, limit=limit, cursor=cursor,
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
    document = store.get(collections.experts, code)
    if document is None:
        return None
    return {k: v for k, v in document.items() if k not in _HIDDEN_EXPERT_FIELDS and k != "_version"}
