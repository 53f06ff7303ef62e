"""The whole test corpus through the engine, every output checked by the independent checker.

Corpus: pydicom's test files (including pydicom-data's) and a synthetic study with PHI
planted in nested sequences, private tags, descriptions, overlays, curves, SR and
multi-frame objects. Also asserts the goal of >=98% of valid files without a burned-in
risk being de-identified.
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest

from functions.ingestion.deid import Deidentifier, DeidOptions, Rejection, pixel_step
from functions.ingestion.deid import engine as engine_module
from functions.ingestion.deid.burned_in import checked_for_flag_only
from functions.ingestion.deid.element_tree import NeedsFullParser
from infra.samples.synthetic_dicom import PRIVATE_CREATOR, make_study, write_study
from tests.support.leak_checker import check_output, collect_identity, read_full

from .helpers import CENTER, KEY, pydicom_corpus


@pytest.fixture(autouse=True)
def _header_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests judge the header: images whose pixels need a text check stay out of them.

    With no detector, screen-like images and YES flags are quarantined before any header
    work (as before pixel cleaning existed), and CT/MR/CR... checked only because their flag
    is absent go through unchecked (as before issue 8's step 1); their pixels are covered by
    test_pixels and test_burned_in, and OCR over pydicom's large multi-frame colour files
    would cost minutes per run here.
    """
    monkeypatch.setattr(pixel_step, "available", lambda: False)
    routed = pixel_step.pixel_check_reason

    def header_view(facts: dict[str, str], has_pixels: bool) -> Rejection | None:
        return None if checked_for_flag_only(facts) else routed(facts, has_pixels)

    monkeypatch.setattr(pixel_step, "pixel_check_reason", header_view)


