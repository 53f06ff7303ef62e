"""BlobStore on Google Cloud Storage (the cloud, or fake-gcs-server via STORAGE_EMULATOR_HOST).

Small objects are fetched in one request (cheaper than a ranged reader's round trips); larger
ones are read through the client's BlobReader, which fetches ranges as the caller reads and
seeks, so a 512 MiB image never sits whole in memory or on disk. Likewise up: up to 8 MiB
(bytes, or a seekable stream) in one request, more in resumable chunks.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO

from google.api_core import exceptions as google_errors
from google.cloud import storage  # type: ignore[attr-defined]

from shared.adapters import grants
from shared.ports.blobs import BlobExists, BlobInfo, BlobNotFound, BlobUnavailable

WHOLE_READ_LIMIT = 8 * 1024 * 1024
READ_CHUNK = 8 * 1024 * 1024
# A stream is uploaded in resumable chunks of this size (the client's default, 100 MiB,
# would hold that much of a large output in memory at once); a multiple of 256 KiB.
WRITE_CHUNK = 8 * 1024 * 1024
_TRANSIENT = (
    google_errors.ServiceUnavailable,
    google_errors.InternalServerError,
    google_errors.TooManyRequests,
    google_errors.GatewayTimeout,
    google_errors.RetryError,
    ConnectionError,
)


def _info(blob: Any) -> BlobInfo:
    return BlobInfo(
        bucket=blob.bucket.name,
        name=blob.name,
        generation=int(blob.generation or 0),
        size=int(blob.size or 0),
        content_type=blob.content_type,
        metadata=dict(blob.metadata or {}),
    )


def _small_stream_as_bytes(data: bytes | BinaryIO) -> bytes | BinaryIO:
    """What is left of a seekable stream, as bytes, when it fits one request: the client
    uploads a stream as a resumable upload (a request to start it, then the chunks) even
    when it is small, and bytes of up to WRITE_CHUNK in one multipart request."""
    if isinstance(data, bytes) or not data.seekable():
        return data
    start = data.tell()
    end = data.seek(0, io.SEEK_END)
    data.seek(start)
    return data.read() if end - start <= WRITE_CHUNK else data


class GcsBlobStore:
    def __init__(self, client: storage.Client) -> None:
        self._client = client
        # requests looks proxies up in the environment on every call (about 1 ms of CPU
        # each, a dozen calls per upload); functions reach Cloud Storage directly.
        session = getattr(client, "_http", None)
        if session is not None:
            session.trust_env = False

    def _blob(self, bucket: str, name: str, generation: int | None = None) -> Any:
        return self._client.bucket(bucket).blob(name, generation=generation)

    def stat(self, bucket: str, name: str) -> BlobInfo | None:
        grants.check_bucket(bucket, "read")
        try:
            blob = self._client.bucket(bucket).get_blob(name)
        except _TRANSIENT as error:
            raise BlobUnavailable(f"gcs stat: {type(error).__name__}") from error
        return _info(blob) if blob is not None else None

    def open_read(
        self, bucket: str, name: str, *, generation: int | None = None, size: int | None = None
    ) -> BinaryIO:
        grants.check_bucket(bucket, "read")
        if size is not None and size <= WHOLE_READ_LIMIT:
            return io.BytesIO(self.read_bytes(bucket, name, generation=generation))
        blob = self._blob(bucket, name, generation)
        try:
            blob.reload()  # the size, so that seeking from the end needs no other request
        except google_errors.NotFound:
            raise BlobNotFound(f"no such object in {bucket}") from None
        except _TRANSIENT as error:
            raise BlobUnavailable(f"gcs open: {type(error).__name__}") from error
        reader: BinaryIO = blob.open("rb", chunk_size=READ_CHUNK)
        return reader

    def read_bytes(self, bucket: str, name: str, *, generation: int | None = None) -> bytes:
        grants.check_bucket(bucket, "read")
        try:
            data: bytes = self._blob(bucket, name, generation).download_as_bytes(checksum=None)
        except google_errors.NotFound:
            raise BlobNotFound(f"no such object in {bucket}") from None
        except _TRANSIENT as error:
            raise BlobUnavailable(f"gcs read: {type(error).__name__}") from error
        return data

    def write(
        self,
        bucket: str,
        name: str,
        data: bytes | BinaryIO,
        *,
        create_only: bool = True,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> BlobInfo:
        grants.check_bucket(bucket, "create" if create_only else "overwrite")
        blob = self._blob(bucket, name)
        blob.chunk_size = WRITE_CHUNK
        if metadata:
            blob.metadata = dict(metadata)
        precondition = {"if_generation_match": 0} if create_only else {}
        data = _small_stream_as_bytes(data)
        try:
            if isinstance(data, bytes):
                blob.upload_from_string(data, content_type=content_type, **precondition)
            else:
                blob.upload_from_file(data, content_type=content_type, **precondition)
        except google_errors.PreconditionFailed:
            raise BlobExists(f"the name is taken in {bucket}") from None
        except _TRANSIENT as error:
            raise BlobUnavailable(f"gcs write: {type(error).__name__}") from error
        return _info(blob)

    def copy(
        self,
        src_bucket: str,
        src_name: str,
        dst_bucket: str,
        dst_name: str,
        *,
        src_generation: int | None = None,
    ) -> BlobInfo:
        grants.check_bucket(src_bucket, "read")
        grants.check_bucket(dst_bucket, "create")
        source = self._client.bucket(src_bucket)
        try:
            copied = source.copy_blob(
                source.blob(src_name),
                self._client.bucket(dst_bucket),
                dst_name,
                source_generation=src_generation,
            )
        except google_errors.NotFound:
            raise BlobNotFound(f"no such object in {src_bucket}") from None
        except _TRANSIENT as error:
            raise BlobUnavailable(f"gcs copy: {type(error).__name__}") from error
        return _info(copied)

    def delete(self, bucket: str, name: str, *, generation: int | None = None) -> bool:
        grants.check_bucket(bucket, "delete")
        precondition = {"if_generation_match": generation} if generation is not None else {}
        try:
            # Locally too: the stack's front keeps the precondition (infra/local/gcs_front.py).
            self._blob(bucket, name).delete(**precondition)
        except (google_errors.NotFound, google_errors.PreconditionFailed):
            return False
        except _TRANSIENT as error:
            raise BlobUnavailable(f"gcs delete: {type(error).__name__}") from error
        return True

    def list_names(self, bucket: str, prefix: str = "") -> list[str]:
        grants.check_bucket(bucket, "list")
        try:
            return sorted(b.name for b in self._client.list_blobs(bucket, prefix=prefix or None))
        except _TRANSIENT as error:
            raise BlobUnavailable(f"gcs list: {type(error).__name__}") from error
