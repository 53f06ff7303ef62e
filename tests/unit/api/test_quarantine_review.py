"""An operator's review of quarantine through /v1: every center's quarantined uploads, and
release / discard as commands at ingestion's command door, audited and idempotent. The
center sees the outcome in its own view; nobody else's."""

from __future__ import annotations

from typing import Any

from functions.ingestion.entrypoints import ENTRY_POINTS
from functions.ingestion.messages import NAMES, DiscardQuarantined, ReleaseQuarantined
from tests.support.cloud_events import pubsub_event
from tests.unit.api.conftest import Api
from tests.unit.ingestion.helpers import deliver_upload, upload

FUNCTIONS = {
    ReleaseQuarantined.TYPE: ENTRY_POINTS["ingestion_release_quarantined"],
    DiscardQuarantined.TYPE: ENTRY_POINTS["ingestion_discard_quarantined"],
}


def deliver_commands(api: Api) -> int:
    """Play Pub/Sub + Eventarc (filtered on ce-type) for ingestion's published commands."""
    sent = list(api.platform.publisher.messages(NAMES.commands_topic))
    api.platform.publisher.clear_topic(NAMES.commands_topic)
    for n, envelope in enumerate(sent):
        data, attributes = envelope.to_pubsub()
        FUNCTIONS[envelope.type](pubsub_event(data, attributes, f"r-{n}"))
    return len(sent)


def _quarantine(api: Api, token: str, **query: str) -> list[dict[str, Any]]:
    answer = api.call("GET", "/v1/review/quarantine", token=token, query=query)
    assert answer.status == 200, answer.body
    items: list[dict[str, Any]] = answer.body["items"]
    return items


def test_an_operator_lists_every_centers_quarantine_and_discards_one_audited(api: Api) -> None:
    deliver_upload(upload(api.platform, "hospital-1/bad.dcm", b"not dicom"))
    deliver_upload(upload(api.platform, "hospital-2/worse.dcm", b"nor this"))
    operator = api.login("operator")
    listed = _quarantine(api, operator)
    assert sorted(r["data_source"] for r in listed) == ["hospital-1", "hospital-2"]
    [one] = _quarantine(api, operator, center="hospital-1")

    path = f"/v1/review/quarantine/{one['rejection_id']}/discard"
    key = {"Idempotency-Key": "k-1"}
    accepted = api.call("POST", path, {}, token=operator, headers=key)
    again = api.call("POST", path, {}, token=operator, headers=key)
    assert accepted.status == again.status == 202, accepted.body
    assert accepted.body["command_id"] == again.body["command_id"]  # the same command
    assert deliver_commands(api) == 2
    status = api.call("GET", accepted.body["links"]["command"], token=operator).body
    assert status["status"] == "applied"
    [reviewed] = _quarantine(api, operator, center="hospital-1")
    assert reviewed["review"] == "discarded"

    # The center sees its upload discarded; the other center sees nothing of it.
    center = api.login("center-a")
    mine = api.call("GET", f"/v1/uploads/{one['rejection_id']}", token=center).body
    assert mine["status"] == "discarded"
    theirs = api.call("GET", f"/v1/uploads/{one['rejection_id']}", token=api.login("center-b"))
    assert theirs.status == 404

    # Reviewed already: a second review is refused with its reason.
    second = api.call("POST", f"/v1/review/quarantine/{one['rejection_id']}/release", {},
                      token=operator)  # fmt: skip
    deliver_commands(api)
    refused = api.call("GET", second.body["links"]["command"], token=operator).body
    assert refused["status"] == "rejected" and refused["reason"] == "already_reviewed"

    entries = api.call("GET", "/v1/audit", token=operator).body["items"]
    changes = {(e["resource"], e["status"]) for e in entries if e["action"] == "change"}
    assert (f"quarantine/{one['rejection_id']}", 202) in changes


def test_only_operators_review_and_an_unknown_rejection_is_404(api: Api) -> None:
    center = api.login("center-a")
    assert api.call("GET", "/v1/review/quarantine", token=center).status == 403
    assert api.call("POST", "/v1/review/quarantine/x/release", {}, token=center).status == 403
    missing = api.call(
        "POST", "/v1/review/quarantine/nope/discard", {}, token=api.login("operator")
    )
    assert missing.status == 404 and missing.body["error"]["reason"] == "rejection_not_found"
