"""Zip packages read in place: the central directory to count entries, one entry at a time.

The package is never copied: zipfile reads through a seekable, ranged stream of the object,
so listing costs the central directory and an entry costs its own compressed bytes. Sizes
declared in a zip can lie, so limits are checked on the directory first and again on the
bytes actually inflated (the same rules as the engine's deid/zip_input.py). A refused entry
is kept as it sits in the package (its local header and compressed bytes, `raw_member`):
never its inflation, so quarantine holds at most what the center sent.
"""

from __future__ import annotations

import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, BinaryIO

from functions.ingestion.deid import Rejection
from functions.ingestion.domain import IngestionLimits

_CHUNK = 1024 * 1024
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


def _open(stream: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise PackageRefused(Rejection.ZIP_CORRUPT.value, type(error).__name__) from None


def _files(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in archive.infolist() if not info.is_dir()]


def count_entries(stream: BinaryIO, limits: IngestionLimits) -> int:
    """How many file entries the package holds, or PackageRefused for the whole package."""
    with _open(stream) as archive:
        infos = _files(archive)
    if not infos:
        raise PackageRefused("empty_package", "no file entries")
    if len(infos) > limits.max_entries:
        raise PackageRefused(Rejection.ZIP_BOMB.value, "too many entries")
    if sum(info.file_size for info in infos) > limits.max_zip_bytes:
        raise PackageRefused(Rejection.ZIP_BOMB.value, "declared size over the limit")
    return len(infos)


def _unsafe_name(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def _refusal(info: zipfile.ZipInfo, limits: IngestionLimits) -> PackageRefused | None:
    """Why an entry is refused on what its directory record declares, before inflating."""
    if _unsafe_name(info.filename):
        return PackageRefused(Rejection.ZIP_PATH_TRAVERSAL.value, "unsafe entry name")
    if info.file_size > limits.max_file_bytes:
        return PackageRefused("too_large", "entry declared over the size limit")
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _CHUNK and ratio > limits.max_ratio:
        return PackageRefused(Rejection.ZIP_BOMB.value, "entry declared over the ratio limit")
    return None


def extract_entry(stream: BinaryIO, index: int, limits: IngestionLimits) -> IO[bytes]:
    """Entry `index` inflated into a seekable buffer (the caller closes it)."""
    with _open(stream) as archive:
        infos = _files(archive)
        if index >= len(infos):
            raise PackageRefused(Rejection.ZIP_CORRUPT.value, "no such entry")
        info = infos[index]
        refusal = _refusal(info, limits)
        if refusal is not None:
            raise refusal
        buffer = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        try:
            _inflate(archive, info, buffer, limits)
        except BaseException:
            buffer.close()
            raise
    buffer.seek(0)
    return buffer


def raw_member(stream: BinaryIO, index: int) -> MemberRange | None:
    """Where entry `index` sits in the package, or None when the package cannot say (a
    broken directory or local header: then the whole package is what can be kept)."""
    try:
        with zipfile.ZipFile(stream) as archive:
            infos = _files(archive)
            if index >= len(infos):
                return None
            info = infos[index]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
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
        chunk = stream.read(min(_CHUNK, remaining))
        if not chunk:
            raise PackageRefused(Rejection.ZIP_CORRUPT.value, "package shorter than its entry")
        sink.write(chunk)
        remaining -= len(chunk)


def _inflate(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, sink: IO[bytes], limits: IngestionLimits
) -> None:
    try:
        with archive.open(info) as member:
            inflate_bounded(member, info.compress_size, sink, limits)
    except PackageRefused:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError) as error:  # fmt: skip
        # RuntimeError: an encrypted member.
        raise PackageRefused(Rejection.ZIP_CORRUPT.value, type(error).__name__) from None


def inflate_bounded(
    member: IO[bytes], compress_size: int, sink: IO[bytes], limits: IngestionLimits
) -> None:
    """Copy an inflating member to `sink`, counting what it actually produces: the guard
    that does not trust the directory (nor the zip library's truncation to the declared
    size) against a bomb."""
    produced = 0
    while chunk := member.read(_CHUNK):
        produced += len(chunk)
        if produced > limits.max_file_bytes or (
            produced > _CHUNK and produced / max(compress_size, 1) > limits.max_ratio
        ):
            raise PackageRefused(Rejection.ZIP_BOMB.value, "inflated size over the limit")
        sink.write(chunk)
