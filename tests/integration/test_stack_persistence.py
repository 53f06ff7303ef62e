"""`persist` keeps Firestore and Cloud Storage across restarts; every run keeps its logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local.environment import temporary_environment
from infra.local.prereqs import check_prerequisites
from infra.local.stack import LocalStack
from tests.conftest import PROBE_SOURCE, PROBE_TOPOLOGY, unique_names

pytestmark = pytest.mark.emulators


def _stack(state_dir: Path, names: dict[str, str], *, persist: bool) -> LocalStack:
    return LocalStack(
        ports="free",
        project_id=names["project_id"],
        bucket_prefix=names["bucket_prefix"],
        source=PROBE_SOURCE,
        topology=PROBE_TOPOLOGY,
        state_dir=state_dir,
        persist=persist,
    )


def _state(stack: LocalStack) -> tuple[dict[str, object] | None, bytes | None]:
    """(the probe document, the probe object) as the stack holds them, None if absent."""
    from google.cloud import firestore, storage  # type: ignore[attr-defined]

    with temporary_environment(stack.env):
        document = firestore.Client(project=stack.project_id).document("kept/one").get()
        blob = (
            storage.Client(project=stack.project_id)
            .bucket(stack.bucket("other"))
            .blob("center-1/kept.dcm")
        )
        return (document.to_dict() if document.exists else None,
                blob.download_as_bytes() if blob.exists() else None)  # fmt: skip


def test_persist_keeps_documents_and_objects_and_each_run_keeps_its_logs(
    tmp_path: Path,
) -> None:
    from google.cloud import firestore, storage  # type: ignore[attr-defined]

    names = unique_names("persist")
    with _stack(tmp_path, names, persist=True) as first:
        with temporary_environment(first.env):
            firestore.Client(project=first.project_id).document("kept/one").set({"n": 1})
            storage.Client(project=first.project_id).bucket(first.bucket("other")).blob(
                "center-1/kept.dcm"
            ).upload_from_string(b"bytes kept")
        assert _state(first) == ({"n": 1}, b"bytes kept")
        first_logs = first.log_dir
    with _stack(tmp_path, names, persist=True) as again:
        assert _state(again) == ({"n": 1}, b"bytes kept")
        last_logs = again.log_dir

    runs = sorted(p for p in (tmp_path / "logs").iterdir() if not p.is_symlink())
    assert len(runs) == 2 and runs[0] == first_logs and runs[-1] == last_logs
    assert (tmp_path / "logs" / "latest").resolve() == last_logs
    # The first run's logs are still whole: they were not overwritten by the later runs.
    assert "serving" in (first_logs / "functions.log").read_text(encoding="utf-8")


def test_without_persist_a_start_ignores_the_kept_state(tmp_path: Path) -> None:
    # Checked on the commands a start would run: a third stack start would cost seconds.
    (tmp_path / "data" / "firestore" / "firestore_export_1").mkdir(parents=True)
    (tmp_path / "data/firestore/firestore_export_1/firestore_export_1.overall_export_metadata"
     ).write_text("")  # fmt: skip
    commands = {
        persist: _stack(tmp_path, unique_names("plain"), persist=persist)._commands(
            check_prerequisites()
        )
        for persist in (False, True)
    }
    plain, kept = commands[False], commands[True]
    assert not any(arg.startswith("--import-data") for arg in plain["firestore"][0])
    assert "memory" in plain["gcs"][0] and "filesystem" not in plain["gcs"][0]
    # The same directory is imported with persist: the check above is not vacuous.
    assert any(arg.startswith("--import-data") for arg in kept["firestore"][0])
    assert "filesystem" in kept["gcs"][0]
