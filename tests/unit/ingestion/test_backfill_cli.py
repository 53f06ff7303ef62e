"""saludtech-backfill as a new user meets it: a missing credential is one line, not a trace."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from functions.ingestion.backfill.cli import EXIT_USAGE, app


def test_no_credentials_outside_the_local_stack_is_one_line_that_says_what_to_do(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        app,
        [str(tmp_path), "--dead-letter", str(tmp_path / "refused"), "--center", "c1"],
        env={
            "FIRESTORE_EMULATOR_HOST": "",
            "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "no-such-key.json"),
        },
    )
    assert result.exit_code == EXIT_USAGE
    assert "no Google Cloud credentials" in result.output
    assert "saludtech-local env" in result.output
    assert "Traceback" not in result.output
