"""The managed folders' IAM adapter, against a fake HTTP transport that records what it
sends: the Cloud Storage JSON API's documented shapes (managedFolders.insert,
managedFolders.getIamPolicy / setIamPolicy with policy version 3 and an IAM condition).
fake-gcs-server has neither managed folders nor IAM, so nothing here ran against a real
API; this is what the adapter would send."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.data_services.adapters.folder_access import (
    API,
    CONDITION_TITLE,
    FolderAccessRefused,
    FolderAccessUnavailable,
    GcsManagedFolderAccess,
)
from functions.data_services.domain import OBJECT_VIEWER

UNTIL = datetime(2027, 1, 8, 10, 0, tzinfo=UTC)
FOLDER_IAM = f"{API}/b/saludtech-dev-delivery/managedFolders/ds-1%2F/iam"


@dataclass
class Answer:
    status_code: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> bytes:
        return json.dumps(self.body).encode()

    def json(self) -> dict[str, Any]:
        return self.body


@dataclass
class Transport:
    """Answers by (method, url) in order, and keeps every request."""

    answers: dict[tuple[str, str], list[Answer]]
    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def request(self, method: str, url: str, **kwargs: Any) -> Answer:
        self.sent.append((method, url, kwargs))
        return self.answers[(method, url)].pop(0)


OTHER = {"role": "roles/storage.objectViewer", "members": ["group:auditors@example.org"]}


def test_a_grant_creates_the_folder_and_sets_one_conditional_binding() -> None:
    policy = {"version": 3, "etag": "CAE=", "bindings": [OTHER]}
    transport = Transport(
        {
            ("POST", f"{API}/b/saludtech-dev-delivery/managedFolders"): [Answer(409)],
            ("GET", FOLDER_IAM): [Answer(200, policy)],
            ("PUT", FOLDER_IAM): [Answer(200, {})],
        }
    )
    access = GcsManagedFolderAccess(transport)
    access.ensure_folder("saludtech-dev-delivery", "ds-1/")  # 409: there already, fine
    access.grant("saludtech-dev-delivery", "ds-1/", "user:ana@example.com", OBJECT_VIEWER, UNTIL)
    (m1, _, insert), (m2, _, get), (m3, _, put) = transport.sent
    assert (m1, insert["json"]) == ("POST", {"name": "ds-1/"})
    assert (m2, get["params"]) == ("GET", {"optionsRequestedPolicyVersion": 3})
    assert m3 == "PUT"
    assert put["json"] == {
        "version": 3,  # conditions need policy version 3
        "etag": "CAE=",  # read-modify-write: a concurrent change is refused, not lost
        "bindings": [
            OTHER,  # what someone else granted stays
            {
                "role": "roles/storage.objectViewer",
                "members": ["user:ana@example.com"],
                "condition": {
                    "title": CONDITION_TITLE,
                    "description": "a data service's delivery, readable until its access ends",
                    "expression": 'request.time < timestamp("2027-01-08T10:00:00.000Z")',
                },
            },
        ],
    }


def test_a_revoke_removes_only_the_platforms_binding_and_grants_reads_it_back() -> None:
    ours = {
        "role": OBJECT_VIEWER,
        "members": ["user:ana@example.com"],
        "condition": {
            "title": CONDITION_TITLE,
            "expression": 'request.time < timestamp("2027-01-08T10:00:00.000Z")',
        },
    }
    policy = {"version": 3, "etag": "CAI=", "bindings": [OTHER, ours]}
    transport = Transport(
        {
            ("GET", FOLDER_IAM): [Answer(200, policy), Answer(200, policy)],
            ("PUT", FOLDER_IAM): [Answer(200, {})],
        }
    )
    access = GcsManagedFolderAccess(transport)
    [grant] = access.grants("saludtech-dev-delivery", "ds-1/")
    assert (grant.principal, grant.until) == ("user:ana@example.com", UNTIL)
    access.revoke("saludtech-dev-delivery", "ds-1/")
    assert transport.sent[-1][2]["json"] == {"version": 3, "etag": "CAI=", "bindings": [OTHER]}


@pytest.mark.parametrize(
    "answer", [Answer(200, {"version": 1, "etag": "CAE="}), Answer(404)], ids=["none", "no_folder"]
)
def test_a_revoke_with_nothing_granted_sends_no_write(answer: Answer) -> None:
    transport = Transport({("GET", FOLDER_IAM): [answer]})
    GcsManagedFolderAccess(transport).revoke("saludtech-dev-delivery", "ds-1/")
    assert [m for m, _, _ in transport.sent] == ["GET"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, FolderAccessUnavailable), (429, FolderAccessUnavailable), (403, FolderAccessRefused)],
)
def test_failures_are_retried_or_seen(status: int, error: type[Exception]) -> None:
    transport = Transport({("GET", FOLDER_IAM): [Answer(status)]})
    with pytest.raises(error):
        GcsManagedFolderAccess(transport).revoke("saludtech-dev-delivery", "ds-1/")
