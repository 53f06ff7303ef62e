"""The files route: a delivered dataset's files, each with a URL signed at the request.

Nothing is signed at delivery: every page is signed when it is asked for, for minutes
(wiring.link_minutes), and only for the owner of a service that is DELIVERED. So a
finished, cancelled or failed service stops handing out links at once (410), and a link
handed out dies within minutes. The first page lists manifest.jsonl and SHA256SUMS (in
the delivery bucket, under the service's root), then the images in manifest order, named
as SHA256SUMS names them (`<split>/<image_id>.dcm`).

The route serves the targets the buyer cannot read directly: `links`, `dicomweb` (its
manifest files), and a `bucket` target without a bucket of the buyer's (its copies in the
platform's delivery bucket). A buyer's bucket or managed folder is read where it is (409
with the `gcloud` line).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from functions.data_services.datasets import ManifestEntry
from functions.data_services.delivery import CHECKSUMS, MANIFEST, DeliveryService, split_uri
from functions.data_services.domain import DataServiceError
from functions.data_services.messages import Status
from functions.data_services.unit_of_work import chunk_doc_id, load_service
from shared.domain.clock import rfc3339
from shared.service.pagination import decode_cursor, encode_cursor

_ENDED = frozenset({Status.FINISHED, Status.CANCELLED, Status.FAILED})


class FilesRefused(DataServiceError):
    """The files route's refusal, with the HTTP status it is answered with."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.status = status


def files_page(
    delivery: DeliveryService,
    data_service_id: str,
    client_code: str,
    *,
    cursor: str | None,
    limit: int,
    now: datetime,
    minutes: int,
) -> dict[str, Any] | None:
    """A page of files with fresh URLs; None for a service that is not the client's (the
    same answer as no service: ids cannot be probed)."""
    service = load_service(delivery.store, delivery.collections, data_service_id)
    if service is None or service.client_code != client_code:
        return None
    if service.status in _ENDED:
        raise FilesRefused(
            410, "service_ended", f"the service is {service.status.value}: its links stopped"
        )
    if service.status is not Status.DELIVERED or service.manifest is None:
        raise FilesRefused(409, "not_delivered", f"the service is {service.status.value}")
    target = delivery.target_of(service)
    spec = target.spec
    if spec.buyer_bucket or spec.principal is not None:
        raise FilesRefused(
            409, "files_not_offered",
            f"the files are where the service says: {target.where().fetch_hint}",
        )  # fmt: skip
    expires = now + timedelta(minutes=minutes)

    def link(bucket: str, name: str, relative: str, **extra: Any) -> dict[str, Any]:
        url = delivery.signer.sign(bucket, name, expires)
        return {"name": relative, "url": url, "expires_at": rfc3339(expires), **extra}

    position = decode_cursor(cursor)
    chunk, offset = (int(position[0]), int(position[1])) if position else (0, 0)
    items: list[dict[str, Any]] = []
    if position is None:
        items += [link(spec.bucket, f"{spec.root}{n}", n) for n in (MANIFEST, CHECKSUMS)]
    chunks = service.manifest.chunks
    while chunk < chunks and len(items) < limit:
        stored = delivery.store.get(
            delivery.collections.manifest_chunks,
            chunk_doc_id(service.manifest.manifest_id, chunk),
        )
        entries = [ManifestEntry(**e) for e in (stored or {}).get("entries", [])]
        for entry in entries[offset : offset + limit - len(items)]:
            relative = entry.delivered_name("")
            # A copy in the platform's bucket (an old bucket target), else the
            # anonymized object itself: the same bytes, the same sha256.
            bucket, name = (
                (spec.bucket, f"{spec.root}{relative}") if spec.copies else split_uri(entry.uri)
            )
            items.append(link(bucket, name, relative, size=entry.size, sha256=entry.sha256))
            offset += 1
        if offset >= len(entries):
            chunk, offset = chunk + 1, 0
    more = chunk < chunks
    return {
        "data_service_id": data_service_id,
        "items": items,
        "next_cursor": encode_cursor((chunk, str(offset))) if more else None,
    }
