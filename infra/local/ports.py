"""The ports the local stack listens on: defaults, environment overrides, or free ones."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, fields
from pathlib import Path

HOST = "127.0.0.1"
# Away from 8080, the Firestore emulator's own default, which other tools often hold.
# smtp: the mailbox's SMTP server (infra/local/mail.py); mail: its page.
DEFAULT_PORTS = {
    "pubsub": 8085, "firestore": 8086, "gcs": 4443, "functions": 8090, "bridge": 8091,
    "smtp": 8025, "mail": 8026,
}  # fmt: skip


@dataclass(frozen=True)
class StackPorts:
    pubsub: int = DEFAULT_PORTS["pubsub"]
    firestore: int = DEFAULT_PORTS["firestore"]
    gcs: int = DEFAULT_PORTS["gcs"]
    functions: int = DEFAULT_PORTS["functions"]
    bridge: int = DEFAULT_PORTS["bridge"]
    smtp: int = DEFAULT_PORTS["smtp"]
    mail: int = DEFAULT_PORTS["mail"]

    @classmethod
    def from_environment(cls, **overrides: int | None) -> StackPorts:
        """Defaults, then SALUDTECH_PORT_<PART> variables, then explicit overrides."""
        values: dict[str, int] = {}
        for part in (f.name for f in fields(cls)):
            explicit = overrides.get(part)
            from_env = os.environ.get(f"SALUDTECH_PORT_{part.upper()}")
            if explicit is not None:
                values[part] = explicit
            elif from_env:
                values[part] = int(from_env)
        return cls(**values)

    @classmethod
    def free(cls) -> StackPorts:
        """Ports the kernel says are free now (tests run beside a developer's stack)."""
        sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in fields(cls)]
        try:
            # Hold every socket open while choosing, so the five ports are distinct.
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            ports = [sock.getsockname()[1] for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
        return cls(*ports)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def url(self, part: str) -> str:
        """http://127.0.0.1:<port> of a part, e.g. `url("functions")`: the targets' base."""
        return f"http://{HOST}:{self.as_dict()[part]}"

    def busy(self) -> dict[str, int]:
        """Parts whose port something already listens on (another stack, another tool)."""
        return {part: port for part, port in self.as_dict().items() if not port_is_free(port)}


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR a port in TIME_WAIT would look busy, though a server can bind it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stack_ports(state_dir: Path) -> StackPorts:
    """The ports of the stack a command line talks to, found as `up` and `env` find them:
    those of the stack running from `state_dir` (its stack.json), else the ones `up` would
    choose (the defaults, then SALUDTECH_PORT_<PART>). Reads, never writes."""
    try:
        state = json.loads((state_dir / "stack.json").read_text(encoding="utf-8"))
        return StackPorts(**state["ports"])
    except (OSError, ValueError, KeyError, TypeError):
        return StackPorts.from_environment()
