"""The edge gateway on the local stack: a PACS (pynetdicom, and dcmtk's storescu when
installed) sends studies to saludtech-gateway, which uploads them through the public api
(`POST /v1/uploads`, signed PUTs) into the ingestion pipeline; each test polls
`GET /v1/images` as the center until every instance is catalogued, and checks each is
there exactly once: through an outage of the api, and through a SIGKILL of the gateway.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from pydicom.dataset import Dataset

from functions.identity.messages import Role
from gateway.config import GatewayConfig, load
from gateway.runner import Gateway
from gateway.uploader import ApiTarget
from infra.samples.synthetic_dicom import make_study, write_study
from tests.e2e.test_api_flow import PASSWORD, api_url, login, register
from tests.support.pacs import PACS_AET, STORESCU_MISSING, c_store, free_port, storescu

pytestmark = [pytest.mark.emulators]
ROOT = Path(__file__).resolve().parents[2]


def _study(n: int) -> list[Dataset]:
    # A unique patient: the de-identified UIDs derive from the originals, and a study sent
    # by another test (another center) would be a referral, not a new image.
    return make_study(f"GW{uuid.uuid4().hex[:8]}^TEST", n_series=1, n_instances=n, with_sr=False)


def _config_file(tmp_path: Path, stack: Any, username: str, **upload: object) -> Path:
    (tmp_path / "password").write_text(PASSWORD)
    settings = {"grouping": "study", "study_quiet_seconds": 1.0, "poll_seconds": 0.2,
                "backoff_initial_seconds": 0.2, "backoff_max_seconds": 1.0, **upload}  # fmt: skip
    lines = [
        f'spool_dir = "{tmp_path / "spool"}"',
        "[scp]",
        f"port = {free_port()}",
        f'allowed_calling_aets = ["{PACS_AET}"]',
        "[platform]",
        f'api_url = "{api_url(stack)}"',
        f'username = "{username}"',
        f'password_file = "{tmp_path / "password"}"',
        "[upload]",
        *(f"{key} = {json.dumps(value)}" for key, value in settings.items()),
        "[status]",
        f"port = {free_port()}",
    ]
    path = tmp_path / "gateway.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def center(stack: Any) -> tuple[str, dict[str, str]]:
    """A CENTER account: its username, and the headers of its own session for reading."""
    username = register(Role.CENTER, f"center-{uuid.uuid4().hex[:8]}")
    return username, login(stack, username)


def catalogued(stack: Any, auth: dict[str, str], expected: int, timeout: float = 90) -> list[str]:
    """The center's image ids once `expected` are catalogued (or the timeout), then a short
    settle so that a late duplicate would show."""
    deadline = time.monotonic() + timeout
    while True:
        ids = _image_ids(stack, auth)
        if len(ids) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(2)
    return _image_ids(stack, auth)


def quarantined(stack: Any, auth: dict[str, str]) -> list[Any]:
    """What the center's uploads had refused: a re-sent identical instance is not refused."""
    answer = requests.get(f"{api_url(stack)}/v1/quarantine", headers=auth, timeout=10)
    items: list[Any] = answer.json()["items"]
    return items


def _image_ids(stack: Any, auth: dict[str, str]) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{api_url(stack)}/v1/images", params=params, headers=auth,
                            timeout=10).json()  # fmt: skip
        ids += [item["image_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


@pytest.fixture
def running(
    stack: Any, center: tuple[str, dict[str, str]], tmp_path: Path
) -> Iterator[tuple[Gateway, GatewayConfig]]:
    config = load(_config_file(tmp_path, stack, center[0]))
    gateway = Gateway(config, target=ApiTarget(config.platform)).start()
    yield gateway, config
    gateway.stop()


def test_studies_from_pynetdicom_and_storescu_are_all_catalogued(
    stack: Any,
    center: tuple[str, dict[str, str]],
    running: tuple[Gateway, GatewayConfig],
    tmp_path: Path,
) -> None:
    gateway, config = running
    first = _study(10)
    assert c_store(config.scp.port, first) == [0] * 10
    expected = 10
    if shutil.which("storescu"):
        second = write_study(_study(5), tmp_path / "pacs")
        storescu(config.scp.port, second)
        expected += 5
    else:
        print(f"storescu part skipped: {STORESCU_MISSING}")
    ids = catalogued(stack, center[1], expected)
    assert len(ids) == expected == len(set(ids))
    counters = gateway.stats.snapshot()
    assert counters["received"] == counters["sent_instances"] == expected


def test_an_outage_of_the_api_mid_study_loses_and_duplicates_nothing(
    stack: Any,
    center: tuple[str, dict[str, str]],
    running: tuple[Gateway, GatewayConfig],
) -> None:
    gateway, config = running
    target = gateway.target
    assert isinstance(target, ApiTarget)
    reachable = target.platform
    target.platform = replace(reachable, api_url=f"http://127.0.0.1:{free_port()}")  # down
    study = _study(10)
    assert c_store(config.scp.port, study[:5]) == [0] * 5
    deadline = time.monotonic() + 30
    while gateway.stats.snapshot()["failed_attempts"] < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    counters = gateway.stats.snapshot()
    assert counters["failed_attempts"] >= 3 and counters["last_error"] == "unreachable"
    assert counters["sent_instances"] == 0
    target.platform = reachable  # back
    assert c_store(config.scp.port, study[5:]) == [0] * 5
    ids = catalogued(stack, center[1], 10)
    assert len(ids) == 10 == len(set(ids))
    assert quarantined(stack, center[1]) == []
    assert gateway.stats.snapshot()["sent_instances"] == 10


def _start(config_path: Path, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config_path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("ab"),
        env={**os.environ},
    )  # fmt: skip
    status_file = load(config_path).status_file
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        values = json.loads(status_file.read_text()) if status_file.exists() else {}
        if values.get("pid") == process.pid and values.get("state") == "running":
            return process
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"the gateway did not start:\n{log.read_text()}")


def test_a_gateway_killed_mid_study_delivers_every_acknowledged_instance_once(
    stack: Any, center: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    # Per instance, so uploads run while the PACS is still sending: the kill lands among them.
    config_path = _config_file(tmp_path, stack, center[0], grouping="instance")
    port = load(config_path).scp.port
    log = tmp_path / "gateway.log"
    study = _study(10)
    process = _start(config_path, log)
    try:
        assert c_store(port, study[:6]) == [0] * 6
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    process = _start(config_path, log)
    try:
        assert c_store(port, study[6:]) == [0] * 4
        ids = catalogued(stack, center[1], 10)
        assert len(ids) == 10 == len(set(ids))
        assert quarantined(stack, center[1]) == []
        status = subprocess.run(
            [sys.executable, "-m", "gateway", "status", "--config", str(config_path), "--json"],
            cwd=ROOT, capture_output=True, check=True, text=True, timeout=30,
        )  # fmt: skip
        answer = json.loads(status.stdout)
        assert answer["running"] is True and answer["queue_instances"] == 0
        page = load(config_path).status  # the status page says the same
        shown = requests.get(f"http://{page.host}:{page.port}/status.json", timeout=10).json()
        assert (shown["running"], shown["queue_instances"]) == (True, 0)
        assert shown["sent_instances"] >= 4
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    # Nothing the PACS sent is in the gateway's log: no UID, no patient name.
    text = log.read_text()
    for ds in study:
        assert str(ds.SOPInstanceUID) not in text and str(ds.StudyInstanceUID) not in text
    assert str(study[0].PatientName) not in text
