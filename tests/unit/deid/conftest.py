"""Shared fixtures for the de-identification engine tests."""

from __future__ import annotations

import io
from collections.abc import Callable

import pydicom
import pytest
from pydicom.dataset import Dataset

from functions.ingestion.deid import Deidentifier, DeidOptions, DeidResult
from functions.ingestion.deid import engine as engine_module
from functions.ingestion.deid.element_tree import NeedsFullParser
from tests.support.leak_checker import check_output, collect_identity, read_full

from .helpers import CENTER, KEY, to_bytes

Run = Callable[..., tuple[DeidResult, Dataset | None]]


@pytest.fixture(params=["fast", "full"])
def run(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Run:
    """De-identify a dataset (or bytes) and read the output back, through both readers.

    "fast" reads with the element-tree parser, as every ordinary object is read; "full"
    forces the pydicom fallback reader (deflated and unusually encoded objects), whose
    tree then goes through the same pipeline: both keep the same guarantees.
    """
    if request.param == "full":

        def refuse(*_args: object, **_kwargs: object) -> None:
            raise NeedsFullParser("forced by the test")

        monkeypatch.setattr(engine_module, "run_fast", refuse)

    def _run(
        source: Dataset | bytes, options: DeidOptions | None = None, center: str = CENTER
    ) -> tuple[DeidResult, Dataset | None]:
        data = to_bytes(source) if isinstance(source, Dataset) else source
        out = io.BytesIO()
        result = Deidentifier(KEY, options).deidentify(data, center, out)
        if not result.ok:
            assert out.getvalue() == b"", "nothing may be written for a rejected object"
            return result, None
        # Every output of every test also goes through the independent checker.
        opts = options or DeidOptions()
        ident = collect_identity(
            read_full(data),
            keep_institution=opts.retain_institution_identity,
            keep_device=opts.retain_device_identity,
            clean_descriptors=opts.clean_descriptors,
        )
        creators = frozenset(s.creator for s in opts.retain_safe_private)
        findings = check_output(out.getvalue(), ident, creators)
        assert not findings, [str(f) for f in findings]
        return result, pydicom.dcmread(io.BytesIO(out.getvalue()))

    return _run
