"""Zip packages: bounded, no traversal, corrupt or bomb packages refused with a reason."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from functions.ingestion.deid import Rejection
from functions.ingestion.deid.reasons import DeidFailure
from functions.ingestion.deid.zip_input import ZipLimits, iter_zip


def _zip(
    tmp_path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    path = tmp_path / "package.zip"
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_members_are_read(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"a/1.dcm": b"one", "a/2.dcm": b"two"})
    entries = list(iter_zip(path))
    assert [e.data for e in entries] == [b"one", b"two"]


def test_path_traversal_entries_are_refused_one_by_one(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"../../etc/evil.dcm": b"x", "/abs.dcm": b"y", "ok.dcm": b"z"})
    entries = list(iter_zip(path))
    assert [e.reason for e in entries] == [
        Rejection.ZIP_PATH_TRAVERSAL,
        Rejection.ZIP_PATH_TRAVERSAL,
        None,
    ]


def test_corrupt_zip(tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(b"PK\x03\x04 this is not a zip at all")
    with pytest.raises(DeidFailure) as err:
        list(iter_zip(path))
    assert err.value.reason is Rejection.ZIP_CORRUPT


def test_compression_ratio_bomb(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"bomb.dcm": b"\x00" * (20 * 1024 * 1024)})
    with pytest.raises(DeidFailure) as err:
        list(iter_zip(path))
    assert err.value.reason is Rejection.ZIP_BOMB


def test_total_size_and_entry_count_limits(tmp_path: Path) -> None:
    path = _zip(tmp_path, {f"{n}.dcm": bytes(100) for n in range(20)}, zipfile.ZIP_STORED)
    with pytest.raises(DeidFailure):
        list(iter_zip(path, ZipLimits(max_entries=10)))
    with pytest.raises(DeidFailure):
        list(iter_zip(path, ZipLimits(max_total_bytes=1000)))


def test_lying_declared_sizes_are_caught_while_inflating(tmp_path: Path) -> None:
    data = b"\x00" * (8 * 1024 * 1024)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.dcm", data)
    raw = bytearray(buffer.getvalue())
    # Patch the central directory's uncompressed size to claim 1 KiB.
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24 : central + 28] = (1024).to_bytes(4, "little")
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(raw))
    entries_or_error: list[object] = []
    try:
        entries_or_error.extend(iter_zip(path, ZipLimits(max_entry_bytes=4 * 1024 * 1024)))
    except DeidFailure as failure:
        entries_or_error.append(failure.reason)
    assert entries_or_error and all(getattr(e, "data", None) != data for e in entries_or_error)