OPTION_SETS = {
    "basic": DeidOptions(),
    "all-options": DeidOptions(
        retain_longitudinal_modified_dates=True,
        retain_patient_characteristics=True,
        retain_device_identity=True,
        retain_institution_identity=True,
        clean_descriptors=True,
    ),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("synthetic")
    files = write_study(make_study(n_series=2, n_instances=2, seed=1), base / "ct")
    files += write_study(
        make_study(
            "GARCIA^PEDRO^ANTONIO", n_series=1, n_instances=2, frames=3, modality="MR", seed=2
        ),
        base / "mf",
    )
    return pydicom_corpus() + files


def _valid(path: Path) -> bool:
    """Readable in full by pydicom, a composite object with file meta and UIDs."""
    try:
        ds = pydicom.dcmread(path)
        if "PixelData" in ds:
            _ = ds.PixelData
    except Exception:
        return False
    meta = getattr(ds, "file_meta", None)
    return bool(
        meta is not None
        and meta.get("TransferSyntaxUID")
        and ds.get("SOPInstanceUID")
        and ds.get("SOPClassUID")
        and "DirectoryRecordSequence" not in ds
    )


@pytest.fixture(params=["fast", "full"])
def engine_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the element-tree reader and again with the pydicom fallback reader."""
    if request.param == "full":

        def refuse(*_args: object, **_kwargs: object) -> None:
            raise NeedsFullParser("forced by the test")

        monkeypatch.setattr(engine_module, "run_fast", refuse)
    return str(request.param)


@pytest.mark.parametrize("option_set", list(OPTION_SETS))
def test_no_identifying_value_in_any_output(
    corpus: list[Path], option_set: str, engine_path: str
) -> None:
    options = OPTION_SETS[option_set]
    deid = Deidentifier(KEY, options)
    problems: list[str] = []
    done = 0
    for path in corpus:
        out = io.BytesIO()
        result = deid.deidentify(path, CENTER, out)
        if not result.ok:
            continue
        done += 1
        ident = collect_identity(
            read_full(path),
            keep_institution=options.retain_institution_identity,
            keep_device=options.retain_device_identity,
            clean_descriptors=options.clean_descriptors,
        )
        problems += [f"{path.name}: {f}" for f in check_output(out.getvalue(), ident)]
    assert done > 100
    assert not problems, "\n".join(problems[:30])


def test_rate_of_valid_files_deidentified(corpus: list[Path]) -> None:
    deid = Deidentifier(KEY)
    eligible = refused = 0
    refused_names = []
    for path in corpus:
        result = deid.deidentify(path, CENTER, None)
        if result.quarantined or not _valid(path):
            continue
        eligible += 1
        if not result.ok:
            refused += 1
            refused_names.append(f"{path.name}:{result.reason}")
    rate = (eligible - refused) / eligible
    assert eligible > 100
    assert rate >= 0.98, (rate, refused_names)


def test_checker_is_not_blind(corpus: list[Path]) -> None:
    """The independent checker flags an input taken as if it were an output."""
    synthetic = next(p for p in corpus if p.suffix == ".dcm" and "synthetic" in str(p))
    ident = collect_identity(read_full(synthetic))
    findings = check_output(synthetic.read_bytes(), ident)
    kinds = {f.kind for f in findings}
    assert {"identifier_or_name", "uid", "date", "private_tag", "curve_or_overlay"} <= kinds


def test_referential_integrity_across_separate_uploads(tmp_path: Path) -> None:
    study = make_study(n_series=2, n_instances=2, seed=3)
    paths = write_study(study, tmp_path)
    outputs = []
    for path in paths:  # one Deidentifier per "upload": nothing shared but the key
        out = io.BytesIO()
        assert Deidentifier(KEY).deidentify(path, CENTER, out).ok
        outputs.append(pydicom.dcmread(io.BytesIO(out.getvalue())))
    sops = {ds.SOPInstanceUID for ds in outputs}
    images = [ds for ds in outputs if ds.Modality != "SR"]
    for ds in images:
        for ref in ds.get("ReferencedImageSequence", []):
            assert ref.ReferencedSOPInstanceUID in sops
    sr = next(ds for ds in outputs if ds.Modality == "SR")
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == images[0].StudyInstanceUID
    refs = {
        r.ReferencedSOPInstanceUID
        for s in evidence.ReferencedSeriesSequence
        for r in s.ReferencedSOPSequence
    }
    assert refs == {ds.SOPInstanceUID for ds in images}
    assert len({ds.PatientID for ds in outputs}) == 1
    assert {ds.FrameOfReferenceUID for ds in images}.__len__() == 1


def test_private_creator_allow_list_is_the_only_way_to_keep_private(corpus: list[Path]) -> None:
    from functions.ingestion.deid import SafePrivateTag

    synthetic = next(p for p in corpus if "synthetic" in str(p))
    options = DeidOptions(
        retain_safe_private=frozenset({SafePrivateTag(0x0009, PRIVATE_CREATOR, 0x03)})
    )
    out = io.BytesIO()
    result = Deidentifier(KEY, options).deidentify(synthetic, CENTER, out)
    assert result.ok
    ident = collect_identity(read_full(synthetic))
    findings = check_output(out.getvalue(), ident, frozenset({PRIVATE_CREATOR}))
    assert not findings, findings
    kept = [e for e in pydicom.dcmread(io.BytesIO(out.getvalue())) if e.tag.is_private]
    assert len(kept) == 2  # the creator and the one allow-listed element
    assert Rejection.LEAK_DETECTED.value == "leak_detected"


def test_both_paths_give_the_same_pseudonyms(
    corpus: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object that falls back to pydicom still links to the rest of its study."""
    synthetic = [p for p in corpus if "synthetic" in str(p)]
    fast = [Deidentifier(KEY).deidentify(p, CENTER, None) for p in synthetic]

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise NeedsFullParser("forced by the test")

    monkeypatch.setattr(engine_module, "run_fast", refuse)
    full = [Deidentifier(KEY).deidentify(p, CENTER, None) for p in synthetic]
    for a, b in zip(fast, full, strict=True):
        assert a.ok and b.ok
        assert (a.patient_token, a.study_uid, a.series_uid, a.sop_instance_uid) == (
            b.patient_token,
            b.study_uid,
            b.series_uid,
            b.sop_instance_uid,
        )


def _tags(ds: pydicom.Dataset, prefix: str = "") -> list[str]:
    out = []
    for elem in ds:
        out.append(f"{prefix}{elem.tag}")
        if elem.VR == "SQ":
            for n, item in enumerate(elem.value):
                out += _tags(item, f"{prefix}{elem.tag}[{n}].")
    return out


def test_both_paths_make_the_same_decision_for_every_element(
    corpus: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same output tags (at every depth), change records and reported facts, file by file.

    The contract between the two readers: the pydicom fallback's tree must be the tree the
    element-tree parser reads from the same object.
    """
    deid = Deidentifier(KEY)
    fast_run = engine_module.run_fast

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise NeedsFullParser("forced by the test")

    compared = 0
    differences = []
    for path in corpus:
        monkeypatch.setattr(engine_module, "run_fast", fast_run)
        fast_out = io.BytesIO()
        fast = deid.deidentify(path, CENTER, fast_out, record_changes=True)
        monkeypatch.setattr(engine_module, "run_fast", refuse)
        full_out = io.BytesIO()
        full = deid.deidentify(path, CENTER, full_out, record_changes=True)
        if not (fast.ok and full.ok):
            # The element-tree parser is the stricter one: it refuses truncated objects that
            # pydicom reads up to where they stop. Never the other way round.
            assert fast.ok == full.ok or fast.reason is Rejection.TRUNCATED, path.name
            continue
        compared += 1
        tags_fast = _tags(pydicom.dcmread(io.BytesIO(fast_out.getvalue())))
        tags_full = _tags(pydicom.dcmread(io.BytesIO(full_out.getvalue())))
        changes_fast = sorted((c.path, c.tag, c.action) for c in fast.changes)
        changes_full = sorted((c.path, c.tag, c.action) for c in full.changes)
        facts_fast = (fast.modality, fast.body_part, fast.transfer_syntax, fast.number_of_frames)
        facts_full = (full.modality, full.body_part, full.transfer_syntax, full.number_of_frames)
        if tags_fast != tags_full or changes_fast != changes_full or facts_fast != facts_full:
            differences.append(path.name)
    assert compared > 100
    assert not differences, differences
