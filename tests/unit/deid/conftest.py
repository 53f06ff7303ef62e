"""Shared fixtures for the de-identification engine tests."""

from __future__ import annotations

import io
from collections.abc import Callable

import pydicom
import pytest
from pydicom.dataset import Dataset

from functions.ingestion.deid import Deidentifier, DeidOptions, DeidResult

from .helpers import CENTER, KEY, to_bytes

Run = Callable[..., tuple[DeidResult, Dataset | None]]


@pytest.fixture
def run() -> Run:
    """De-identify a dataset (or bytes) and read the output back."""

    def _run(
        source: Dataset | bytes, options: DeidOptions | None = None, center: str = CENTER
    ) -> tuple[DeidResult, Dataset | None]:
        data = to_bytes(source) if isinstance(source, Dataset) else source
        out = io.BytesIO()
        result = Deidentifier(KEY, options).deidentify(data, center, out)
        if not result.ok:
            assert out.getvalue() == b"", "nothing may be written for a rejected object"
            return result, None
        return result, pydicom.dcmread(io.BytesIO(out.getvalue()))

    return _run
