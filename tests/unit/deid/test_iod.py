"""Valid in, valid out: no output carries an IOD error its input lacked.

Judged by an independent validator, dciodvfy (Debian package dicom3tools); the test skips
when the binary is absent. Messages are compared without the values they quote (UIDs,
dates): a remapped UID is the same finding under another value.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.ingestion.deid import Deidentifier, pixel_step
from infra.samples.burned_in import make_case
from infra.samples.synthetic_dicom import make_study, write_study

from .helpers import CENTER, DCIODVFY, KEY, corpus_file
from .helpers import dciodvfy_errors as _errors

pytestmark = pytest.mark.skipif(
    DCIODVFY is None, reason="dciodvfy not installed (apt-get install dicom3tools)"
)
# Objects whose IODs put combined-code attributes at Type 1 or 2: enhanced MR without its
# functional groups, a waveform, SR documents, RT, plus ordinary images and cleaned pixels
# (burned-in cases).
CORPUS = [
    "emri_small.dcm",
    "waveform_ecg.dcm",
    "test-SR.dcm",
    "reportsi.dcm",
    "rtplan.dcm",
    "CT_small.dcm",
    "MR_small.dcm",
]


def _inputs(tmp_path: Path) -> list[Path]:
    paths = [corpus_file(name) for name in CORPUS]
    paths += write_study(make_study(n_series=1, n_instances=1, seed=21), tmp_path / "ct")
    paths += write_study(
        make_study(
            "ROJAS^ANA", n_series=1, n_instances=1, frames=3, modality="MR", with_sr=False, seed=22
        ),
        tmp_path / "mf",
    )
    for seed, kwargs in enumerate(({"flag": None}, {"kind": "screenshot", "frames": 2}), 30):
        path = tmp_path / f"burned-{seed}.dcm"
        path.write_bytes(make_case(seed, **kwargs).data)  # type: ignore[arg-type]
        paths.append(path)
    return paths


def test_outputs_add_no_iod_error(tmp_path: Path) -> None:
    deid = Deidentifier(KEY)
    new_errors: dict[str, list[str]] = {}
    done = 0
    for n, source in enumerate(_inputs(tmp_path)):
        target = tmp_path / "out" / f"{n}.dcm"
        result = deid.deidentify(source, CENTER, target)
        assert result.ok, (source.name, result.reason)
        done += 1
        added = _errors(target) - _errors(source)
        if added:
            new_errors[source.name] = sorted(added)
    assert done == len(CORPUS) + 5
    assert not new_errors, new_errors


def test_the_validator_sees_a_type_1_attribute_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not blind: the same check fails when the engine empties Content Date of a waveform."""
    from functions.ingestion.deid import actions

    monkeypatch.setattr(actions.IodContext, "is_waveform", property(lambda _self: False))
    monkeypatch.setattr(pixel_step, "available", lambda: False)
    source = corpus_file("waveform_ecg.dcm")
    target = tmp_path / "out.dcm"
    assert Deidentifier(KEY).deidentify(source, CENTER, target).ok
    added = _errors(target) - _errors(source)
    assert any("ContentDate" in line for line in added), added
