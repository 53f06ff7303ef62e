"""In-memory BlobStore for unit tests; it passes the same contract as Cloud Storage."""

from __future__ import annotations

import io
import itertools
import threading
from dataclasses import dataclass
from typing import BinaryIO

from shared.ports.blobs import BlobExists, BlobInfo, BlobNotFound


@dataclass(frozen=True)
class _Stored:
    info: BlobInfo
    data: bytes


class InMemoryBlobStore:
    def __init__(self) -> None:
        self._objects: dict[tuple[str, str], _Stored] = {}
        self._lock = threading.Lock()
        # Cloud Storage generations only grow; a counter keeps them unique and ordered.
        self._generations = itertools.count(1_700_000_000_000_000)
        self.reads = 0  # how many streams were opened: tests prove work was skipped

    def _get(self, bucket: str, name: str, generation: int | None) -> _Stored:
        with self._lock:
            stored = self._objects.get((bucket, name))
        if stored is None or (generation is not None and stored.info.generation != generation):
            raise BlobNotFound(f"no such object in {bucket}")
        return stored

    def stat(self, bucket: str, name: str) -> BlobInfo | None:
        with self._lock:
            stored = self._objects.get((bucket, name))
        return stored.info if stored else None

    def open_read(
        self, bucket: str, name: str, *, generation: int | None = None, size: int | None = None
    ) -> BinaryIO:
        stored = self._get(bucket, name, generation)
        self.reads += 1
        return io.BytesIO(stored.data)

    def read_bytes(self, bucket: str, name: str, *, generation: int | None = None) -> bytes:
        return self._get(bucket, name, generation).data

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
        content = data if isinstance(data, bytes) else data.read()
        with self._lock:
            if create_only and (bucket, name) in self._objects:
                raise BlobExists(f"the name is taken in {bucket}")
            info = BlobInfo(
                bucket, name, next(self._generations), len(content), content_type,
                dict(metadata or {}),
            )  # fmt: skip
            self._objects[(bucket, name)] = _Stored(info, content)
        return info

    def copy(
        self,
        src_bucket: str,
        src_name: str,
        dst_bucket: str,
        dst_name: str,
        *,
        src_generation: int | None = None,
    ) -> BlobInfo:
        source = self._get(src_bucket, src_name, src_generation)
        return self.write(
            dst_bucket, dst_name, source.data, create_only=False,
            content_type=source.info.content_type or "application/octet-stream",
            metadata=source.info.metadata,
        )  # fmt: skip

    def delete(self, bucket: str, name: str, *, generation: int | None = None) -> bool:
        with self._lock:
            stored = self._objects.get((bucket, name))
            if stored is None or (generation is not None and stored.info.generation != generation):
                return False
            del self._objects[(bucket, name)]
            return True

    def list_names(self, bucket: str, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(n for b, n in self._objects if b == bucket and n.startswith(prefix))
