"""The CLI's inputs: every file under the input root, zip members one by one.

An input is named by its path relative to the input root (a zip member as
``archive.zip!member/path``), so the operator can find it; the journal and
``--redact-names`` only ever see a keyed hash of that name.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .reasons import DeidFailure, Rejection
from .zip_input import ZipLimits, iter_zip

MEMBER_SEPARATOR = "!"


@dataclass(frozen=True, slots=True)
class Planned:
    """An input known before any work: its name, the stamp of its file and its size."""

    name: str
    stamp: str  # size and mtime of the file on disk (of the zip, for its members)
    size: int  # bytes to de-identify (a member's inflated size), for rate and ETA
    archive: str | None = None  # the zip's name, for its members


@dataclass(frozen=True, slots=True)
class Task:
    """One input handed to a worker: a path on disk, or bytes taken out of a zip."""

    name: str
    stamp: str
    size: int
    path: str | None = None
    data: bytes | None = None
    reason: Rejection | None = None


def _is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _files(source: Path, skip: Path | None) -> list[tuple[Path, str]]:
    """(path, name relative to the input root), in a stable order, none under ``skip``."""
    if not source.is_dir():
        return [(source, source.name)]
    files = sorted(p for p in source.rglob("*") if p.is_file())
    if skip is not None:
        # An output folder inside the input folder: its outputs are not inputs.
        skip = skip.resolve()
        files = [p for p in files if not p.resolve().is_relative_to(skip)]
    return [(p, p.relative_to(source).as_posix()) for p in files]


def plan(source: Path, skip: Path | None = None) -> list[Planned]:
    """Every input under ``source``, without reading any DICOM (a zip's directory only)."""
    planned: list[Planned] = []
    for path, name in _files(source, skip):
        stamp = _stamp(path)
        if not _is_zip(path):
            planned.append(Planned(name, stamp, path.stat().st_size))
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                infos = [i for i in archive.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError, ValueError):
            planned.append(Planned(name, stamp, path.stat().st_size))  # reported as one input
            continue
        planned.extend(
            Planned(f"{name}{MEMBER_SEPARATOR}{info.filename}", stamp, info.file_size, name)
            for info in infos
        )
    return planned


def _zip_tasks(
    path: Path, name: str, wanted: dict[str, Planned], limits: ZipLimits
) -> Iterator[Task]:
    stamp = _stamp(path)
    try:
        for entry in iter_zip(path, limits):
            member = f"{name}{MEMBER_SEPARATOR}{entry.name}"
            if member in wanted:
                size = len(entry.data) if entry.data is not None else wanted[member].size
                yield Task(member, stamp, size, data=entry.data, reason=entry.reason)
    except DeidFailure as failure:
        # The package as a whole is refused (corrupt, bomb): one row names the zip itself.
        yield Task(name, stamp, path.stat().st_size, reason=failure.reason)


def iter_tasks(
    source: Path, wanted: list[Planned], limits: ZipLimits, skip: Path | None = None
) -> Iterator[Task]:
    """The tasks for the ``wanted`` inputs (all of them, or what a resumed run has left):
    plain files largest first, then the members of each zip as they are read."""
    by_name = {p.name: p for p in wanted if p.archive is None}
    by_archive: dict[str, dict[str, Planned]] = {}
    for p in wanted:
        if p.archive is not None:
            by_archive.setdefault(p.archive, {})[p.name] = p
    files = [(path, name, _is_zip(path)) for path, name in _files(source, skip)]
    plain = [
        (path, by_name[name]) for path, name, is_zip in files if not is_zip and name in by_name
    ]
    # Largest first: one long input (a 120-frame cine) started last would keep one worker
    # busy while the others sit idle at the end of the run.
    for path, item in sorted(plain, key=lambda pair: -pair[1].size):
        yield Task(item.name, item.stamp, item.size, path=str(path))
    for path, name, is_zip in files:
        members = by_archive.get(name, {})
        if is_zip and (name in by_name or members):  # an unreadable zip is planned whole
            yield from _zip_tasks(path, name, members, limits)
