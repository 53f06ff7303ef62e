"""Fakes for the gateway's unit tests: recorded file operations, a C-STORE event, a target."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset

from gateway.spool import FileOps
from gateway.uploader import UploadError
from tests.unit.ingestion.helpers import study


class RecordingOps(FileOps):
    """The real calls, each recorded as (operation, path relative to the spool)."""

    def __init__(self, root: Path, fail_on: str | None = None) -> None:
        self.root, self.fail_on = root, fail_on
        self.calls: list[tuple[str, str]] = []

    def _note(self, operation: str, path: Path) -> None:
        self.calls.append((operation, str(path.relative_to(self.root))))
        if operation == self.fail_on:
            raise OSError(28, "No space left on device")

    def create(self, path: Path) -> BinaryIO:
        self._note("create", path)
        return super().create(path)

    def fsync(self, handle: BinaryIO) -> None:
        self._note("fsync", Path(str(handle.name)))
        super().fsync(handle)

    def replace(self, source: Path, target: Path) -> None:
        self._note("replace", target)
        super().replace(source, target)

    def fsync_dir(self, path: Path) -> None:
        self._note("fsync_dir", path)
        super().fsync_dir(path)


@dataclass
class Request:
    AffectedSOPInstanceUID: str


class StoreEvent:
    """What pynetdicom hands an EVT_C_STORE handler, as far as the handler reads it."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.dataset: Dataset = dcmread(io.BytesIO(data))
        self.request = Request(str(self.dataset.SOPInstanceUID))

    def encoded_dataset(self, include_meta: bool = True) -> bytes:
        return self._data


def instances(n: int, seed: int = 7) -> list[bytes]:
    return study(n, seed=seed)


def uids_of(data: bytes) -> list[str]:
    ds = dcmread(io.BytesIO(data))
    return [str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)]


@dataclass
class FakeTarget:
    """The platform: refuses while `down` is above zero (counting down), else keeps what it
    is sent (each instance's bytes, zips unpacked) with the name it was sent under."""

    down: int = 0
    reason: str = "unreachable"
    retry_after: float | None = None
    names: list[str] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)
    attempts: int = 0

    def send(self, file_name: str, path: Path) -> None:
        self.attempts += 1
        if self.down:
            self.down -= 1
            raise UploadError(self.reason, self.retry_after)
        self.names.append(file_name)
        data = path.read_bytes()
        if file_name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    self.names.append(info.filename)
                    self.received.append(archive.read(info))
        else:
            self.received.append(data)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)
