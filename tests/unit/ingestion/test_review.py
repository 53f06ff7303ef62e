"""An operator's review of quarantine: release (the kept copy through the pipeline again)
or discard (the kept copy deleted, the rejection recorded as discarded). Both idempotent:
the same command again changes nothing; another review of a reviewed rejection is refused."""

from __future__ import annotations

from typing import Any

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.ingestion import queries
from functions.ingestion import wiring as ingestion_wiring
from functions.ingestion.entrypoints import ENTRY_POINTS
from functions.ingestion.messages import (
    NAMES,
    DiscardQuarantined,
    QuarantineReviewed,
    ReleaseQuarantined,
)
from shared.adapters.memory_blob_store import InMemoryBlobStore
from shared.domain.messages import Command
from shared.ports.envelope import Envelope
from tests.support.cloud_events import pubsub_event
from tests.unit.ingestion.helpers import deliver_upload, study, upload

FUNCTIONS = {
    ReleaseQuarantined: ENTRY_POINTS["ingestion_release_quarantined"],
    DiscardQuarantined: ENTRY_POINTS["ingestion_discard_quarantined"],
}


def deliver(command: Command, command_id: str) -> None:
    envelope = Envelope(payload=command, source="test", id=command_id, correlation_id="c")
    data, attributes = envelope.to_pubsub()
    FUNCTIONS[type(command)](pubsub_event(data, attributes, f"m-{command_id}"))


def w() -> ingestion_wiring.IngestionWiring:
    return bootstrap.context(ingestion_wiring.build)


def rejection(p: InMemoryPlatform, rejection_id: str) -> dict[str, Any]:
    found = p.store.get(w().collections.rejections, rejection_id)
    assert found is not None
    return found


def quarantined(p: InMemoryPlatform) -> str:
    """A valid image quarantined as too large (a limit since raised): its rejection id."""
    [data] = study(seed=28)
    service = w().service
    before = service.limits
    service.limits = type(before)(max_file_bytes=10)
    deliver_upload(upload(p, "center-1/big.dcm", data))
    service.limits = before
    [(rejection_id, _)] = p.store.query(w().collections.rejections, limit=5).items
    return rejection_id


def reviewed(p: InMemoryPlatform) -> list[dict[str, Any]]:
    """Each review event once (a redelivery publishes its recorded events again, same id)."""
    events = {e.id: e.payload for e in p.publisher.messages(NAMES.events_topic)}
    return [e.model_dump() for e in events.values() if isinstance(e, QuarantineReviewed)]


def test_a_release_ingests_the_kept_copy_once_and_records_the_review(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    rejection_id = quarantined(platform)
    deliver(ReleaseQuarantined(rejection_id=rejection_id), "cmd-1")
    deliver(ReleaseQuarantined(rejection_id=rejection_id), "cmd-1")  # redelivered

    found = rejection(platform, rejection_id)
    assert found["review"] == "released" and found["outcome"] == "anonymized"
    [image] = queries.list_images(
        platform.store, w().collections.images, {"center": "center-1"}, limit=5, cursor=None
    )["items"]
    assert image["upload_id"] == found["released_as"]
    [event] = reviewed(platform)
    assert event["review"] == "released" and event["data_source"] == "center-1"
    assert blobs.list_names(platform.settings.bucket("quarantine")) == []  # the copy left
    upload_seen = queries.upload_of(
        platform.store, w().collections.uploads, w().collections.entries,
        w().collections.rejections, upload_id=rejection_id, center="center-1",
    )  # fmt: skip
    assert upload_seen is not None and upload_seen["status"] == "released"

    # Another review of it is refused with its reason, recorded as the command's outcome.
    deliver(DiscardQuarantined(rejection_id=rejection_id), "cmd-2")
    status = w().commands.status("cmd-2")
    assert status is not None and status["reason"] == "already_reviewed"


def test_a_discard_deletes_the_kept_copy_and_keeps_the_record(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    deliver_upload(upload(platform, "center-1/bad.dcm", b"not dicom"))
    [(rejection_id, _)] = platform.store.query(w().collections.rejections, limit=5).items
    deliver(DiscardQuarantined(rejection_id=rejection_id), "cmd-3")
    deliver(DiscardQuarantined(rejection_id=rejection_id), "cmd-3")

    assert rejection(platform, rejection_id)["review"] == "discarded"
    assert blobs.list_names(platform.settings.bucket("quarantine")) == []
    assert [e["review"] for e in reviewed(platform)] == ["discarded"]
    listed = queries.quarantine(
        platform.store, w().collections.rejections, None, limit=10, cursor=None
    )
    assert [r["review"] for r in listed["items"]] == ["discarded"]


def test_a_release_of_nothing_is_refused_with_its_reason(platform: InMemoryPlatform) -> None:
    deliver(ReleaseQuarantined(rejection_id="nope"), "cmd-4")
    status = w().commands.status("cmd-4")
    assert status is not None and status["reason"] == "rejection_not_found"
