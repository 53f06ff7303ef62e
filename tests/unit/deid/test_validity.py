"""Valid in, valid out, corpus-wide: no output gains a dciodvfy error its input lacks.

Corpus: every pydicom test file (with pydicom-data's) the engine de-identifies, and the
synthetic study (CT series with an SR, multi-frame MR) with PHI planted everywhere; each on
the element-tree reader and again on the pydicom fallback. The fallback only ever sees what
the element-tree reader accepted as well-formed (it refuses truncated objects that pydicom
would read up to where they stop), so the forced fallback runs on those inputs only.
Images whose pixels need a text check stay out (as in test_corpus): their outputs are
judged in test_iod, with the pixel cleaning. Skips when dciodvfy (dicom3tools) is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.ingestion.deid import Deidentifier, Rejection, pixel_step
from functions.ingestion.deid import engine as engine_module
from functions.ingestion.deid.burned_in import checked_for_flag_only
from functions.ingestion.deid.element_tree import NeedsFullParser
from infra.samples.synthetic_dicom import make_study, write_study

from .helpers import CENTER, DCIODVFY, KEY, dciodvfy_errors, pydicom_corpus

pytestmark = pytest.mark.skipif(
    DCIODVFY is None, reason="dciodvfy not installed (apt-get install dicom3tools)"
)


@pytest.fixture(autouse=True)
def _header_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pixel_step, "available", lambda: False)
    routed = pixel_step.pixel_check_reason

    def header_view(facts: dict[str, str], has_pixels: bool) -> Rejection | None:
        return None if checked_for_flag_only(facts) else routed(facts, has_pixels)

    monkeypatch.setattr(pixel_step, "pixel_check_reason", header_view)


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise NeedsFullParser("forced by the test")


def test_no_output_gains_a_validator_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = pydicom_corpus()
    inputs += write_study(make_study(n_series=2, n_instances=1, seed=41), tmp_path / "ct")
    inputs += write_study(
        make_study("ROJAS^ANA", n_series=1, n_instances=1, frames=3, modality="MR", seed=42),
        tmp_path / "mf",
    )
    deid = Deidentifier(KEY)
    element_tree_reader = engine_module.run_fast
    target = tmp_path / "out.dcm"
    gained: dict[str, list[str]] = {}
    judged = {"fast": 0, "full": 0}
    for source in inputs:
        monkeypatch.setattr(engine_module, "run_fast", element_tree_reader)
        if not deid.deidentify(source, CENTER, target).ok:
            continue
        before = dciodvfy_errors(source)
        for path in ("fast", "full"):
            if path == "full":
                monkeypatch.setattr(engine_module, "run_fast", _refuse)
                assert deid.deidentify(source, CENTER, target).ok, source.name
            judged[path] += 1
            added = dciodvfy_errors(target) - before
            if added:
                gained[f"{path}:{source.name}"] = sorted(added)
    assert min(judged.values()) > 100, judged
    assert not gained, gained
