"""Zip packages read in place: the central directory to count entries, one entry at a time.

The package is never copied: zipfile reads through a seekable, ranged stream of the object,
so listing costs the central directory and an entry costs its own compressed bytes. Sizes
declared in a zip can lie, so limits are checked on the directory first and again on the
bytes actually inflated, by the one zip reader of the product (deid/zip_input.py, which
the CLI uses too); this module adapts its limits and refusals to ingestion. A refused entry
is kept as it sits in the package (its local header and compressed bytes, `raw_member`):
never its inflation, so quarantine holds at most what the center sent.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, BinaryIO

from functions.ingestion.deid import Rejection
from functions.ingestion.deid.reasons import DeidFailure
from functions.ingestion.deid.zip_input import (
    CHUNK,
    ZipLimits,
    entry_refusal,
    file_entries,
    inflate,
    members,
    open_zip,
)
from functions.ingestion.domain import IngestionLimits

# Entries below this are kept in memory; larger ones spill to a temporary file.
SPOOL_BYTES = 8 * 1024 * 1024
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"


class PackageRefused(Exception):
    """The package or one entry cannot be ingested; `reason` is a stable code, no PHI."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class MemberRange:
    """Where an entry sits in the package: [start, end) covers its local file header and its
    compressed bytes, verbatim (what a reviewer needs to inflate it by hand)."""

    start: int
    end: int
    compress_type: int
    compress_size: int
    declared_size: int
    crc: int

    def report(self) -> dict[str, int]:
        return {
            "package_offset": self.start,
            "bytes": self.end - self.start,
            "compress_type": self.compress_type,
            "compress_size": self.compress_size,
            "declared_size": self.declared_size,
            "crc32": self.crc,
        }


def _zip_limits(limits: IngestionLimits) -> ZipLimits:
    return ZipLimits(
        max_entries=limits.max_entries,
        max_total_bytes=limits.max_zip_bytes,
        max_entry_bytes=limits.max_file_bytes,
        max_ratio=limits.max_ratio,
    )


@contextmanager
def _refusals() -> Iterator[None]:
    """The shared reader's failures as this module's PackageRefused (same codes)."""
    try:
        yield
    except DeidFailure as failure:
        raise PackageRefused(failure.reason.value, failure.detail) from None


def count_entries(stream: BinaryIO, limits: IngestionLimits) -> int:
    """How many file entries the package holds, or PackageRefused for the whole package."""
    with _refusals(), open_zip(stream) as archive:
        infos = file_entries(archive, _zip_limits(limits))
    if not infos:
        raise PackageRefused("empty_package", "no file entries")
    return len(infos)


def extract_entry(stream: BinaryIO, index: int, limits: IngestionLimits) -> IO[bytes]:
    """Entry `index` inflated into a seekable buffer (the caller closes it)."""
    bounds = _zip_limits(limits)
    with _refusals(), open_zip(stream) as archive:
        infos = members(archive)
        if index >= len(infos):
            raise PackageRefused(Rejection.ZIP_CORRUPT.value, "no such entry")
        refusal = entry_refusal(infos[index], bounds)
        if refusal is not None:
            raise refusal
        buffer = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        try:
            inflate(archive, infos[index], buffer, bounds)
        except BaseException:
            buffer.close()
            raise
    buffer.seek(0)
    return buffer


def raw_member(stream: BinaryIO, index: int) -> MemberRange | None:
    """Where entry `index` sits in the package, or None when the package cannot say (a
    broken directory or local header: then the whole package is what can be kept)."""
    try:
        with open_zip(stream) as archive:
            infos = members(archive)
    except DeidFailure:
        return None
    if index >= len(infos):
        return None
    info = infos[index]
    stream.seek(info.header_offset)
    head = stream.read(_LOCAL_HEADER.size)
    if len(head) < _LOCAL_HEADER.size or head[:4] != _LOCAL_SIGNATURE:
        return None
    fields = _LOCAL_HEADER.unpack(head)
    name_length, extra_length = fields[9], fields[10]
    data_start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    end = data_start + info.compress_size
    if end > stream.seek(0, 2):
        return None
    return MemberRange(
        start=info.header_offset, end=end, compress_type=info.compress_type,
        compress_size=info.compress_size, declared_size=info.file_size, crc=info.CRC,
    )  # fmt: skip


def copy_member(stream: BinaryIO, member: MemberRange, sink: IO[bytes]) -> None:
    """The member's bytes, verbatim, in chunks (a member is at most the package's size)."""
    stream.seek(member.start)
    remaining = member.end - member.start
    while remaining > 0:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            raise PackageRefused(Rejection.ZIP_CORRUPT.value, "package shorter than its entry")
        sink.write(chunk)
        remaining -= len(chunk)
