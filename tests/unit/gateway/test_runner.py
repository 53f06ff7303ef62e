"""The whole gateway in this process, with a fake platform: a PACS sends a study, the
study reaches the target once, the status file says so; one gateway per spool."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway import status
from gateway.config import GatewayConfig, PlatformConfig, ScpConfig, UploadConfig
from gateway.runner import Gateway
from infra.samples.synthetic_dicom import make_study
from tests.support.pacs import PACS_AET, c_store, free_port
from tests.unit.gateway.fakes import FakeTarget


def _config(tmp_path: Path) -> GatewayConfig:
    (tmp_path / "password").write_text("pw")
    return GatewayConfig(
        spool_dir=tmp_path / "spool",
        platform=PlatformConfig("http://unused", "center", password_file=tmp_path / "password"),
        scp=ScpConfig(port=free_port(), allowed_calling_aets=(PACS_AET,)),
        upload=UploadConfig(study_quiet_seconds=0.3, poll_seconds=0.05,
                            backoff_initial_seconds=0.05, backoff_max_seconds=0.2),
    )  # fmt: skip


def test_a_study_goes_through_to_the_target_once(tmp_path: Path) -> None:
    config = _config(tmp_path)
    target = FakeTarget(down=2)
    gateway = Gateway(config, target=target).start()
    try:
        study = make_study(n_series=1, n_instances=5, with_sr=False)
        assert c_store(config.scp.port, study) == [0] * 5
        deadline = time.monotonic() + 20
        while len(target.received) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # a status write or two
        values = status.read(config.status_file)
    finally:
        gateway.stop()
    assert len(target.received) == 5
    assert values is not None and values["state"] == "running"
    assert values["sent_instances"] == 5 and values["queue_instances"] == 0
    assert values["failed_attempts"] == 2 and values["last_error"] == "unreachable"
    assert status.read(config.status_file)["state"] == "stopped"  # type: ignore[index]


def test_one_gateway_per_spool(tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = Gateway(config, target=FakeTarget()).start()
    try:
        with pytest.raises(OSError, match="another gateway"):
            Gateway(config, target=FakeTarget()).start()
    finally:
        first.stop()
    Gateway(config, target=FakeTarget()).start().stop()  # free again
