"""``saludtech-deid`` output layouts: inputs sharing a SOP Instance UID are all written."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pydicom
import pytest
from typer.testing import CliRunner

from functions.ingestion.deid.cli import KEY_ENV, app
from infra.samples.synthetic_dicom import make_study, write_study

ENV = {KEY_ENV: "ab" * 32}


@pytest.fixture
def clashing(tmp_path: Path) -> Path:
    """Two CT images, an edited copy of the first (same UIDs) and an identical copy."""
    source = tmp_path / "in"
    write_study(make_study(n_series=1, n_instances=2, with_sr=False), source / "a")
    first = source / "a" / "00000.dcm"
    edited = pydicom.dcmread(first)
    edited.PixelData = bytes(reversed(edited.PixelData))
    (source / "b").mkdir()
    edited.save_as(source / "b" / "00000.dcm")
    shutil.copyfile(first, source / "b" / "copy.dcm")
    return source


def _rows(report: Path) -> dict[str, dict[str, Any]]:
    rows = (json.loads(line) for line in report.read_text().splitlines())
    return {str(r["source"]): r for r in rows}


def test_pseudonymous_layout_keeps_both_clashing_inputs(clashing: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    result = CliRunner().invoke(
        app, [str(clashing), str(out), "--center", "c1", "--report", str(report)], env=ENV
    )
    assert result.exit_code == 0, result.output
    rows = _rows(report)
    first, edited = rows["a/00000.dcm"], rows["b/00000.dcm"]
    assert edited["status"] == "written, sop_uid_clash with a/00000.dcm"
    assert rows["b/copy.dcm"]["status"] == "duplicate, same output as a/00000.dcm"
    assert rows["b/copy.dcm"]["output"] == first["output"]
    # Same directory, the first input (by name) under the plain name, the other by its
    # content hash, whichever worker placed its output first: both written, neither replaced.
    sop = first["sop_instance_uid"]
    assert Path(edited["output"]).parent == Path(first["output"]).parent
    assert Path(first["output"]).name == f"{sop}.dcm"
    assert Path(edited["output"]).name == f"{sop}.{edited['sha256'][:12]}.dcm"
    for row in (first, edited):
        assert pydicom.dcmread(out / row["output"]).SOPInstanceUID == sop
    assert len(list(out.rglob("*.dcm"))) == 3


def test_mirror_layout_writes_each_input_at_its_own_path(clashing: Path, tmp_path: Path) -> None:
    package = clashing / "more.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.write(clashing / "a" / "00001.dcm", "x/y.dcm")
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    result = CliRunner().invoke(
        app,
        [str(clashing), str(out), "--center", "c1", "--layout", "mirror", "--report", str(report)],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.dcm"))
    assert written == [
        "a/00000.dcm",
        "a/00001.dcm",
        "b/00000.dcm",
        "b/copy.dcm",
        "more.zip/x/y.dcm",
    ]
    rows = _rows(report)
    assert rows["b/00000.dcm"]["clash_with"] == "a/00000.dcm"
    assert rows["more.zip!x/y.dcm"]["duplicate_of"] == "a/00001.dcm"
    assert (out / "b/copy.dcm").read_bytes() == (out / "a/00000.dcm").read_bytes()
    assert (out / "b/00000.dcm").read_bytes() != (out / "a/00000.dcm").read_bytes()


def test_redact_names_hashes_every_name_with_the_key(clashing: Path, tmp_path: Path) -> None:
    reports = []
    for key in ("ab" * 32, "cd" * 32):
        report = tmp_path / f"{key[:2]}.jsonl"
        result = CliRunner().invoke(
            app,
            [
                str(clashing),
                "--dry-run",
                "--center",
                "c1",
                "--redact-names",
                "--report",
                str(report),
                "--quiet",
            ],
            env={KEY_ENV: key},
        )
        assert result.exit_code == 0, result.output
        reports.append(report.read_text())
        assert "00000" not in reports[-1] and "copy" not in reports[-1]
        assert "00000" not in result.output
        sources = [json.loads(line)["source"] for line in reports[-1].splitlines()]
        assert len(set(sources)) == 4 and all(s.startswith("h:") and len(s) == 26 for s in sources)
    assert reports[0] != reports[1]  # keyed: another key, other hashes


def test_a_report_that_names_inputs_is_kept_out_of_the_shared_output(
    clashing: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = [str(clashing), str(out), "--center", "c1", "--report", str(out / "r.jsonl")]
    refused = CliRunner().invoke(app, args, env=ENV)
    assert refused.exit_code == 2 and "--report" in refused.output
    assert not out.exists()
    assert CliRunner().invoke(app, [*args, "--redact-names"], env=ENV).exit_code == 0
    assert all(r.startswith("h:") for r in _rows(out / "r.jsonl"))


def test_an_output_that_cannot_be_written_fails_that_input_and_resume_retries_it(
    clashing: Path, tmp_path: Path
) -> None:
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    (out / "a").mkdir(parents=True)
    (out / "a" / "00001.dcm").mkdir()  # a folder where the mirrored output must go
    args = [str(clashing), str(out), "--center", "c1", "--layout", "mirror"]
    first = CliRunner().invoke(app, [*args, "--report", str(report)], env=ENV)
    assert first.exit_code == 1, first.output
    assert _rows(report)["a/00001.dcm"]["status"] == "failed: output_error"
    assert len(_rows(report)) == 4
    (out / "a" / "00001.dcm").rmdir()
    again = CliRunner().invoke(app, [*args, "--resume", "--report", str(report)], env=ENV)
    assert again.exit_code == 0, again.output
    assert _rows(report)["a/00001.dcm"]["status"] == "written"
    assert (out / "a" / "00001.dcm").is_file()


def test_the_first_input_by_name_gets_the_plain_name_across_runs(
    clashing: Path, tmp_path: Path
) -> None:
    # The edited copy alone first: it takes the plain name. The original joins the folder and
    # the run resumes: the original sorts first, so the names end as one run over both
    # would leave them, with the journal and the report saying so.
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    held = tmp_path / "held"
    shutil.move(clashing / "a", held)
    args = [str(clashing), str(out), "--center", "c1", "--report", str(report)]
    assert CliRunner().invoke(app, args, env=ENV).exit_code == 0
    sop = _rows(report)["b/00000.dcm"]["sop_instance_uid"]
    assert _rows(report)["b/00000.dcm"]["output"].endswith(f"/{sop}.dcm")
    shutil.move(held, clashing / "a")
    result = CliRunner().invoke(app, [*args, "--resume"], env=ENV)
    assert result.exit_code == 0, result.output
    rows = _rows(report)
    first, edited = rows["a/00000.dcm"], rows["b/00000.dcm"]
    assert first["output"].endswith(f"/{sop}.dcm")
    assert edited["output"].endswith(f"/{sop}.{edited['sha256'][:12]}.dcm")
    assert rows["b/copy.dcm"]["output"] == first["output"]
    for row in (first, edited):
        assert hashlib.sha256((out / row["output"]).read_bytes()).hexdigest() == row["sha256"]
    assert len(list(out.rglob("*.dcm"))) == 3
    # Resuming again finds every input done, and the names where the journal says.
    again = CliRunner().invoke(app, [*args, "--resume"], env=ENV)
    assert again.exit_code == 0, again.output
    assert _rows(report)["a/00000.dcm"]["output"] == first["output"]
