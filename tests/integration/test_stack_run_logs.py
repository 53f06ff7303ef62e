"""Each run of the stack logs to its own directory; the oldest runs beyond the limit go."""

from __future__ import annotations

from pathlib import Path

from infra.local.run_logs import new_run_dir


def test_runs_get_their_own_directories_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    runs = []
    for n in range(4):
        run = new_run_dir(tmp_path, keep=3)
        (run / "functions.log").write_text(f"run {n}\n")
        runs.append(run)
    assert len(set(runs)) == 4  # two starts in the same second still get two directories
    kept = sorted(p for p in tmp_path.iterdir() if not p.is_symlink())
    assert kept == runs[1:]
    assert (tmp_path / "latest").resolve() == runs[-1]
    assert [(run / "functions.log").read_text() for run in kept] == [
        "run 1\n",
        "run 2\n",
        "run 3\n",
    ]
