"""Safe reading of zip packages: bounded size, entry count and ratio, no path traversal.

The one zip reader of the product: the CLI's ``iter_zip`` and the ingestion function's
``package_reader`` are both built on the guards below. Declared sizes in a zip can lie, so
limits are enforced twice: on the central directory before anything is inflated, and on
the bytes actually produced while inflating (CPython's zipfile stops a member at its
declared size, but the guard does not rely on it).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, BinaryIO

from .reasons import DeidFailure, Rejection

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """Limits for one package; the defaults fit a large study on a 2 GB function."""

    max_entries: int = 20_000
    max_total_bytes: int = 4 * 1024**3
    max_entry_bytes: int = 1024**3
    max_ratio: float = 200.0


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One member: its index (names may carry PHI and are never reported), data or reason."""

    index: int
    data: bytes | None
    reason: Rejection | None = None
    name: str = ""  # the member's name: for the operator's local report only (never logged)


def open_zip(source: str | os.PathLike[str] | BinaryIO) -> zipfile.ZipFile:
    """The archive, or DeidFailure(zip_corrupt) when its directory cannot be read."""
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DeidFailure(Rejection.ZIP_CORRUPT, type(exc).__name__) from None


def members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The file members (no directories), in directory order: an entry's index is here."""
    return [info for info in archive.infolist() if not info.is_dir()]


def file_entries(archive: zipfile.ZipFile, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """The file members, once the directory as a whole is within the limits."""
    infos = members(archive)
    if len(infos) > limits.max_entries:
        raise DeidFailure(Rejection.ZIP_BOMB, "too many entries")
    if sum(info.file_size for info in infos) > limits.max_total_bytes:
        raise DeidFailure(Rejection.ZIP_BOMB, "declared size over the limit")
    return infos


def unsafe_name(name: str) -> bool:
    """An absolute path, a parent reference or a drive letter: never followed."""
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def entry_refusal(info: zipfile.ZipInfo, limits: ZipLimits) -> DeidFailure | None:
    """Why a member is refused on what its directory record declares, before inflating."""
    if unsafe_name(info.filename):
        return DeidFailure(Rejection.ZIP_PATH_TRAVERSAL, "unsafe entry name")
    if info.file_size > limits.max_entry_bytes:
        return DeidFailure(Rejection.TOO_LARGE, "entry declared over the size limit")
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > CHUNK and ratio > limits.max_ratio:
        return DeidFailure(Rejection.ZIP_BOMB, "entry declared over the ratio limit")
    return None


def inflate(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    sink: IO[bytes],
    limits: ZipLimits,
    produced_before: int = 0,
) -> int:
    """Inflate one member into ``sink``, counting what it actually produces; its size.

    ``produced_before``: what earlier members of the package produced (the total limit).
    Raises DeidFailure: zip_bomb past a limit, zip_corrupt for a damaged or encrypted member.
    """
    size = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(CHUNK):
                size += len(chunk)
                if (
                    size > limits.max_entry_bytes
                    or produced_before + size > limits.max_total_bytes
                    or (size > CHUNK and size / max(info.compress_size, 1) > limits.max_ratio)
                ):
                    raise DeidFailure(Rejection.ZIP_BOMB, "inflated size over the limit")
                sink.write(chunk)
    except DeidFailure:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError) as exc:  # fmt: skip
        # RuntimeError: an encrypted member; the rest of the package may still be fine.
        raise DeidFailure(Rejection.ZIP_CORRUPT, type(exc).__name__) from None
    return size


def iter_zip(
    source: str | os.PathLike[str] | BinaryIO, limits: ZipLimits | None = None
) -> Iterator[ZipEntry]:
    """Yield the file members of a zip, each as bytes or with the reason it was refused.

    Raises DeidFailure (zip_corrupt or zip_bomb) when the package as a whole is refused:
    a member over the size or ratio limit refuses the whole package here (the CLI reads
    what a center sent in one go), while an unsafe name or a damaged member refuses only
    that member.
    """
    limits = limits or ZipLimits()
    with open_zip(source) as archive:
        produced = 0
        for index, info in enumerate(file_entries(archive, limits)):
            refusal = entry_refusal(info, limits)
            if refusal is not None and refusal.reason is Rejection.ZIP_PATH_TRAVERSAL:
                yield ZipEntry(index, None, refusal.reason, info.filename)
                continue
            if refusal is not None:
                raise DeidFailure(Rejection.ZIP_BOMB, refusal.detail)
            sink = io.BytesIO()
            try:
                produced += inflate(archive, info, sink, limits, produced)
            except DeidFailure as failure:
                if failure.reason is not Rejection.ZIP_CORRUPT:
                    raise
                yield ZipEntry(index, None, Rejection.ZIP_CORRUPT, info.filename)
                continue
            yield ZipEntry(index, sink.getvalue(), name=info.filename)
