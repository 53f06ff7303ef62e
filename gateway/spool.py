"""The local spool: every acknowledged instance is on disk, and stays there until sent.

Layout under the spool directory:

    salt                          the per-gateway secret that keys every name below (0600)
    incoming/<random>.part        an instance being written; never acknowledged, so a
                                  restart deletes whatever is left here
    ready/<study-key>/<sop-key>.dcm   acknowledged, waiting to be sent
    sending/<batch-id>/<study-key>/<sop-key>.dcm   claimed by the uploader; a restart puts
                                  them back in ready/ (they are sent again: at least once)
    outgoing/<batch-id>.zip       a study's zip being uploaded; rebuilt after a restart
    sent/<study-key>/<sop-key>.dcm    only with keep_sent

Keys are HMAC-SHA256 of the UIDs under the salt: a file name says nothing about a patient
or a study, and cannot be reversed by hashing known UIDs without the salt. The same UID
always gives the same key on one gateway, so a PACS that sends an instance again replaces
its spooled copy instead of adding a second one.

Durability (store): write incoming/<tmp>, fsync it, rename it into ready/<study-key>/,
fsync that directory (and ready/ when the study's directory is new, and incoming/). Only
then does the caller acknowledge the C-STORE. All file operations go through FileOps so a
test can record their order.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

SALT_BYTES = 32
KEY_CHARS = 32  # 128 bits of the HMAC: no collision in any spool's lifetime
DCM = ".dcm"


class FileOps:
    """The file system calls the spool's guarantees rest on (a seam for ordering tests)."""

    def create(self, path: Path) -> BinaryIO:
        return path.open("xb")

    def fsync(self, handle: BinaryIO) -> None:
        handle.flush()
        os.fsync(handle.fileno())

    def replace(self, source: Path, target: Path) -> None:
        os.replace(source, target)

    def makedir(self, path: Path) -> bool:
        """Create the directory; True when it is new (its parent then needs an fsync)."""
        try:
            path.mkdir()
        except FileExistsError:
            return False
        return True

    def fsync_dir(self, path: Path) -> None:
        # A rename or a new entry is durable only once its directory is synced.
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def unlink(self, path: Path) -> None:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Entry:
    """One spooled instance: its study's key, where it is, its size and arrival time."""

    study: str
    path: Path
    size: int
    mtime: float


@dataclass(frozen=True)
class Batch:
    """What one upload sends: one instance, or (part of) one study as a zip."""

    study: str
    entries: tuple[Entry, ...]
    claim_dir: Path | None = None  # sending/<batch-id>, once claimed

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.entries)


def plan_batches(  # noqa: PLR0917 - the policy's knobs, named at every call site
    entries: Iterable[Entry],
    now: float,
    grouping: str,
    quiet_seconds: float,
    max_bytes: int,
    max_entries: int,
) -> list[Batch]:
    """Which spooled instances to send now, and how grouped (pure: no clock, no disk).

    "instance": each on its own, at once. "study": a study is sent once nothing of it has
    arrived for `quiet_seconds` (DIMSE has no end-of-study signal); a study that outgrows
    one zip sends its full zips early and keeps the rest until it is quiet.
    """
    ordered = sorted(entries, key=lambda e: (e.mtime, e.path.name))
    if grouping == "instance":
        return [Batch(entry.study, (entry,)) for entry in ordered]
    studies: dict[str, list[Entry]] = {}
    for entry in ordered:
        studies.setdefault(entry.study, []).append(entry)
    batches: list[Batch] = []
    for study, members in studies.items():
        quiet = now - max(entry.mtime for entry in members) >= quiet_seconds
        chunk: list[Entry] = []
        chunk_bytes = 0
        for entry in members:
            if chunk and (chunk_bytes + entry.size > max_bytes or len(chunk) >= max_entries):
                batches.append(Batch(study, tuple(chunk)))
                chunk, chunk_bytes = [], 0
            chunk.append(entry)
            chunk_bytes += entry.size
        if chunk and quiet:
            batches.append(Batch(study, tuple(chunk)))
    return batches


