"""Child processes of the stack: each in its own process group, stopped as a group.

The emulator scripts fork a JVM (Firestore's bash script does not even exec), so stopping
only the PID we started leaves the JVM running. Every part therefore gets its own session
(setsid), its process group id equals its pid, and stopping means SIGTERM to the whole
group, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_SECONDS = 5.0


class StartupError(RuntimeError):
    """A part of the stack did not become ready."""


@dataclass
class ManagedProcess:
    name: str
    pgid: int
    log_path: Path
    # Only set in the process that started it: lets us reap it and read its exit code.
    popen: subprocess.Popen[bytes] | None = None

    def exit_code(self) -> int | None:
        """The exit code if it has ended, None while it runs (or when not ours to reap)."""
        return self.popen.poll() if self.popen is not None else None

    def is_alive(self) -> bool:
        if self.popen is not None:
            self.popen.poll()  # reap our child if it ended, so it stops counting
        # Our child may be gone while a grandchild (the JVM) still holds the group.
        return group_is_alive(self.pgid)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def spawn(
    name: str,
    command: Sequence[str],
    env: Mapping[str, str],
    log_dir: Path,
    cwd: Path | None = None,
) -> ManagedProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    # Appended: a part restarted within one run keeps what it logged before (a crash).
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own session and process group: pgid == pid
        )
    return ManagedProcess(name=name, pgid=popen.pid, log_path=log_path, popen=popen)


def group_is_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still counts as a group member until reaped: look for a live one.
    return any(_is_live_member(pid, pgid) for pid in _pids())


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _is_live_member(pid: int, pgid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # Fields after the parenthesised command: state, ppid, pgrp, ...
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[2]) == pgid and fields[0] != "Z"


def group_members(pgid: int) -> list[int]:
    return [pid for pid in _pids() if _is_live_member(pid, pgid)]


def stop_groups(processes: Sequence[ManagedProcess], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM every group at once, wait up to `grace`, then SIGKILL what is left."""
    for process in processes:
        _signal_group(process.pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    remaining = list(processes)
    while remaining and time.monotonic() < deadline:
        for process in remaining:
            if process.popen is not None:
                process.popen.poll()  # reap our direct child so it stops counting
        remaining = [p for p in remaining if group_is_alive(p.pgid)]
        if remaining:
            time.sleep(0.05)
    for process in remaining:
        _signal_group(process.pgid, signal.SIGKILL)
    for process in processes:
        if process.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=grace)
    # A group killed a moment ago may still be dying (not ours to reap: `down` attached to
    # it): wait for its members to go, so that whoever asks next does not see them alive.
    deadline = time.monotonic() + grace
    while any(group_is_alive(p.pgid) for p in remaining) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def http_ready(url: str, timeout: float = 0.5) -> bool:
    """True when something answers HTTP at url (any status: the port serves)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 (loopback only)
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def wait_http_ready(process: ManagedProcess, url: str, timeout: float) -> float:
    """Poll url until it answers; fail early if the process dies. Returns the time waited."""
    started = time.monotonic()
    while True:
        if http_ready(url):
            return time.monotonic() - started
        code = process.exit_code()
        if code is not None:
            raise StartupError(
                f"{process.name} exited with code {code} before becoming ready; "
                f"last log lines ({process.log_path}):\n{process.log_tail()}"
            )
        if time.monotonic() - started > timeout:
            raise StartupError(
                f"{process.name} not ready at {url} after {timeout:.0f}s; "
                f"last log lines ({process.log_path}):\n{process.log_tail()}"
            )
        time.sleep(0.05)


def rss_bytes(pgid: int) -> int:
    """Resident memory of every live process in the group."""
    total = 0
    for pid in group_members(pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total
