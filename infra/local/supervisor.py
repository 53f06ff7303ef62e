"""Keeps one process running: restarts it when it dies, as the platform restarts instances.

In the cloud a function instance that crashes is replaced and the next request is served;
locally the functions host plays every instance, so a crash (a segfault in a native
library, the OOM killer, a `kill -9`) must not take the stack down or leave it serving
nothing. The supervisor runs the command as its child, in the same process group (so the
stack's stop reaches both), and when the child exits on its own it logs a line and starts
it again after a backoff: 0.5 s, doubling, at most 10 s; a child that ran for a minute
starts the count afresh. SIGTERM or SIGINT stops the child and the supervisor.

Run: python -m infra.local.supervisor --name functions -- <command ...>
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from types import FrameType

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0
HEALTHY_AFTER_SECONDS = 60.0
STOP_GRACE_SECONDS = 4.0  # under the stack's own 5 s, which then SIGKILLs the group


def backoff(restarts: int) -> float:
    """Seconds to wait before the n-th consecutive restart (n >= 1)."""
    return float(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2.0 ** (restarts - 1)))


def _say(name: str, text: str) -> None:
    # Same stream as the child: the line lands in the part's log, in order.
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    print(f"{stamp} supervisor {name}: {text}", flush=True)


def _how_it_ended(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def supervise(name: str, command: list[str]) -> int:
    stopping = threading.Event()

    def on_terminate(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGINT, on_terminate)
    restarts = 0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)
        while child.poll() is None and not stopping.is_set():
            stopping.wait(0.1)
        if stopping.is_set():
            child.terminate()
            try:
                return child.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                return child.wait()
        restarts = 1 if time.monotonic() - started > HEALTHY_AFTER_SECONDS else restarts + 1
        delay = backoff(restarts)
        _say(name, f"{_how_it_ended(child.returncode)}; restarting in {delay:.1f} s "
                   f"(restart {restarts} in a row)")  # fmt: skip
        if stopping.wait(delay):
            return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--name", required=True, help="What the log lines call the child.")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    sys.exit(supervise(args.name, command))


if __name__ == "__main__":
    main()
