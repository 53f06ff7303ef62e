"""Zip packages read in place: the central directory to count entries, one entry at a time.

The package is never copied: zipfile reads through a seekable, ranged stream of the object,
so listing costs the central directory and an entry costs its own compressed bytes. Sizes
declared in a zip can lie, so limits are checked on the directory first and again on the
bytes actually inflated (the same rules as the engine's deid/zip_input.py).
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import PurePosixPath
from typing import IO, BinaryIO

from functions.ingestion.deid import Rejection
from functions.ingestion.domain import IngestionLimits

_CHUNK = 1024 * 1024
# Entries below this are kept in memory; larger ones spill to a temporary file.
SPOOL_BYTES = 64 * 1024 * 1024


class PackageRefused(Exception):
    """The package or one entry cannot be ingested; `reason` is a stable code, no PHI."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


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


def extract_entry(stream: BinaryIO, index: int, limits: IngestionLimits) -> IO[bytes]:
    """Entry `index` inflated into a seekable buffer (the caller closes it)."""
    with _open(stream) as archive:
        infos = _files(archive)
        if index >= len(infos):
            raise PackageRefused(Rejection.ZIP_CORRUPT.value, "no such entry")
        info = infos[index]
        if _unsafe_name(info.filename):
            raise PackageRefused(Rejection.ZIP_PATH_TRAVERSAL.value, "unsafe entry name")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.max_file_bytes or (
            info.file_size > _CHUNK and ratio > limits.max_ratio
        ):
            raise PackageRefused(Rejection.ZIP_BOMB.value, "entry size or ratio over the limit")
        buffer = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        try:
            _inflate(archive, info, buffer, limits)
        except BaseException:
            buffer.close()
            raise
    buffer.seek(0)
    return buffer


def _inflate(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, sink: IO[bytes], limits: IngestionLimits
) -> None:
    produced = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                produced += len(chunk)
                if produced > limits.max_file_bytes or (
                    produced > _CHUNK and produced / max(info.compress_size, 1) > limits.max_ratio
                ):
                    raise PackageRefused(Rejection.ZIP_BOMB.value, "inflated size over the limit")
                sink.write(chunk)
    except PackageRefused:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError) as error:  # fmt: skip
        # RuntimeError: an encrypted member.
        raise PackageRefused(Rejection.ZIP_CORRUPT.value, type(error).__name__) from None
