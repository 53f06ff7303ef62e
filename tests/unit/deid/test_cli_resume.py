"""``saludtech-deid --resume``: a stopped run continues where it stopped, report complete."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from functions.ingestion.deid.cli import JOURNAL_NAME, KEY_ENV, app
from infra.samples.synthetic_dicom import make_study, write_study

ENV = {KEY_ENV: "ab" * 32}


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """11 inputs: 7 images and SR, one junk file, a zip of 3 (copies of images: duplicates).

    One worker does the 8 plain files first, then the zip's members.
    """
    write_study(make_study(n_series=2, n_instances=3), tmp_path / "in")
    with zipfile.ZipFile(tmp_path / "in" / "0-pack.zip", "w") as archive:
        for n in range(3):
            archive.write(tmp_path / "in" / f"{n:05d}.dcm", f"x/{n}.dcm")
    (tmp_path / "in" / "junk.dcm").write_bytes(b"not dicom")
    return tmp_path / "in"


def _run(study: Path, out: Path, report: Path, *extra: str) -> Any:
    return CliRunner().invoke(
        app, [str(study), str(out), "--center", "c1", "--report", str(report), *extra], env=ENV
    )


def _journal_rows(out: Path) -> list[str]:
    return (out / JOURNAL_NAME).read_text().splitlines()[1:]


def _report(path: Path) -> list[dict[str, Any]]:
    """The report rows, without the processing times (which differ from run to run)."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        assert isinstance(row.pop("seconds"), float)
    return rows


@pytest.mark.parametrize("finished", [2, 9], ids=["among-files", "inside-the-zip"])
def test_a_killed_run_resumes_with_only_the_rest_and_a_complete_report(
    study: Path, tmp_path: Path, finished: int
) -> None:
    whole = _run(study, tmp_path / "whole", tmp_path / "whole.jsonl", "--workers", "2")
    assert whole.exit_code == 1, whole.output  # junk.dcm fails
    out = tmp_path / "out"
    assert _run(study, out, tmp_path / "first.jsonl", "--workers", "1").exit_code == 1
    # As if killed after `finished` inputs, in the middle of writing the next line; every
    # output is already in place, so the rest must come out "written", not "duplicate".
    lines = (out / JOURNAL_NAME).read_text().splitlines()
    torn = lines[finished + 1][:40]
    (out / JOURNAL_NAME).write_text("\n".join(lines[: finished + 1]) + "\n" + torn)
    (out / ".partial").mkdir()
    (out / ".partial" / "leftover.dcm").write_bytes(b"half an output")

    resumed = _run(study, out, tmp_path / "resumed.jsonl", "--resume", "--workers", "2")

    assert resumed.exit_code == 1, resumed.output
    # The kept lines, the torn one, then only the inputs not finished.
    assert len(_journal_rows(out)) == finished + 1 + (11 - finished)
    assert _report(tmp_path / "resumed.jsonl") == _report(tmp_path / "whole.jsonl")
    status = {r["source"]: r["status"] for r in _report(tmp_path / "resumed.jsonl")}
    assert status["0-pack.zip!x/0.dcm"] == "written"
    assert status["00000.dcm"] == "duplicate, same output as 0-pack.zip!x/0.dcm"
    assert status["junk.dcm"] == "failed: not_dicom" and len(status) == 11
    assert not (out / ".partial").exists()
    assert sorted(p.relative_to(out) for p in out.rglob("*.dcm")) == sorted(
        p.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("*.dcm")
    )
    assert "finished by a previous run" in resumed.output


def test_resume_of_a_finished_run_does_nothing_and_a_changed_input_is_redone(
    study: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _run(study, out, tmp_path / "r1.jsonl").exit_code == 1
    before = len(_journal_rows(out))
    assert _run(study, out, tmp_path / "r2.jsonl", "--resume").exit_code == 1
    assert len(_journal_rows(out)) == before
    assert _report(tmp_path / "r2.jsonl") == _report(tmp_path / "r1.jsonl")

    (study / "junk.dcm").write_bytes(b"still not dicom, but other bytes")
    assert _run(study, out, tmp_path / "r3.jsonl", "--resume").exit_code == 1
    assert len(_journal_rows(out)) == before + 1
    assert len(_report(tmp_path / "r3.jsonl")) == 11


def test_an_output_folder_with_a_journal_needs_resume_and_the_same_settings(
    study: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _run(study, out, tmp_path / "r.jsonl").exit_code == 1
    again = _run(study, out, tmp_path / "r.jsonl")
    assert again.exit_code == 2 and "--resume" in again.output
    other_center = CliRunner().invoke(
        app, [str(study), str(out), "--center", "c2", "--resume"], env=ENV
    )
    assert other_center.exit_code == 2 and "center" in other_center.output
    other_key = CliRunner().invoke(
        app, [str(study), str(out), "--center", "c1", "--resume"], env={KEY_ENV: "cd" * 32}
    )
    assert other_key.exit_code == 2 and "key_check" in other_key.output
    options = _run(study, out, tmp_path / "r.jsonl", "--resume", "--clean-descriptors")
    assert options.exit_code == 2 and "options" in options.output


def test_the_journal_in_the_shared_output_holds_no_input_name(study: Path, tmp_path: Path) -> None:
    (study / "00000.dcm").rename(study / "DOE_JANE_chest.dcm")
    out = tmp_path / "out"
    assert _run(study, out, tmp_path / "r.jsonl").exit_code == 1
    journal = (out / JOURNAL_NAME).read_text()
    assert "DOE" not in journal and "junk" not in journal and str(study) not in journal
    assert "DOE_JANE_chest.dcm" in (tmp_path / "r.jsonl").read_text()  # the local report names it


def test_an_output_folder_inside_the_input_is_not_read_as_input(
    study: Path, tmp_path: Path
) -> None:
    out = study / "anon"
    assert _run(study, out, tmp_path / "r1.jsonl").exit_code == 1
    assert _run(study, out, tmp_path / "r2.jsonl", "--resume").exit_code == 1
    sources = [str(r["source"]) for r in _report(tmp_path / "r2.jsonl")]
    assert len(sources) == 11 and not any(s.startswith("anon/") for s in sources)


def test_an_interrupted_run_says_how_to_continue_and_keeps_what_it_finished(
    study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.ingestion.deid import cli_worker

    real, calls = cli_worker.process, []

    def stopped_on_the_third(task: Any) -> dict[str, Any]:
        calls.append(task)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(cli_worker, "process", stopped_on_the_third)
    out = tmp_path / "out"
    stopped = _run(study, out, tmp_path / "r.jsonl", "--workers", "1")  # the spy runs here
    assert stopped.exit_code == 130 and "--resume" in stopped.output
    assert len(_journal_rows(out)) == 2 and not (tmp_path / "r.jsonl").exists()
    monkeypatch.setattr(cli_worker, "process", real)
    resumed = _run(study, out, tmp_path / "r.jsonl", "--resume")
    assert resumed.exit_code == 1 and len(_journal_rows(out)) == 11
    assert len(_report(tmp_path / "r.jsonl")) == 11
