"""The delivery target on the BlobStore port: a buyer's bucket, or a prefix (a managed
folder) of the platform's delivery bucket; in-memory in unit tests, Cloud Storage (or
fake-gcs-server) otherwise. Both pass tests/contract/test_delivery_targets.py.

Cloud Storage answers 403 when a bucket refuses our writes (404 when it is gone); the
shared adapter lets those errors through untranslated, so they are recognised here by
their class and made a DeliveryRefused (a permanent failure, never retried until it dies).

A buyer's bucket grants object creation only (roles/storage.objectCreator): no read, no
overwrite, no delete. So nothing is read back from it, an image is streamed in create-only
(a server-side copy would overwrite, which a redelivered chunk must not, and the delivery
account may not read our anonymized bucket), and the probe object stays when it cannot be
deleted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, TypeVar

from functions.data_services.domain import (
    OBJECT_VIEWER,
    DeliveryMode,
    TargetSpec,
    Where,
    refusal_detail,
    where_of,
)
from functions.data_services.ports import (
    DeliveryRefused,
    FolderAccess,
    FolderGrant,
    Placed,
    SourceMissing,
)
from shared.ports.blobs import BlobExists, BlobNotFound, BlobStore

T = TypeVar("T")
_REFUSALS = frozenset({"Forbidden", "PermissionDenied", "Unauthorized", "Refused"})
_GONE = frozenset({"NotFound"})  # a write into a bucket that does not exist
WHOLE_WRITE_LIMIT = 8 * 1024 * 1024
PROBE_TEXT = "SaludTech de los Alpes: a test write before a delivery; safe to delete.\n"


class _Refused(Exception):
    pass


def _refusing(call: Callable[[], T]) -> T:
    try:
        return call()
    except (BlobExists, BlobNotFound):
        raise
    except Exception as error:
        if type(error).__name__ in _REFUSALS | _GONE:
            raise _Refused from None
        raise


@dataclass
class StorageDeliveryTarget:
    spec: TargetSpec
    sources: BlobStore  # where the anonymized images are read (our own identity)
    dest: BlobStore  # writes into spec.bucket (as the delivery account for a buyer's)
    folders: FolderAccess
    public_url: str
    service_account: str = ""  # the delivery account a buyer grants, named in refusals

    def _name(self, name: str) -> str:
        return f"{self.spec.root}{name}"

    def _refused(self, reason: str = "delivery_refused") -> DeliveryRefused:
        if self.spec.buyer_bucket:
            return DeliveryRefused(
                "delivery_target_refused", refusal_detail(self.spec, self.service_account)
            )
        return DeliveryRefused(reason, f"{self.spec.bucket} refused the write")

    def probe(self) -> None:
        name = self.spec.probe_name
        try:
            _refusing(
                lambda: self.dest.write(
                    self.spec.bucket, name, PROBE_TEXT.encode(), content_type="text/plain"
                )
            )
        except BlobExists:
            pass  # an earlier probe's object, left where deleting is not ours to do
        except _Refused:
            raise self._refused("delivery_target_refused") from None
        # objectCreator may not delete: the probe object then stays, harmless.
        with contextlib.suppress(_Refused):
            _refusing(lambda: self.dest.delete(self.spec.bucket, name))

    def place(self, src_bucket: str, src_name: str, name: str) -> Placed:
        target = self._name(name)
        try:
            if self.spec.buyer_bucket:
                return self._stream(src_bucket, src_name, target)
            there = self.dest.stat(self.spec.bucket, target)
            if there is not None:
                return Placed(size=there.size, copied=False)
            info = _refusing(lambda: self.dest.copy(src_bucket, src_name, self.spec.bucket, target))
        except BlobNotFound:
            raise SourceMissing("source_missing", "an image of the manifest is gone") from None
        except _Refused:
            raise self._refused() from None
        return Placed(size=info.size, copied=True)

    def _stream(self, src_bucket: str, src_name: str, target: str) -> Placed:
        source = self.sources.stat(src_bucket, src_name)
        if source is None:
            raise BlobNotFound(f"no such object in {src_bucket}")
        # A small image in one request (a multipart upload, whose create-only
        # precondition fake-gcs-server honours too); a large one streamed in chunks.
        data: bytes | BinaryIO = (
            self.sources.read_bytes(src_bucket, src_name)
            if source.size <= WHOLE_WRITE_LIMIT
            else self.sources.open_read(src_bucket, src_name, size=source.size)
        )
        try:
            _refusing(
                lambda: self.dest.write(
                    self.spec.bucket, target, data,
                    content_type=source.content_type or "application/dicom",
                )
            )  # fmt: skip
        except BlobExists:
            return Placed(size=source.size, copied=False)
        finally:
            if not isinstance(data, bytes):
                data.close()
        return Placed(size=source.size, copied=True)

    def put_text(self, name: str, text: str, content_type: str) -> bool:
        try:
            _refusing(
                lambda: self.dest.write(
                    self.spec.bucket, self._name(name), text.encode(), content_type=content_type
                )
            )
        except BlobExists:
            return False
        except _Refused:
            raise self._refused() from None
        return True

    def remove(self, name: str) -> bool:
        try:
            return _refusing(lambda: self.dest.delete(self.spec.bucket, self._name(name)))
        except _Refused:
            if self.spec.buyer_bucket:
                return False  # the buyer's copies are the buyer's
            raise self._refused() from None

    def read_text(self, name: str) -> str | None:
        """A file of the platform's bucket as written (the files route, tests); None in a
        buyer's bucket, which we may not read."""
        if self.spec.buyer_bucket:
            return None
        try:
            return self.dest.read_bytes(self.spec.bucket, self._name(name)).decode()
        except BlobNotFound:
            return None

    @property
    def _folder(self) -> bool:
        return self.spec.mode is DeliveryMode.MANAGED_FOLDER and self.spec.principal is not None

    def grant(self, until: datetime) -> None:
        if not self._folder:
            return
        spec, principal = self.spec, self.spec.principal
        assert principal is not None
        self.folders.ensure_folder(spec.bucket, spec.root)
        self.folders.grant(spec.bucket, spec.root, principal, OBJECT_VIEWER, until)

    def revoke(self) -> None:
        if self._folder:
            self.folders.revoke(self.spec.bucket, self.spec.root)

    def grants(self) -> list[FolderGrant]:
        return self.folders.grants(self.spec.bucket, self.spec.root) if self._folder else []

    def where(self, access_until: str | None = None) -> Where:
        return where_of(self.spec, self.public_url, access_until)
