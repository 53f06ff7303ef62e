"""The ports of the data_services context beyond the shared ones: where a dataset is
delivered, and how a link to an object is signed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.errors import PermanentError


class DeliveryRefused(PermanentError):
    """The delivery target will not take the objects (permission denied, bucket gone)."""


class SourceMissing(PermanentError):
    """An image of a frozen manifest is no longer in the anonymized bucket."""


@dataclass(frozen=True)
class Placed:
    size: int
    copied: bool  # False: a previous delivery of the chunk had copied it already


class DeliveryTarget(Protocol):
    def place(self, src_bucket: str, src_name: str, dst_bucket: str, dst_name: str) -> Placed:
        """Copy an object in, unless it is there already (a redelivered chunk copies
        nothing twice). DeliveryRefused, SourceMissing, or TransientError to retry."""

    def put_text(self, bucket: str, name: str, text: str, content_type: str) -> bool:
        """Write a small file create-only; False when it exists already."""

    def remove(self, bucket: str, name: str) -> bool:
        """Delete a delivered object; False when it was gone already."""


class UrlSigner(Protocol):
    def sign(self, bucket: str, name: str, expires_at: datetime) -> str:
        """A URL that reads the object until `expires_at`, and not after."""
