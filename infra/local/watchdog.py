"""Stops a stack's process groups when the process that owns the stack dies, however it dies.

Every part runs in its own session (so a Ctrl-C in the owner's terminal does not kill a JVM
halfway through the owner's orderly stop), which also means nothing kills the parts when
the owner is SIGKILLed, crashes, or is a test session that was killed. The owner therefore
starts this watchdog, in a session of its own too, with a pipe on its stdin, and tells it
over that pipe which groups to watch:

    watch <pgid>     a part was started
    forget <pgid>    a part was stopped by the owner (restart, orderly stop)
    release          the owner stopped everything itself, or detached the stack: exit quietly

End of file on stdin without `release` means the owner is gone (the kernel closes the pipe
of a dead process): the watchdog stops every watched group, SIGTERM then SIGKILL, and exits.
A pipe needs no polling and no pid that could be reused.

Run by `LocalStack` (see `Watchdog`); by hand: python -m infra.local.watchdog < fifo
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from pathlib import Path
from typing import IO

from infra.local.processes import ManagedProcess, stop_groups

REPO_ROOT = Path(__file__).resolve().parents[2]


def watch(commands: IO[str]) -> bool:
    """Read commands until release (True) or end of file (False); stop the groups on EOF."""
    watched: set[int] = set()
    for line in commands:
        verb, _, argument = line.strip().partition(" ")
        if verb == "watch":
            watched.add(int(argument))
        elif verb == "forget":
            watched.discard(int(argument))
        elif verb == "release":
            return True
    stop_groups([ManagedProcess(name=str(p), pgid=p, log_path=Path()) for p in sorted(watched)])
    return False


class Watchdog:
    """The owner's end: starts the watchdog process and keeps it informed."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.watchdog"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            cwd=REPO_ROOT,  # where `-m infra.local.watchdog` resolves, whatever the owner's cwd
            start_new_session=True,  # outlives the owner, and is deaf to its Ctrl-C
        )

    def _send(self, line: str) -> None:
        stdin = self._process.stdin
        if stdin is None or stdin.closed:
            return
        # A watchdog that was killed must not break the stack it watched.
        with contextlib.suppress(BrokenPipeError, OSError):
            stdin.write(line + "\n")
            stdin.flush()

    def watch(self, pgid: int) -> None:
        self._send(f"watch {pgid}")

    def forget(self, pgid: int) -> None:
        self._send(f"forget {pgid}")

    def release(self) -> None:
        """Let it go without stopping anything (everything stopped, or the stack detached)."""
        self._send("release")
        if self._process.stdin is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self._process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(
        prog="python -m infra.local.watchdog",
        description="Read `watch <pgid>`, `forget <pgid>`, `release` lines on stdin; at end "
        "of file without `release`, stop every watched process group (LocalStack runs it).",
    ).parse_args(argv)
    watch(sys.stdin)


if __name__ == "__main__":
    main()
