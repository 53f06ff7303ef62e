"""``saludtech-deid`` progress columns and the ``--no-pixel-screen`` switch."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from functions.ingestion.deid import cli_worker
from functions.ingestion.deid.cli import KEY_ENV, PIXEL_SCREEN_ENV, app
from functions.ingestion.deid.cli_progress import make_progress
from infra.samples.synthetic_dicom import make_study, write_study

ENV = {KEY_ENV: "ab" * 32}


def test_progress_shows_inputs_rate_and_time_left() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    progress = make_progress(console, enabled=True)
    task = progress.add_task("deid", total=4_000_000, files=0, total_files=4)
    progress.update(task, advance=1_000_000, files=1)
    progress.update(task, advance=1_000_000, files=2)
    line = progress.get_renderable()
    console.print(line)
    text = buffer.getvalue()
    assert "2/4 inputs" in text and "files/s" in text and "ETA" in text
    assert "B/s" in text  # rich's transfer speed: MB/s, kB/s...


def test_progress_is_off_when_asked_or_not_a_terminal(tmp_path: Path) -> None:
    write_study(make_study(n_series=1, n_instances=1, with_sr=False), tmp_path / "in")
    result = CliRunner().invoke(
        app, [str(tmp_path / "in"), str(tmp_path / "out"), "--center", "c1"], env=ENV
    )
    assert result.exit_code == 0 and "files/s" not in result.output
    quiet = CliRunner().invoke(
        app, [str(tmp_path / "in"), str(tmp_path / "o2"), "--center", "c1", "-q"], env=ENV
    )
    assert quiet.exit_code == 0 and quiet.output == ""


def test_no_pixel_screen_switches_the_screen_off_for_the_run_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_study(make_study(n_series=1, n_instances=2, with_sr=False), tmp_path / "in")
    seen: list[str | None] = []
    real = cli_worker.process

    def spy(task: Any) -> dict[str, Any]:
        seen.append(os.environ.get(PIXEL_SCREEN_ENV))
        return real(task)

    monkeypatch.setattr(cli_worker, "process", spy)
    monkeypatch.delenv(PIXEL_SCREEN_ENV, raising=False)
    args = [str(tmp_path / "in"), "--dry-run", "--center", "c1", "-q", "--workers", "1"]
    assert CliRunner().invoke(app, [*args, "--no-pixel-screen"], env=ENV).exit_code == 0
    assert CliRunner().invoke(app, args, env=ENV).exit_code == 0
    assert seen == ["off", "off", None, None]
    assert PIXEL_SCREEN_ENV not in os.environ
