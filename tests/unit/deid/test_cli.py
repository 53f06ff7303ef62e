"""The saludtech-deid CLI: layout, summary, dry run without values, exit codes."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from functions.ingestion.deid.cli import KEY_ENV, app
from infra.samples.burned_in import make_case
from infra.samples.synthetic_dicom import make_study, write_study

ROOT = Path(__file__).resolve().parents[3]
ENV = {KEY_ENV: "ab" * 32}


@pytest.fixture
def study(tmp_path: Path) -> Path:
    write_study(make_study(n_series=2, n_instances=2), tmp_path / "in")
    return tmp_path / "in"


def test_folder_is_deidentified_into_a_collision_free_layout(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [str(study), str(out), "--center", "c1"], env=ENV)
    assert result.exit_code == 0, result.output
    files = sorted(out.rglob("*.dcm"))
    assert len(files) == 5
    for f in files:
        token, study_uid, series_uid, name = f.relative_to(out).parts
        assert len(token) == 32 and study_uid.startswith("2.25.")
        assert series_uid.startswith("2.25.") and name.startswith("2.25.")
    assert "written" in result.output and "5" in result.output


def test_some_rejected_gives_exit_1_and_reasons(study: Path, tmp_path: Path) -> None:
    (study / "junk.dcm").write_bytes(b"not dicom")
    # Says text is burned in, and the detector finds none: a human must look.
    (study / "us.dcm").write_bytes(make_case(5, flag="YES", with_text=False).data)
    report = tmp_path / "report.jsonl"
    result = CliRunner().invoke(
        app, [str(study), str(tmp_path / "out"), "--center", "c1", "--report", str(report)], env=ENV
    )
    assert result.exit_code == 1
    assert "not_dicom" in result.output and "burned_in_annotation" in result.output
    text = report.read_text()
    assert "not_dicom" in text and "DOE" not in text and str(study) not in text
    assert {r["source"] for r in _rows(report) if not r["ok"]} == {"junk.dcm", "us.dcm"}


def test_key_errors_exit_2(study: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(
            app, [str(study), str(tmp_path / "o"), "--center", "c"], env={KEY_ENV: ""}
        ).exit_code
        == 2
    )
    assert (
        runner.invoke(
            app, [str(study), str(tmp_path / "o"), "--center", "c"], env={KEY_ENV: "short"}
        ).exit_code
        == 2
    )
    key_file = tmp_path / "key"
    key_file.write_bytes(b"k" * 32)
    ok = runner.invoke(
        app,
        [str(study), str(tmp_path / "o"), "--center", "c", "--key-file", str(key_file)],
        env={KEY_ENV: ""},
    )
    assert ok.exit_code == 0, ok.output
    assert runner.invoke(app, [str(study), str(tmp_path / "o")], env=ENV).exit_code == 2


def test_dry_run_lists_tags_and_actions_never_values(study: Path) -> None:
    result = CliRunner().invoke(app, [str(study), "--center", "c1", "--dry-run"], env=ENV)
    assert result.exit_code == 0, result.output
    assert "(0010,0020)" in result.output and "PatientComments" in result.output
    for value in ("DOE", "JANE", "HOUSE", "SANTA LUCIA", "ACC"):
        assert value not in result.output


def test_zip_input_and_workers(study: Path, tmp_path: Path) -> None:
    package = tmp_path / "study.zip"
    with zipfile.ZipFile(package, "w") as archive:
        for f in study.glob("*.dcm"):
            archive.write(f, f"x/{f.name}")
        archive.writestr("../escape.dcm", b"x")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, [str(package), str(out), "--center", "c1", "--workers", "2"], env=ENV
    )
    assert result.exit_code == 1
    assert "zip_path_traversal" in result.output
    assert len(list(out.rglob("*.dcm"))) == 5


def test_python_dash_m_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "functions.ingestion.deid", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "--center" in done.stdout


def test_workers_do_not_change_the_output(study: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for workers in ("1", "2"):
        result = runner.invoke(
            app,
            [str(study), str(tmp_path / workers), "--center", "c1", "--workers", workers],
            env=ENV,
        )
        assert result.exit_code == 0, result.output
    one = {p.relative_to(tmp_path / "1"): p.read_bytes() for p in (tmp_path / "1").rglob("*.dcm")}
    two = {p.relative_to(tmp_path / "2"): p.read_bytes() for p in (tmp_path / "2").rglob("*.dcm")}
    assert one == two and len(one) == 5


def _rows(report: Path) -> list[dict[str, object]]:
    import json

    return [json.loads(line) for line in report.read_text().splitlines()]


def test_an_output_never_replaces_another(study: Path, tmp_path: Path) -> None:
    import shutil

    import pydicom

    first = sorted(study.glob("*.dcm"))[0]
    shutil.copyfile(first, study / "copy-of-first.dcm")  # identical input: a duplicate
    changed = pydicom.dcmread(first)
    changed.PixelData = bytes(reversed(changed.PixelData))  # other pixels, same UIDs
    changed.save_as(study / "same-uids.dcm")  # different content: written too, clash reported
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    result = CliRunner().invoke(
        app,
        [str(study), str(out), "--center", "c1", "--report", str(report), "--workers", "2"],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    rows = {str(r["source"]): r for r in _rows(report)}
    assert len(rows) == 7 and len(list(out.rglob("*.dcm"))) == 6
    assert rows["copy-of-first.dcm"]["outcome"] == "duplicate"
    assert rows["copy-of-first.dcm"]["duplicate_of"] == first.name
    clash = rows["same-uids.dcm"]
    assert clash["outcome"] == "written" and clash["clash_with"] == first.name
    assert clash["status"] == f"written, sop_uid_clash with {first.name}"
    assert clash["sop_instance_uid"] == rows[first.name]["sop_instance_uid"]
    assert "same-uids.dcm" in result.output  # the summary lists clashes by name


def test_report_names_and_zips_inside_a_folder(study: Path, tmp_path: Path) -> None:
    package = study / "more.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("inner/not-dicom.dcm", b"not dicom")
    report = tmp_path / "report.jsonl"
    result = CliRunner().invoke(
        app,
        [str(study), str(tmp_path / "out"), "--center", "c1", "--report", str(report)],
        env=ENV,
    )
    assert result.exit_code == 1
    rows = _rows(report)
    assert len(rows) == 6
    inner = next(r for r in rows if r["source"] == "more.zip!inner/not-dicom.dcm")
    assert inner["reason"] == "not_dicom"  # read as a member of the zip, not as a file
    assert inner["status"] == "failed: not_dicom"
    assert sorted(str(r["source"]) for r in rows)[:5] == [f"{n:05d}.dcm" for n in range(5)]
    assert "more.zip!inner/not-dicom.dcm" in result.output  # failures are listed by name


def test_center_is_required_in_help() -> None:
    result = CliRunner().invoke(app, ["--help"], env=ENV)
    assert "--center" in result.output and "required" in result.output


def test_hostile_file_names_are_shown_as_text_not_markup_or_terminal_codes(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "[red]evil.dcm").write_bytes(b"not dicom")
    (source / "esc\x1b[2Jz.dcm").write_bytes(b"not dicom")
    result = CliRunner().invoke(
        app, [str(source), str(tmp_path / "out"), "--center", "c1"], env=ENV
    )
    assert result.exit_code == 1
    assert "[red]evil.dcm" in result.output  # not swallowed as a colour tag
    assert "\x1b" not in result.output and "esc\\x1b[2Jz.dcm" in result.output
