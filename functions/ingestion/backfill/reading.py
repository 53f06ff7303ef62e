"""Reading an archived object, naming it, and keeping it in quarantine byte for byte.

ArchiveReader is the port the backfill service uses; ArchiveFiles is its adapter for both
kinds of archive: Cloud Storage through the platform's BlobStore (ranged reads of the listed
generation, a server-side copy into quarantine), and a folder on the worker's disk (the file
streamed into quarantine).
"""

from __future__ import annotations

import hashlib
from typing import Any, BinaryIO, Protocol

from functions.ingestion.backfill.sources import ArchiveObject
from functions.ingestion.domain import Upload
from functions.ingestion.pipeline import Keep
from shared.ports.blobs import BlobNotFound, BlobStore
from shared.ports.envelope import derived_id

_CHUNK = 1024 * 1024
# The kind of source a file's unit id is derived from (an upload's is "gcs-object").
FILE_UNIT = "archive-file"


class SourceGone(Exception):
    """The object was deleted or replaced after it was listed."""


class ArchiveReader(Protocol):
    def unit_id(self, obj: ArchiveObject, center_id: str) -> str:
        """The object's idempotency key: stable across runs of the backfill."""

    def open(self, obj: ArchiveObject) -> BinaryIO:
        """A seekable stream of the object's bytes; SourceGone if it is not there."""

    def keeper(self, obj: ArchiveObject) -> Keep:
        """What keeps the object, byte for byte, at a name of the quarantine bucket."""


class ArchiveFiles:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    def unit_id(self, obj: ArchiveObject, center_id: str) -> str:
        if obj.scheme == "gs":
            # One generation of one name, derived as an upload's is: an object is one unit
            # whichever way it is ingested.
            return Upload(obj.location, obj.name, obj.generation, obj.size).unit_id
        # A file has no generation: its content is its identity (the same bytes at the same
        # center are one unit, wherever the folder is mounted and whatever it is called).
        return derived_id(FILE_UNIT, center_id, _sha256(obj))

    def open(self, obj: ArchiveObject) -> BinaryIO:
        if obj.scheme == "gs":
            try:
                return self._blobs.open_read(
                    obj.location, obj.name, generation=obj.generation, size=obj.size
                )
            except BlobNotFound:
                raise SourceGone("the listed generation is gone") from None
        try:
            return obj.path.open("rb")
        except FileNotFoundError:
            raise SourceGone("the listed file is gone") from None

    def keeper(self, obj: ArchiveObject) -> Keep:
        def keep(bucket: str, name: str) -> dict[str, Any]:
            if obj.scheme == "gs":
                self._blobs.copy(
                    obj.location, obj.name, bucket, name, src_generation=obj.generation
                )
                return {"kept": "the archived object, byte for byte"}
            with obj.path.open("rb") as data:
                self._blobs.write(bucket, name, data, create_only=False)
            return {"kept": "the archived file, byte for byte"}

        return keep


def _sha256(obj: ArchiveObject) -> str:
    digest = hashlib.sha256()
    try:
        with obj.path.open("rb") as data:
            while chunk := data.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise SourceGone("the listed file is gone") from None
    return digest.hexdigest()
