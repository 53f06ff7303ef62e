"""What this function may touch, when the local cloud mode says so: IAM, played locally.

In the cloud IAM refuses a function what Terraform did not grant it (a database, a topic, a
bucket, another function). The emulators refuse nothing, so the local stack's cloud mode
(`python -m infra.local up --cloud-mode`) gives every function SALUDTECH_GRANTS, the JSON of
what Terraform grants it (infra/local/grants.py), and the adapters ask this module before
each use. Without the variable nothing is checked: in the real cloud IAM does it.

A refusal raises AccessDenied, which is neither a PermanentError (a message would be
acknowledged with a failure event, quietly) nor a TransientError: like the PermissionDenied a
Google client raises in the cloud it escapes the handler, so the request answers 500 (or a
push is redelivered until its dead-letter topic) with a log line naming what was refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache

from shared.logging import get_logger

log = get_logger(__name__)
ENV = "SALUDTECH_GRANTS"

VIEWER, CREATOR, USER = (
    "roles/storage.objectViewer",
    "roles/storage.objectCreator",
    "roles/storage.objectUser",
)
# What each storage role allows, by operation: the permissions the roles hold
# (objectCreator: storage.objects.create only, so no read, no list and no overwrite).
_ALLOWED = {
    VIEWER: {"read", "list"},
    CREATOR: {"create"},
    USER: {"read", "list", "create", "overwrite", "delete"},
    "roles/storage.objectAdmin": {"read", "list", "create", "overwrite", "delete"},
    # Objects and managed folders (data services' delivery bucket); folders' IAM is not
    # played locally (functions/data_services/adapters/folder_access.py).
    "roles/storage.folderAdmin": {"read", "list", "create", "overwrite", "delete"},
}
BlobOperation = str  # read | list | create | overwrite | delete


class AccessDenied(Exception):
    """IAM would refuse this: the function was not granted what it just tried to use."""


@dataclass(frozen=True)
class Grants:
    function: str
    service_account: str
    databases: frozenset[str]
    topics: frozenset[str]
    buckets: dict[str, str]  # physical bucket -> role
    invokes: frozenset[str]  # HTTP function names (the topology's: dashes)
    signs_urls: bool = False

    @classmethod
    def from_json(cls, text: str) -> Grants:
        raw = json.loads(text)
        return cls(
            function=str(raw["function"]),
            service_account=str(raw.get("service_account") or ""),
            databases=frozenset(raw.get("databases") or ()),
            topics=frozenset(raw.get("topics") or ()),
            buckets={str(b): str(r) for b, r in (raw.get("buckets") or {}).items()},
            invokes=frozenset(raw.get("invokes") or ()),
            signs_urls=bool(raw.get("signs_urls")),
        )

    def _deny(self, what: str) -> AccessDenied:
        message = f"{self.function} is not granted {what} (terraform: infra/topology.yaml)"
        log.error("access_denied", function=self.function, denied=what)
        return AccessDenied(message)

    def check_database(self, database: str) -> None:
        if database not in self.databases:
            raise self._deny(f"Firestore database {database}")

    def check_publish(self, topic: str) -> None:
        if topic not in self.topics:
            raise self._deny(f"publishing to topic {topic}")

    def check_bucket(self, bucket: str, operation: BlobOperation) -> None:
        role = self.buckets.get(bucket)
        if role is None:
            raise self._deny(f"bucket {bucket}")
        if operation not in _ALLOWED.get(role, set()):
            raise self._deny(f"{operation} in bucket {bucket} (it holds {role})")

    def check_invoke(self, function: str) -> None:
        if function not in self.invokes:
            raise self._deny(f"invoking {function}")

    def check_signs_urls(self) -> None:
        if not self.signs_urls:
            raise self._deny("signing URLs (the token creator role on its own account)")


@lru_cache(maxsize=1)
def current() -> Grants | None:
    """This process's grants, read once; None (nothing checked) without SALUDTECH_GRANTS."""
    text = os.environ.get(ENV, "").strip()
    return Grants.from_json(text) if text else None


def check_database(database: str) -> None:
    grants = current()
    if grants is not None:
        grants.check_database(database)


def check_publish(topic: str) -> None:
    grants = current()
    if grants is not None:
        grants.check_publish(topic)


def check_bucket(bucket: str, operation: BlobOperation) -> None:
    grants = current()
    if grants is not None:
        grants.check_bucket(bucket, operation)


def check_invoke(function: str) -> None:
    grants = current()
    if grants is not None:
        grants.check_invoke(function)


def check_signs_urls() -> None:
    grants = current()
    if grants is not None:
        grants.check_signs_urls()
