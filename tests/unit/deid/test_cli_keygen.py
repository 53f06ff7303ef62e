"""``saludtech-deid keygen`` and the one-line error when the key is missing."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from functions.ingestion.deid.cli import KEY_ENV, app, load_key
from infra.samples.synthetic_dicom import make_study, write_study

ROOT = Path(__file__).resolve().parents[3]


def test_keygen_writes_a_private_key_once_and_the_cli_uses_it(tmp_path: Path) -> None:
    key = tmp_path / "key.bin"
    made = CliRunner().invoke(app, ["keygen", "--out", str(key)], env={KEY_ENV: ""})
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    assert "--key-file" in made.output and KEY_ENV in made.output
    before = key.read_bytes()
    again = CliRunner().invoke(app, ["keygen", "--out", str(key)], env={KEY_ENV: ""})
    assert again.exit_code == 2 and "never overwritten" in again.output
    assert key.read_bytes() == before

    write_study(make_study(n_series=1, n_instances=1, with_sr=False), tmp_path / "in")
    used = CliRunner().invoke(
        app,
        [str(tmp_path / "in"), str(tmp_path / "out"), "--center", "c1", "--key-file", str(key)],
        env={KEY_ENV: ""},
    )
    assert used.exit_code == 0, used.output


def test_keygen_without_out_prints_a_fresh_key_on_stdout() -> None:
    keys = set()
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "functions.ingestion.deid", "keygen"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        keys.add(done.stdout.strip())
        assert KEY_ENV in done.stderr
    assert len(keys) == 2 and all(len(bytes.fromhex(k)) == 32 for k in keys)


def test_a_missing_key_is_one_line_that_says_how_to_make_one(tmp_path: Path) -> None:
    write_study(make_study(n_series=1, n_instances=1, with_sr=False), tmp_path / "in")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "functions.ingestion.deid",
            str(tmp_path / "in"),
            str(tmp_path / "out"),
            "--center",
            "c1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "40"},
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "saludtech-deid keygen --out" in done.stderr and KEY_ENV in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_key_file_and_the_same_key_in_the_environment_are_one_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key.bin"
    assert CliRunner().invoke(app, ["keygen", "--out", str(key_file)]).exit_code == 0
    monkeypatch.setenv(KEY_ENV, key_file.read_text())  # with its newline, as pasted
    assert load_key(None) == load_key(key_file) == bytes.fromhex(key_file.read_text())
