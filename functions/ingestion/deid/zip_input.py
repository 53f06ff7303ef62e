"""Safe reading of zip packages: bounded size, entry count and ratio, no path traversal.

Declared sizes in a zip can lie, so limits are enforced twice: on the central directory
before anything is inflated, and on the bytes actually produced while inflating.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from .reasons import DeidFailure, Rejection

_CHUNK = 1024 * 1024


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
    name: str = ""  # the member's name: for the operator's report only (--report-names)


def _unsafe_name(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def iter_zip(
    source: str | os.PathLike[str] | BinaryIO, limits: ZipLimits | None = None
) -> Iterator[ZipEntry]:
    """Yield the file members of a zip, each as bytes or with the reason it was refused.

    Raises DeidFailure (zip_corrupt or zip_bomb) when the package as a whole is refused.
    """
    limits = limits or ZipLimits()
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DeidFailure(Rejection.ZIP_CORRUPT, type(exc).__name__) from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > limits.max_entries:
            raise DeidFailure(Rejection.ZIP_BOMB, "too many entries")
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_total_bytes:
            raise DeidFailure(Rejection.ZIP_BOMB, "declared size over the limit")
        produced = 0
        for index, info in enumerate(infos):
            if _unsafe_name(info.filename):
                yield ZipEntry(index, None, Rejection.ZIP_PATH_TRAVERSAL, info.filename)
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limits.max_entry_bytes or (
                info.file_size > _CHUNK and ratio > limits.max_ratio
            ):
                raise DeidFailure(Rejection.ZIP_BOMB, "entry size or ratio over the limit")
            chunks: list[bytes] = []
            size = 0
            try:
                with archive.open(info) as member:
                    while True:
                        chunk = member.read(_CHUNK)
                        if not chunk:
                            break
                        size += len(chunk)
                        produced += len(chunk)
                        if (
                            size > limits.max_entry_bytes
                            or produced > limits.max_total_bytes
                            or (
                                size > _CHUNK
                                and size / max(info.compress_size, 1) > limits.max_ratio
                            )
                        ):
                            raise DeidFailure(Rejection.ZIP_BOMB, "inflated size over the limit")
                        chunks.append(chunk)
            except DeidFailure:
                raise
            except (
                zipfile.BadZipFile,
                OSError,
                EOFError,
                ValueError,
                NotImplementedError,
                RuntimeError,
            ):
                # RuntimeError: encrypted member; the rest of the package may still be fine.
                yield ZipEntry(index, None, Rejection.ZIP_CORRUPT, info.filename)
                continue
            yield ZipEntry(index, b"".join(chunks), name=info.filename)
