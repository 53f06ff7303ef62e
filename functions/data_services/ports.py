"""The ports of the data_services context beyond the shared ones: where a dataset is
delivered (one DeliveryTarget per service, whatever its kind), who may read a managed
folder, and how a link to an object is signed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from functions.data_services.domain import TargetSpec, Where
from shared.domain.errors import PermanentError


class DeliveryRefused(PermanentError):
    """The delivery target will not take the objects (permission denied, bucket gone)."""


class SourceMissing(PermanentError):
    """An image of a frozen manifest is no longer in the anonymized bucket."""


@dataclass(frozen=True)
class Placed:
    size: int
    copied: bool  # False: a previous delivery of the chunk had copied it already


@dataclass(frozen=True)
class FolderGrant:
    """A read grant on a managed folder, ending at `until` (an IAM condition)."""

    principal: str
    role: str
    until: datetime


class DeliveryTarget(Protocol):
    """One service's delivery target. Names are relative to the target's root (the
    dataset's files: `<split>/<image_id>.dcm`, `manifest.jsonl`, `SHA256SUMS`); the
    adapter knows the bucket and root. Refusals raise DeliveryRefused, transient trouble
    TransientError (retried)."""

    spec: TargetSpec

    def probe(self) -> None:
        """Check that the target takes a write now (a small object, removed when the
        target lets us): DeliveryRefused(`delivery_target_refused`) otherwise."""

    def place(self, src_bucket: str, src_name: str, name: str) -> Placed:
        """Copy an object in, unless it is there already (a redelivered chunk copies
        nothing twice). DeliveryRefused, SourceMissing, or TransientError to retry."""

    def put_text(self, name: str, text: str, content_type: str) -> bool:
        """Write a small file create-only; False when it exists already."""

    def remove(self, name: str) -> bool:
        """Delete a delivered file; False when it was gone already (or the target does
        not let us delete: a buyer's bucket)."""

    def grant(self, until: datetime) -> None:
        """Let the target's principal read it until `until` (managed folders; a no-op
        for the others). Granting again replaces the grant."""

    def revoke(self) -> None:
        """End every read grant at once (a no-op where nothing was granted)."""

    def grants(self) -> list[FolderGrant]:
        """The read grants in force (what grant() left)."""

    def where(self, access_until: str | None = None) -> Where:
        """Where the data is and how the buyer fetches it."""


# A service's target from its spec (adapters/targets.py builds the real ones).
TargetFactory = Callable[[TargetSpec], DeliveryTarget]


class FolderAccess(Protocol):
    """IAM on managed folders: a folder per service, its read grant bound by time."""

    def ensure_folder(self, bucket: str, folder: str) -> None:
        """Create the managed folder (`folder` ends with /) unless it exists."""

    def grant(self, bucket: str, folder: str, principal: str, role: str, until: datetime) -> None:
        """Set the folder's policy to this one conditional binding (replacing any)."""

    def revoke(self, bucket: str, folder: str) -> None:
        """Remove every binding the platform set on the folder."""

    def grants(self, bucket: str, folder: str) -> list[FolderGrant]: ...


class UrlSigner(Protocol):
    def sign(self, bucket: str, name: str, expires_at: datetime) -> str:
        """A URL that reads the object until `expires_at`, and not after."""
