"""Who may read a managed folder of the delivery bucket, and until when.

- GcsManagedFolderAccess: the Cloud Storage JSON API (managedFolders.insert, then
  getIamPolicy/setIamPolicy of the folder, policy version 3 for the IAM condition
  `request.time < timestamp(...)`), through an authorized HTTP session. The client library
  has no managed-folder calls, and fake-gcs-server has neither managed folders nor IAM: the
  requests are checked against the API's documented shapes in a unit test
  (tests/unit/data_services/test_folder_access.py), never against the emulator.
- RecordedFolderAccess: the local stand-in on the emulators. The copies go into the
  folder's prefix as in the cloud; the grant is recorded in a document so that the flow,
  its expiry and its revocation can be seen end to end.
- InMemoryFolderAccess: the same record in memory, for the contract suite.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

from functions.data_services.ports import FolderGrant
from shared.domain.clock import rfc3339
from shared.domain.errors import TransientError
from shared.ports.documents import DocumentStore, DocumentTransaction

# Our bindings are told from any other by their condition's title: a revoke removes only
# what the platform granted.
CONDITION_TITLE = "saludtech-delivery"
API = "https://storage.googleapis.com/storage/v1"


class FolderAccessUnavailable(TransientError):
    """The IAM API did not answer (5xx, 429) or the policy changed meanwhile (412):
    retried."""


class FolderAccessRefused(Exception):
    """The IAM API refused (403: the function lacks storage.managedFolders.*): an error
    of ours, not the buyer's; it escapes so that it is seen."""


def condition_expression(until: datetime) -> str:
    return f'request.time < timestamp("{rfc3339(until)}")'


def _until_of(expression: str) -> datetime | None:
    marker = 'timestamp("'
    if marker not in expression:
        return None
    raw = expression.split(marker, 1)[1].split('"', 1)[0]
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


class HttpSession(Protocol):
    """google.auth.transport.requests.AuthorizedSession, or a fake that records."""

    def request(self, method: str, url: str, **kwargs: Any) -> Any: ...


