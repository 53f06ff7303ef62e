"""A functions host that crashes is restarted by the stack, as the platform would."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from infra.local.processes import group_members
from tests.conftest import ProbeStack

pytestmark = pytest.mark.emulators


def _host_pid(pgid: int) -> int:
    for pid in group_members(pgid):
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        # The supervisor names the host among its own arguments, after `--`.
        if command[1:3] == [b"-m", b"infra.local.functions_host"]:
            return pid
    raise AssertionError(f"no functions host in process group {pgid}")


def test_a_killed_functions_host_is_restarted_and_serves_again(probe_stack: ProbeStack) -> None:
    stack = probe_stack.stack
    functions = stack.processes["functions"]
    crashed = _host_pid(functions.pgid)
    os.kill(crashed, signal.SIGKILL)
    deadline = time.monotonic() + 30
    answer: requests.Response | None = None
    while time.monotonic() < deadline:
        try:
            answer = requests.post(f"{stack.functions_url}/probe_http/after", data=b"x", timeout=2)
            if answer.status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    assert answer is not None and answer.status_code == 200
    assert answer.json()["path"] == "/after"
    assert _host_pid(functions.pgid) != crashed
    assert stack.dead_parts() == []
    log = functions.log_path.read_text(encoding="utf-8")
    assert "supervisor functions host: was killed by SIGKILL; restarting in" in log