@dataclass
class Spool:
    root: Path
    salt: bytes
    ops: FileOps = field(default_factory=FileOps)

    @classmethod
    def open(cls, root: Path, ops: FileOps | None = None) -> Spool:
        """The spool at `root`, created if new; what a crash left half done is undone."""
        root.mkdir(parents=True, exist_ok=True)
        for name in ("incoming", "ready", "sending", "outgoing", "sent"):
            (root / name).mkdir(exist_ok=True)
        spool = cls(root, _salt(root / "salt"), ops or FileOps())
        spool.recover()
        return spool

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def ready(self) -> Path:
        return self.root / "ready"

    @property
    def sending(self) -> Path:
        return self.root / "sending"

    @property
    def outgoing(self) -> Path:
        return self.root / "outgoing"

    @property
    def sent(self) -> Path:
        return self.root / "sent"

    def key(self, uid: str) -> str:
        return hmac.new(self.salt, uid.encode(), hashlib.sha256).hexdigest()[:KEY_CHARS]

    # -- the SCP's side ------------------------------------------------------------------
    def store(self, chunks: Iterable[bytes], study_uid: str, sop_uid: str) -> Path:
        """Write one instance durably; return its place in ready/. Raises OSError when it
        cannot (the caller answers a failure status, never a success)."""
        ops = self.ops
        part = self.incoming / f"{uuid.uuid4().hex}.part"
        try:
            with ops.create(part) as handle:
                for chunk in chunks:
                    handle.write(chunk)
                ops.fsync(handle)
            study_dir = self.ready / self.key(study_uid)
            target = study_dir / f"{self.key(sop_uid)}{DCM}"
            for attempt in range(3):
                if ops.makedir(study_dir):
                    ops.fsync_dir(self.ready)
                try:
                    ops.replace(part, target)
                    break
                except FileNotFoundError:
                    # The uploader removed the study's emptied directory in between.
                    if attempt == 2 or not part.exists():
                        raise
            ops.fsync_dir(study_dir)
            ops.fsync_dir(self.incoming)
        except BaseException:
            with contextlib.suppress(OSError):
                ops.unlink(part)
            raise
        return target

    # -- the uploader's side -------------------------------------------------------------
    def pending(self) -> list[Entry]:
        """Every instance in ready/ (what the uploader may send)."""
        return list(_entries(self.ready))

    def depth(self) -> tuple[int, int]:
        """(instances, bytes) acknowledged and not yet sent: ready/ and sending/."""
        found = [*_entries(self.ready), *self._claimed()]
        return len(found), sum(entry.size for entry in found)

    def _claimed(self) -> Iterator[Entry]:
        for batch_dir in _dirs(self.sending):
            yield from _entries(batch_dir)

    def claim(self, batch: Batch) -> Batch:
        """Move the batch's files to sending/<id>/: from here on a new copy of one of them
        (the PACS sending it again) lands in ready/ and is sent later, never deleted by the
        end of this upload. Files gone meanwhile are left out."""
        batch_dir = self.sending / uuid.uuid4().hex
        batch_dir.mkdir()
        claimed: list[Entry] = []
        for entry in batch.entries:
            study_dir = batch_dir / entry.study
            self.ops.makedir(study_dir)
            target = study_dir / entry.path.name
            try:
                self.ops.replace(entry.path, target)
            except FileNotFoundError:
                continue
            claimed.append(Entry(entry.study, target, entry.size, entry.mtime))
        for study_dir in _dirs(batch_dir):
            self.ops.fsync_dir(study_dir)
        self.ops.fsync_dir(self.sending)
        return Batch(batch.study, tuple(claimed), batch_dir)

    def unclaim(self, batch: Batch) -> None:
        """Put a claimed batch back in ready/ (an upload given up at shutdown)."""
        for entry in batch.entries:
            self._return(entry.path, entry.study)
        if batch.claim_dir is not None:
            shutil.rmtree(batch.claim_dir, ignore_errors=True)

    def finish(self, batch: Batch, keep: bool) -> None:
        """The platform has the batch: move its files to sent/ or delete them."""
        for entry in batch.entries:
            if keep:
                study_dir = self.sent / entry.study
                study_dir.mkdir(exist_ok=True)
                self.ops.replace(entry.path, study_dir / entry.path.name)
            else:
                self.ops.unlink(entry.path)
        if batch.claim_dir is not None:
            shutil.rmtree(batch.claim_dir, ignore_errors=True)
        self.ops.fsync_dir(self.sending)

    def forget_empty_studies(self) -> None:
        """Remove study directories the uploader emptied (store() copes with the race)."""
        for study_dir in _dirs(self.ready):
            _remove_empty(study_dir)

    # -- restart -------------------------------------------------------------------------
    def recover(self) -> None:
        """Undo what a crash interrupted: unacknowledged parts go, claimed batches go back
        to ready/ (sent again: the platform keeps one record per identical instance), and
        half-built zips go (rebuilt from ready/)."""
        for part in self.incoming.iterdir():
            part.unlink(missing_ok=True)
        for leftover in self.outgoing.iterdir():
            leftover.unlink(missing_ok=True)
        for batch_dir in _dirs(self.sending):
            for entry in _entries(batch_dir):
                self._return(entry.path, entry.study)
            shutil.rmtree(batch_dir, ignore_errors=True)
        self.ops.fsync_dir(self.ready)
        self.ops.fsync_dir(self.sending)

    def _return(self, path: Path, study: str) -> None:
        study_dir = self.ready / study
        self.ops.makedir(study_dir)
        target = study_dir / path.name
        if target.exists():
            # A newer copy of the same instance arrived while this one was claimed: the
            # newer one is what the PACS last acknowledged-sent, keep it.
            self.ops.unlink(path)
        else:
            self.ops.replace(path, target)
        self.ops.fsync_dir(study_dir)


def _salt(path: Path) -> bytes:
    """The gateway's salt, made once (0600) and kept with the spool: the same instance keeps
    its name across restarts."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(SALT_BYTES))
        handle.flush()
        os.fsync(handle.fileno())
    return bytes.fromhex(path.read_text().strip())


def _dirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []


def _entries(root: Path) -> Iterator[Entry]:
    for study_dir in _dirs(root):
        try:
            files = list(study_dir.iterdir())
        except FileNotFoundError:
            continue
        for path in files:
            if path.suffix != DCM:
                continue
            try:
                info = path.stat()
            except FileNotFoundError:  # claimed or sent meanwhile
                continue
            yield Entry(study_dir.name, path, info.st_size, info.st_mtime)


def _remove_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()  # only when empty: a race with a new arrival leaves it
