"""The backfill's Beam side that needs no stack: retries and the command line's usage errors
(tests/integration/test_backfill.py runs the pipeline itself on the emulators)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from functions.ingestion.backfill.cli import EXIT_USAGE, app
from functions.ingestion.backfill.pipeline import RETRIES, _retried
from functions.ingestion.backfill.service import Outcome
from functions.ingestion.backfill.sources import ArchiveObject
from shared.domain.errors import PermanentError, TransientError

OBJ = ArchiveObject("gs", "archive", "center-a/x.dcm", "center-a/x.dcm", 10, 1)


def test_an_object_is_retried_alone_while_the_platform_is_unavailable() -> None:
    calls: list[ArchiveObject] = []

    def flaky(obj: ArchiveObject) -> Outcome:
        calls.append(obj)
        if len(calls) < 3:
            raise TransientError("the store did not answer")
        return Outcome("anonymized")

    assert _retried(flaky, OBJ) == Outcome("anonymized")
    assert calls == [OBJ] * 3


def test_what_never_succeeds_fails_the_bundle() -> None:
    calls: list[ArchiveObject] = []

    def refused(obj: ArchiveObject) -> Outcome:
        calls.append(obj)
        raise PermanentError("bug", "not worth retrying")

    with pytest.raises(PermanentError):
        _retried(refused, OBJ)
    assert len(calls) == 1 and RETRIES > 1


def test_a_source_that_is_no_folder_is_a_usage_error(tmp_path: Path) -> None:
    answer = CliRunner().invoke(
        app, [str(tmp_path / "nowhere"), "--dead-letter", str(tmp_path / "dead")]
    )
    assert answer.exit_code == EXIT_USAGE, answer.output
