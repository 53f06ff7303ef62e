"""A center's view and an operator's review of quarantine, on the local stack, through /v1:
two centers upload the same instance (a referral) and each sees it catalogued as its own,
with no conflict and nothing of the other; a bad file is quarantined, seen by its center
with its reason, then discarded or released by an operator (docs/ingestion.md, ADR 0013)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from functions.identity.messages import Role
from tests.e2e.test_api_flow import api_url, login, register, until
from tests.unit.ingestion.helpers import study

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]


def _get(url: str, auth: dict[str, str], **params: str) -> Any:
    return requests.get(url, headers=auth, params=params, timeout=10)


def _uploads(base: str, auth: dict[str, str], **params: str) -> list[dict[str, Any]]:
    answer = _get(f"{base}/v1/uploads", auth, **params)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_referral_and_quarantine_review_through_the_api(stack: Any) -> None:
    from google.cloud import storage as gcs  # type: ignore[attr-defined]

    base = api_url(stack)
    first_id, second_id = (f"center-{uuid.uuid4().hex[:8]}" for _ in range(2))
    first = login(stack, register(Role.CENTER, first_id))
    second = login(stack, register(Role.CENTER, second_id))
    operator = login(stack, register(Role.OPERATOR, ""))
    ingest = gcs.Client(project=stack.project_id).bucket(stack.bucket("ingest"))

    [data] = study(seed=33)
    ingest.blob(f"{first_id}/scan.dcm").upload_from_string(data)
    mine = until(lambda: _uploads(base, first, status="deidentified"), timeout=60)
    ingest.blob(f"{second_id}/scan.dcm").upload_from_string(data)
    theirs = until(lambda: _uploads(base, second, status="deidentified"), timeout=60)
    assert len(mine) == len(theirs) == 1, (mine, theirs)
    # Each is its own image; neither saw a conflict or anything of the other.
    assert mine[0]["image_id"] != theirs[0]["image_id"]
    assert _uploads(base, second, status="quarantined") == []
    assert first_id not in str(_uploads(base, second))
    [image] = _get(f"{base}/v1/images", second).json()["items"]
    assert image["data_source"] == second_id and image["upload_id"] == theirs[0]["upload_id"]
    own = _get(f"{base}/v1/studies/{image['study_id']}", second)
    assert own.status_code == 200 and own.json()["images"] == 1
    assert _get(f"{base}/v1/studies/{image['study_id']}", first).status_code == 404
    assert _get(f"{base}/v1/uploads/{theirs[0]['upload_id']}", first).status_code == 404

    # Two bad files: each quarantined with its reason, seen by its center.
    ingest.blob(f"{first_id}/bad-1.dcm").upload_from_string(b"not a dicom file")
    ingest.blob(f"{first_id}/bad-2.dcm").upload_from_string(b"nor is this one")
    bad = until(lambda: (q := _uploads(base, first, status="quarantined")) and len(q) == 2 and q)
    assert {u["reason"] for u in bad} == {"not_dicom"}

    listed = _get(f"{base}/v1/review/quarantine", operator, center=first_id).json()["items"]
    assert {r["rejection_id"] for r in listed} == {u["upload_id"] for u in bad}
    outcomes = {}
    for upload, action in zip(bad, ("discard", "release"), strict=True):
        path = f"{base}/v1/review/quarantine/{upload['upload_id']}/{action}"
        accepted = requests.post(path, json={}, headers=operator, timeout=10)
        assert accepted.status_code == 202, accepted.text
        status_url = f"{base}{accepted.json()['links']['command']}"

        def settled(url: str = status_url) -> dict[str, Any] | None:
            found: dict[str, Any] = _get(url, operator).json()
            return found if found.get("status") not in (None, "pending") else None

        outcomes[action] = until(settled, timeout=60)
    assert outcomes["discard"]["status"] == outcomes["release"]["status"] == "applied"
    reviewed = {u["upload_id"]: u["status"] for u in _uploads(base, first)}
    assert reviewed[bad[0]["upload_id"]] == "discarded"
    assert reviewed[bad[1]["upload_id"]] == "released"
    # Released, it went through the pipeline again and, still not DICOM, was quarantined
    # again under its own id, with its reason.
    again = _get(f"{base}/v1/review/quarantine", operator, center=first_id).json()["items"]
    [released] = [r for r in again if r["rejection_id"] == bad[1]["upload_id"]]
    assert released["review"] == "released" and released["released_as"] in {
        r["rejection_id"] for r in again
    }
