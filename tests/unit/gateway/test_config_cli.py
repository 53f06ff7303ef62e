"""The configuration file, and the command line (`--help` and `status` change nothing)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway import status
from gateway.cli import app
from gateway.config import ConfigError, load
from gateway.spool import Spool

MINIMAL = """
spool_dir = "spool"
[scp]
allowed_calling_aets = ["HOSPITAL_PACS"]
[platform]
api_url = "https://api.example"
username = "center-1"
password_file = "password"
"""


def _write(tmp_path: Path, text: str = MINIMAL) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_a_minimal_file_gets_safe_defaults(tmp_path: Path) -> None:
    config = load(_write(tmp_path))
    assert config.spool_dir == tmp_path / "spool"
    assert config.scp.bind == "127.0.0.1" and config.scp.tls is None
    assert config.upload.grouping == "study"
    (tmp_path / "password").write_text("s3cret\n")
    assert config.platform.password() == "s3cret"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('password_file = "password"', 'password = "x"'), "never a password"),
        (('allowed_calling_aets = ["HOSPITAL_PACS"]', "allowed_calling_aets = []"), "allowed"),
        (('allowed_calling_aets = ["HOSPITAL_PACS"]', 'allowed_calling_aets = ["A" ]\nport_x = 1'),
         "unknown"),
        (('["HOSPITAL_PACS"]', '["WAY_TOO_LONG_AE_TITLE"]'), "AE title"),
        (('[scp]', '[scp.tls]\ncert = "c"\n[scp]'), "cert and key"),
    ],
)  # fmt: skip
def test_refused_settings_say_which(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(_write(tmp_path, MINIMAL.replace(*change)))


def test_the_password_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load(_write(tmp_path, MINIMAL.replace('password_file = "password"', "")))
    monkeypatch.delenv("SALUDTECH_GATEWAY_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="SALUDTECH_GATEWAY_PASSWORD"):
        config.platform.password()
    monkeypatch.setenv("SALUDTECH_GATEWAY_PASSWORD", "from-env")
    assert config.platform.password() == "from-env"


def test_help_has_no_side_effects(tmp_path: Path) -> None:
    runner = CliRunner()
    path = _write(tmp_path)
    for args in (["--help"], ["run", "--help"], ["status", "--help"]):
        result = runner.invoke(app, [*args, "--config", str(path)] if args != ["--help"] else args)
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway.toml"]


def test_status_of_a_stopped_gateway_counts_the_spool_and_changes_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path)
    spool = Spool.open(tmp_path / "spool")
    spool.store([b"x" * 1000], "study", "sop-1")
    (spool.incoming / "left.part").write_bytes(b"p")  # status must not recover it
    before = sorted(str(p) for p in (tmp_path / "spool").rglob("*"))
    result = CliRunner().invoke(app, ["status", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["running"] is False and answer["queue_instances"] == 1
    assert sorted(str(p) for p in (tmp_path / "spool").rglob("*")) == before


def test_status_of_a_running_gateway_shows_its_counters(tmp_path: Path) -> None:
    path = _write(tmp_path)
    Spool.open(tmp_path / "spool")
    values = {"state": "running", "pid": os.getpid(), "updated_at": time.time(),
              "sent_instances": 12, "sent_batches": 2, "failed_attempts": 3,
              "last_error": "unreachable", "last_error_at": time.time() - 5}  # fmt: skip
    status.write(tmp_path / "spool" / "status.json", values)
    result = CliRunner().invoke(app, ["status", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "running" in result.output and "not running" not in result.output
    assert "12 instances in 2 uploads" in result.output
    assert "unreachable" in result.output


def test_a_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["status", "--config", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2
