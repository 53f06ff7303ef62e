"""`persist` keeps Firestore and Cloud Storage across restarts; every run keeps its logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local import persistence
from infra.local.environment import temporary_environment
from infra.local.prereqs import check_prerequisites
from infra.local.stack import LocalStack
from tests.conftest import PROBE_SOURCE, PROBE_TOPOLOGY, unique_names

pytestmark = pytest.mark.emulators
CONTEXT_DATABASE = "saludtech-probe"  # the probe context's own database, beside (default)


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


def _state(stack: LocalStack) -> tuple[object, ...]:
    """(the probe documents of `(default)` and of a context's database, the probe object) as
    the stack holds them, None if absent."""
    from google.cloud import firestore, storage  # type: ignore[attr-defined]

    with temporary_environment(stack.env):
        documents = [
            firestore.Client(project=stack.project_id, database=database).document("kept/one").get()
            for database in ("(default)", CONTEXT_DATABASE)
        ]
        blob = (
            storage.Client(project=stack.project_id)
            .bucket(stack.bucket("other"))
            .blob("center-1/kept.dcm")
        )
        return (*[d.to_dict() if d.exists else None for d in documents],
                blob.download_as_bytes() if blob.exists() else None)  # fmt: skip


def test_persist_keeps_documents_and_objects_and_each_run_keeps_its_logs(
    tmp_path: Path,
) -> None:
    from google.cloud import firestore, storage  # type: ignore[attr-defined]

    names = unique_names("persist")
    with _stack(tmp_path, names, persist=True) as first:
        with temporary_environment(first.env):
            firestore.Client(project=first.project_id).document("kept/one").set({"n": 1})
            firestore.Client(project=first.project_id, database=CONTEXT_DATABASE).document(
                "kept/one"
            ).set({"n": 2})
            storage.Client(project=first.project_id).bucket(first.bucket("other")).blob(
                "center-1/kept.dcm"
            ).upload_from_string(b"bytes kept")
        assert _state(first) == ({"n": 1}, {"n": 2}, b"bytes kept")
        first_logs = first.log_dir
    with _stack(tmp_path, names, persist=True) as again:
        assert _state(again) == ({"n": 1}, {"n": 2}, b"bytes kept")
        last_logs = again.log_dir

    runs = sorted(p for p in (tmp_path / "logs").iterdir() if not p.is_symlink())
    assert len(runs) == 2 and runs[0] == first_logs and runs[-1] == last_logs
    assert (tmp_path / "logs" / "latest").resolve() == last_logs
    # The first run's logs are still whole: they were not overwritten by the later runs.
    assert "serving" in (first_logs / "functions.log").read_text(encoding="utf-8")


def test_the_newest_complete_export_of_each_database_is_the_one_kept(tmp_path: Path) -> None:
    def export(database: str, name: str, *, complete: bool) -> Path:
        folder = tmp_path / "firestore" / database / name
        folder.mkdir(parents=True)
        metadata = folder / f"{name}.overall_export_metadata"
        if complete:
            metadata.write_text("")
        return metadata

    export("default", "firestore_export_1", complete=True)
    newest = export("default", "firestore_export_2", complete=True)
    context = export(CONTEXT_DATABASE, "firestore_export_1", complete=True)
    export(CONTEXT_DATABASE, "firestore_export_3", complete=False)  # interrupted
    export("saludtech-empty", "firestore_export_1", complete=False)
    assert persistence.kept_databases(tmp_path) == {"(default)": newest, CONTEXT_DATABASE: context}


def test_without_persist_a_start_imports_nothing(tmp_path: Path) -> None:
    stack = _stack(tmp_path, unique_names("plain"), persist=False)
    assert not stack.persist
    assert "memory" in stack._commands(check_prerequisites())["gcs"][0]
