"""Nothing the stack started outlives it: not a killed owner, not a Ctrl-C at a bad moment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.local.processes import group_members
from tests.conftest import PROBE_SOURCE, PROBE_TOPOLOGY, unique_names

pytestmark = pytest.mark.emulators

REPO = Path(__file__).resolve().parents[2]
GONE_WITHIN_SECONDS = 20.0

# A test session in miniature: starts a stack, says which process groups it holds, waits.
OWNER = """
import json, sys, time
from pathlib import Path
from infra.local.stack import LocalStack
stack = LocalStack(ports="free", project_id=sys.argv[1], bucket_prefix=sys.argv[1],
                   source=Path(sys.argv[2]), topology=Path(sys.argv[3]),
                   state_dir=Path(sys.argv[4]))
stack.start()
print(json.dumps([p.pgid for p in stack.processes.values()]), flush=True)
time.sleep(600)
"""


def _wait_until_gone(pgids: list[int]) -> list[int]:
    deadline = time.monotonic() + GONE_WITHIN_SECONDS
    while time.monotonic() < deadline:
        alive = [pgid for pgid in pgids if group_members(pgid)]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


def _children_of(owner_pid: int) -> dict[int, bytes]:
    """pid -> command line of every live child of the owner."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                command = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == owner_pid and fields[0] != "Z":
                found[int(entry)] = command
    return found


# Every part a stack starts, each in its own process group with its own log.
PARTS = ("pubsub", "firestore", "gcs", "functions", "bridge", "mail")


def _watchdogs_of(owner_pid: int) -> list[int]:
    return [pid for pid, cmd in _children_of(owner_pid).items() if b"infra.local.watchdog" in cmd]


def test_a_sigkilled_owner_leaves_no_part_running(tmp_path: Path) -> None:
    name = unique_names("owner")["project_id"]
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, name, str(PROBE_SOURCE), str(PROBE_TOPOLOGY),
         str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert owner.stdout is not None
        pgids: list[int] = json.loads(owner.stdout.readline())
        assert len(pgids) == len(PARTS) and all(group_members(pgid) for pgid in pgids)
        watchdogs = _watchdogs_of(owner.pid)
        assert len(watchdogs) == 1
    finally:
        owner.kill()  # SIGKILL: no finally, no atexit, nothing runs in the owner
        owner.wait()
    assert _wait_until_gone(pgids) == []
    assert _wait_until_gone(watchdogs) == []


def test_ctrl_c_while_the_demo_runs_stops_every_part(tmp_path: Path) -> None:
    names = unique_names("ctrlc")
    up = subprocess.Popen(
        [sys.executable, "-m", "infra.local", "up", "--demo", "--free-ports",
         "--state-dir", str(tmp_path), "--project", names["project_id"],
         "--bucket-prefix", names["bucket_prefix"]],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own terminal-like process group, as a shell gives it
    )  # fmt: skip
    assert up.stdout is not None
    seen: list[str] = []
    try:
        for line in up.stdout:
            seen.append(line)
            if line.lstrip("─ ").startswith("Demo:"):
                break
        assert seen and "Demo:" in seen[-1], "".join(seen)
        state = json.loads((tmp_path / "stack.json").read_text())
        pgids = [int(p["pgid"]) for p in state["processes"].values()]
        # What a terminal does on Ctrl-C: SIGINT to the whole foreground process group.
        os.killpg(up.pid, signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    output = "".join(seen) + rest
    assert up.returncode == 0, output
    assert output.rstrip().endswith("Stopped."), output
    # Stopped by `up` itself before it exited, not later by the watchdog.
    assert [pgid for pgid in pgids if group_members(pgid)] == []


def test_ctrl_c_while_the_stack_starts_stops_what_had_started(tmp_path: Path) -> None:
    names = unique_names("ctrlc")
    up = subprocess.Popen(
        [sys.executable, "-m", "infra.local", "up", "--free-ports", "--state-dir", str(tmp_path),
         "--project", names["project_id"], "--bucket-prefix", names["bucket_prefix"],
         "--source", str(PROBE_SOURCE), "--topology", str(PROBE_TOPOLOGY)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        # Every part spawned (a part's log is opened just before its process starts): the
        # emulators are far from ready then.
        deadline = time.monotonic() + 60
        logs = tmp_path / "logs" / "latest"
        parts: list[int] = []
        while not (all((logs / f"{part}.log").exists() for part in PARTS)
                   and len(parts) == len(PARTS)):  # fmt: skip
            assert time.monotonic() < deadline and up.poll() is None, parts
            time.sleep(0.01)
            parts = [pid for pid, cmd in _children_of(up.pid).items()
                     if b"infra.local.watchdog" not in cmd]  # fmt: skip
        os.killpg(up.pid, signal.SIGINT)
        output, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 130, output
    assert "Interrupted while starting" in output
    assert not (tmp_path / "stack.json").exists()
    assert [pgid for pgid in parts if group_members(pgid)] == []
