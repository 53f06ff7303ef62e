"""The delivery target on the BlobStore port: the delivery bucket of this project.

Cloud Storage answers 403 when a bucket refuses our writes; the shared adapter lets that
error through untranslated, so it is recognised here by its class and made a
DeliveryRefused (a permanent failure of the service, never retried until it dies).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from functions.data_services.ports import DeliveryRefused, Placed, SourceMissing
from shared.ports.blobs import BlobExists, BlobNotFound, BlobStore

T = TypeVar("T")
_REFUSALS = frozenset({"Forbidden", "PermissionDenied", "Unauthorized"})


def _refusing(call: Callable[[], T], bucket: str) -> T:
    try:
        return call()
    except Exception as error:
        if type(error).__name__ in _REFUSALS:
            raise DeliveryRefused("delivery_refused", f"{bucket} refused the write") from None
        raise


class BucketDeliveryTarget:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    def place(self, src_bucket: str, src_name: str, dst_bucket: str, dst_name: str) -> Placed:
        there = self._blobs.stat(dst_bucket, dst_name)
        if there is not None:
            return Placed(size=there.size, copied=False)
        try:
            info = _refusing(
                lambda: self._blobs.copy(src_bucket, src_name, dst_bucket, dst_name), dst_bucket
            )
        except BlobNotFound:
            raise SourceMissing("source_missing", "an image of the manifest is gone") from None
        return Placed(size=info.size, copied=True)

    def put_text(self, bucket: str, name: str, text: str, content_type: str) -> bool:
        try:
            _refusing(
                lambda: self._blobs.write(bucket, name, text.encode(), content_type=content_type),
                bucket,
            )
        except BlobExists:
            return False
        return True

    def remove(self, bucket: str, name: str) -> bool:
        return _refusing(lambda: self._blobs.delete(bucket, name), bucket)
