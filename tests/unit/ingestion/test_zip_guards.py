"""Each zip-bomb guard on its own: deleting any one of them makes one of these tests fail.

There are two guards in the one zip reader (deid/zip_input.py, used by the engine's CLI and
by functions/ingestion/package_reader.py): the declared-size check, on the central directory
before anything is inflated, and the inflated-size check, on the bytes a member actually
produces. CPython's zipfile stops a member at its declared size, so a lying directory alone
never reaches the second guard; these tests stand in for a reader that does not truncate (a
patched ZipFile.open producing more than declared), which is what that guard exists for.
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import IO, Any

import pytest

from functions.ingestion.deid.reasons import DeidFailure, Rejection
from functions.ingestion.deid.zip_input import ZipLimits, iter_zip
from functions.ingestion.domain import IngestionLimits
from functions.ingestion.package_reader import PackageRefused, count_entries, extract_entry
from tests.unit.ingestion.helpers import zipped

MiB = 1024 * 1024


def stored(members: dict[str, bytes]) -> bytes:
    """Uncompressed members: ratio 1, so only a size limit can refuse them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which members were opened for inflating (the declared guard opens none)."""
    opened: list[str] = []
    original = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: Any, mode: str = "r", **kwargs: Any) -> IO[bytes]:
        if mode == "r":  # writing the package under test opens members too
            opened.append(getattr(name, "filename", str(name)))
        return original(self, name, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return opened


@pytest.fixture
def overproducing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every member inflates to 8 MiB whatever its directory declares."""

    original = zipfile.ZipFile.open

    def inflate(self: zipfile.ZipFile, name: Any, mode: str = "r", **kwargs: Any) -> IO[bytes]:
        if mode != "r":
            return original(self, name, mode, **kwargs)  # type: ignore[arg-type]
        return io.BytesIO(b"\0" * (8 * MiB))

    monkeypatch.setattr(zipfile.ZipFile, "open", inflate)


# -- package_reader.py (the ingestion function) ------------------------------------------
def test_package_declared_total_over_the_limit_is_refused_unread(opens: list[str]) -> None:
    package = stored({"a.dcm": os.urandom(MiB), "b.dcm": os.urandom(MiB)})
    limits = IngestionLimits(max_zip_bytes=MiB + MiB // 2)  # each entry fits, the sum not
    with pytest.raises(PackageRefused) as refused:
        count_entries(io.BytesIO(package), limits)
    assert (refused.value.reason, refused.value.detail) == (
        "zip_bomb",
        "declared size over the limit",
    )
    assert opens == []


def test_entry_declared_over_the_ratio_is_refused_before_inflating(opens: list[str]) -> None:
    package = zipped({"a.dcm": b"\0" * (4 * MiB)})
    with pytest.raises(PackageRefused) as refused:
        extract_entry(io.BytesIO(package), 0, IngestionLimits())
    assert refused.value.reason == "zip_bomb"
    assert refused.value.detail == "entry declared over the ratio limit"
    assert opens == []  # refused on the directory: not one byte inflated


def test_entry_declared_over_the_size_limit_is_refused_before_inflating(opens: list[str]) -> None:
    package = stored({"a.dcm": os.urandom(2 * MiB)})
    with pytest.raises(PackageRefused) as refused:
        extract_entry(io.BytesIO(package), 0, IngestionLimits(max_file_bytes=MiB))
    assert (refused.value.reason, refused.value.detail) == (
        "too_large", "entry declared over the size limit",
    )  # fmt: skip
    assert opens == []


def test_entry_inflating_past_what_it_declared_is_stopped(overproducing: None) -> None:
    package = stored({"a.dcm": os.urandom(1024)})  # declares 1 KiB, ratio 1
    with pytest.raises(PackageRefused) as refused:
        extract_entry(io.BytesIO(package), 0, IngestionLimits(max_file_bytes=4 * MiB))
    assert (refused.value.reason, refused.value.detail) == (
        "zip_bomb", "inflated size over the limit",
    )  # fmt: skip


# -- deid/zip_input.py (the engine's zip input, used by the CLI) --------------------------
def test_engine_declared_total_over_the_limit_is_refused_unread(opens: list[str]) -> None:
    package = stored({"a.dcm": os.urandom(MiB), "b.dcm": os.urandom(MiB)})
    limits = ZipLimits(max_total_bytes=MiB + MiB // 2, max_entry_bytes=2 * MiB)
    with pytest.raises(DeidFailure) as refused:
        list(iter_zip(io.BytesIO(package), limits))
    assert refused.value.reason is Rejection.ZIP_BOMB
    assert refused.value.detail == "declared size over the limit"
    assert opens == []


def test_engine_member_inflating_past_what_it_declared_is_stopped(overproducing: None) -> None:
    package = stored({"a.dcm": os.urandom(1024)})
    limits = ZipLimits(max_entry_bytes=4 * MiB)

    with pytest.raises(DeidFailure) as refused:
        list(iter_zip(io.BytesIO(package), limits))
    assert refused.value.reason is Rejection.ZIP_BOMB
    assert refused.value.detail == "inflated size over the limit"


def test_engine_member_declared_over_the_ratio_is_refused_before_inflating(
    opens: list[str],
) -> None:
    package = zipped({"a.dcm": b"\0" * (4 * MiB)})
    with pytest.raises(DeidFailure) as refused:
        list(iter_zip(io.BytesIO(package)))
    assert refused.value.reason is Rejection.ZIP_BOMB
    assert refused.value.detail == "entry declared over the ratio limit"
    assert opens == []
