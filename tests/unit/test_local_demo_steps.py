"""The demo fails loudly: a step that does not end as it says prints a red line naming the
step, what it expected and what it saw; the demo then returns False and `up` exits 1."""

from __future__ import annotations

import io
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from infra.local import cli, demo
from infra.samples.experts import SeedError


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    console = Console(
        file=out, width=200, force_terminal=True, color_system="standard", highlight=False
    )
    return console, out


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_a_step_that_ends_otherwise_is_a_red_line_with_expected_and_seen() -> None:
    console, out = _console()
    steps = demo.Steps(console)
    assert steps.check("create", "applied", "applied")
    assert not steps.check("its saga provisions the data service", "COMPLETED", "COMPENSATED [x]")
    said = out.getvalue()
    assert "✓" in said and "create: applied" in _plain(said)
    failed = next(line for line in said.splitlines() if "FAILED" in line)
    assert failed.startswith("\x1b[1;31m")  # bold red
    assert _plain(failed) == (
        "✗ FAILED: its saga provisions the data service: expected COMPLETED, saw COMPENSATED [x]"
    )
    assert steps.failed == ["its saga provisions the data service"] and not steps.ok


def test_a_flow_cut_short_fails_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    def experts(stack: Any, steps: demo.Steps) -> None:
        steps.check("the sample experts are registered", "3 experts", "3 experts")

    def boom(*args: Any) -> bool:
        raise ConnectionError("the functions host does not answer")

    monkeypatch.setattr(demo, "_experts_step", experts)
    monkeypatch.setattr(demo, "run_ingestion_demo", boom)
    console, out = _console()
    assert demo.run_demo(object(), console) is False  # type: ignore[arg-type]
    said = _plain(out.getvalue())
    assert "ConnectionError: the functions host does not answer" in said
    assert "the demo failed: 1 step(s)" in said


class _Stack:
    def __init__(self, **kwargs: Any) -> None:
        self.detached = False

    def start(self) -> _Stack:
        return self

    def stop(self) -> None:
        pass

    def detach(self) -> None:
        self.detached = True

    def seed_samples(self) -> dict[str, str] | None:
        raise SeedError("experts EXP-001 not in the registry after 60 s")


def test_up_exits_1_when_the_seeding_or_the_demo_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def serve(stack: Any, state_dir: Path, **options: Any) -> None:
        if options["seed"] and not cli._seed_samples(stack):
            options["failed"].append("the sample experts were not registered")
        if options["demo"]:
            options["failed"].append("the demo")
        stack.detach()

    monkeypatch.setattr(signal, "signal", lambda *args: None)
    monkeypatch.setattr(cli, "LocalStack", _Stack)
    monkeypatch.setattr(cli, "_serve", serve)
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path)]
    seeded = runner.invoke(cli.app, ["up", "--detach", *state])
    plain = runner.invoke(cli.app, ["up", "--detach", "--no-seed", *state])
    shown = runner.invoke(cli.app, ["up", "--detach", "--no-seed", "--demo", *state])
    assert seeded.exit_code == 1 and "not registered" in seeded.output
    assert plain.exit_code == 0, plain.output
    assert shown.exit_code == 1 and "the demo" in shown.output