class GcsManagedFolderAccess:
    def __init__(self, session: HttpSession, api: str = API) -> None:
        self._session = session
        self._api = api.rstrip("/")

    def _folder_url(self, bucket: str, folder: str) -> str:
        # The folder name is one path segment: its slashes are escaped.
        return f"{self._api}/b/{quote(bucket, safe='')}/managedFolders/{quote(folder, safe='')}"

    def _call(self, method: str, url: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        answer = self._session.request(method, url, timeout=30, **kwargs)
        status = int(answer.status_code)
        if status in ok:
            return answer.json() if status == 200 and answer.content else {}
        # 412: the policy changed since it was read (its etag): read it again, later.
        if status in (412, 429) or status >= 500:
            raise FolderAccessUnavailable(f"managed folders answered {status}")
        raise FolderAccessRefused(f"managed folders answered {status} to {method}")

    def ensure_folder(self, bucket: str, folder: str) -> None:
        # 409: it exists already (a redelivered completion).
        self._call(
            "POST", f"{self._api}/b/{quote(bucket, safe='')}/managedFolders",
            ok=(200, 409), json={"name": folder},
        )  # fmt: skip

    def _policy(self, bucket: str, folder: str) -> dict[str, Any]:
        # 404: no folder (a service ended before its delivery): nothing granted, nothing to
        # revoke; never an error a cancel would be retried on until it dies.
        found: dict[str, Any] = self._call(
            "GET", f"{self._folder_url(bucket, folder)}/iam", ok=(200, 404),
            params={"optionsRequestedPolicyVersion": 3},
        )  # fmt: skip
        return found

    def _set(self, bucket: str, folder: str, policy: dict[str, Any], bindings: list[Any]) -> None:
        body = {"bindings": bindings, "version": 3}
        if policy.get("etag"):
            body["etag"] = policy["etag"]  # a concurrent change fails (412) and is retried
        self._call("PUT", f"{self._folder_url(bucket, folder)}/iam", json=body)

    @staticmethod
    def _others(policy: dict[str, Any]) -> list[Any]:
        return [
            b
            for b in policy.get("bindings", [])
            if (b.get("condition") or {}).get("title") != CONDITION_TITLE
        ]

    def grant(self, bucket: str, folder: str, principal: str, role: str, until: datetime) -> None:
        policy = self._policy(bucket, folder)
        binding = {
            "role": role,
            "members": [principal],
            "condition": {
                "title": CONDITION_TITLE,
                "description": "a data service's delivery, readable until its access ends",
                "expression": condition_expression(until),
            },
        }
        self._set(bucket, folder, policy, [*self._others(policy), binding])

    def revoke(self, bucket: str, folder: str) -> None:
        policy = self._policy(bucket, folder)
        others = self._others(policy)
        if len(others) != len(policy.get("bindings", [])):
            self._set(bucket, folder, policy, others)

    def grants(self, bucket: str, folder: str) -> list[FolderGrant]:
        found: list[FolderGrant] = []
        for binding in self._policy(bucket, folder).get("bindings", []):
            condition = binding.get("condition") or {}
            until = _until_of(str(condition.get("expression", "")))
            if condition.get("title") == CONDITION_TITLE and until is not None:
                found += [FolderGrant(m, binding["role"], until) for m in binding["members"]]
        return found


def _grants_of(record: dict[str, Any] | None) -> list[FolderGrant]:
    return [
        FolderGrant(g["principal"], g["role"], datetime.fromisoformat(g["until"]))
        for g in (record or {}).get("grants", [])
    ]


class InMemoryFolderAccess:
    def __init__(self) -> None:
        self._folders: dict[tuple[str, str], list[FolderGrant]] = {}
        self._lock = threading.Lock()

    def ensure_folder(self, bucket: str, folder: str) -> None:
        with self._lock:
            self._folders.setdefault((bucket, folder), [])

    def grant(self, bucket: str, folder: str, principal: str, role: str, until: datetime) -> None:
        with self._lock:
            self._folders[(bucket, folder)] = [FolderGrant(principal, role, until)]

    def revoke(self, bucket: str, folder: str) -> None:
        with self._lock:
            if (bucket, folder) in self._folders:
                self._folders[(bucket, folder)] = []

    def grants(self, bucket: str, folder: str) -> list[FolderGrant]:
        with self._lock:
            return list(self._folders.get((bucket, folder), []))


class RecordedFolderAccess:
    """The emulators' managed folders: one document per folder with its grant."""

    def __init__(self, store: DocumentStore, collection: str) -> None:
        self._store = store
        self._collection = collection

    @staticmethod
    def _key(bucket: str, folder: str) -> str:
        return f"{bucket}~{folder.strip('/').replace('/', '~')}"

    def ensure_folder(self, bucket: str, folder: str) -> None:
        key = self._key(bucket, folder)

        def create(tx: DocumentTransaction) -> None:
            if tx.get(self._collection, key) is None:
                tx.put(self._collection, key, {"bucket": bucket, "folder": folder, "grants": []})

        self._store.run_in_transaction(create)

    def _put(self, bucket: str, folder: str, grants: list[dict[str, str]]) -> None:
        key, record = self._key(bucket, folder), {"bucket": bucket, "folder": folder}
        self._store.run_in_transaction(
            lambda tx: tx.put(self._collection, key, {**record, "grants": grants})
        )

    def grant(self, bucket: str, folder: str, principal: str, role: str, until: datetime) -> None:
        self._put(
            bucket, folder, [{"principal": principal, "role": role, "until": until.isoformat()}]
        )

    def revoke(self, bucket: str, folder: str) -> None:
        self._put(bucket, folder, [])

    def grants(self, bucket: str, folder: str) -> list[FolderGrant]:
        return _grants_of(self._store.get(self._collection, self._key(bucket, folder)))
