"""The cloud mode of the local stack: every function with only what Terraform gives it.

`python -m infra.local up --cloud-mode` (LocalStack(cloud_mode=True)) runs each function in
its own functions-framework process (infra/local/functions_host.py --target), on its own
port, behind infra/local/router.py on the functions port. A function's environment is
exactly what terraform/modules/platform/functions.tf sets (infra/local/grants.py
`cloud_settings`, SALUDTECH_ENVIRONMENT=cloud), the deployer's settings (the mail server,
here the stack's sink; the payment API, here infra/local/fake_stripe.py), the secrets
Terraform mounts into it (strong random values made at start, the same value wherever one
secret is mounted), the emulator hosts, and SALUDTECH_GRANTS: what IAM grants it, which
shared/adapters/grants.py enforces. Nothing of the developer's environment goes in.
"""

from __future__ import annotations

import base64
import secrets
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.local.grants import FunctionGrants, cloud_settings, evaluate, grants_of
from infra.local.router import Route
from infra.local.topology import REPO_ROOT
from shared.adapters.local_id_tokens import KEY_ENV

# A value of the shape the code takes, for every key a secret may hold (docs/deploy.md
# makes the real ones the same way).
_SECRET_SHAPES = {
    "SALUDTECH_HMAC_KEY": lambda: secrets.token_hex(32),
    "SALUDTECH_FIELD_ENCRYPTION_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    "SALUDTECH_JWT_KEYS": lambda: "k0:" + secrets.token_hex(32),
    "SALUDTECH_WEBHOOK_SECRETS": lambda: (
        "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    ),
    "SALUDTECH_CONFIRMATION_KEYS": lambda: secrets.token_hex(32),
    "SALUDTECH_PAYMENT_API_KEY": lambda: "sk_test_" + secrets.token_hex(16),
}


def free_ports(count: int, avoid: frozenset[int] = frozenset()) -> list[int]:
    """`count` distinct free ports, none of `avoid` (the stack's own, chosen apart: a port
    the router listens on must never be a function's too)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:  # all held open while choosing: distinct ports
            sock.bind(("127.0.0.1", 0))
        ports = [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    if avoid.intersection(ports):
        return free_ports(count, avoid)
    return ports


def new_secret_values(grants: dict[str, FunctionGrants]) -> dict[str, str]:
    """env variable -> one strong random value (one per secret: consistent everywhere)."""
    names = {env for g in grants.values() for env in g.secrets}
    return {
        env: _SECRET_SHAPES.get(env, lambda: secrets.token_urlsafe(32))() for env in sorted(names)
    }


@dataclass
class CloudMode:
    """What the stack keeps to start (and restart) every function as Terraform would."""

    grants: dict[str, FunctionGrants]
    public: frozenset[str]
    public_target: str | None
    ports: dict[str, int]  # function -> its own port
    stripe_port: int
    secret_values: dict[str, str]
    token_key: str = field(default_factory=lambda: secrets.token_hex(32))

    @classmethod
    def prepare(
        cls, topology_path: Path, bucket_prefix: str, avoid: frozenset[int] = frozenset()
    ) -> CloudMode:
        derived = evaluate(topology_path, bucket_prefix)
        grants = grants_of(derived, bucket_prefix)
        front = derived["front_door"]
        ports = free_ports(len(grants) + 1, avoid)
        return cls(
            grants=grants,
            public=frozenset(n for n, f in derived["functions"].items() if f["public"]),
            public_target=derived["functions"][front]["target"] if front else None,
            ports=dict(zip(sorted(grants), ports, strict=False)),
            stripe_port=ports[-1],
            secret_values=new_secret_values(grants),
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "grants": {n: g.to_state() for n, g in self.grants.items()},
            "public": sorted(self.public),
            "public_target": self.public_target,
            "ports": self.ports,
            "stripe_port": self.stripe_port,
            "secret_values": self.secret_values,
            "token_key": self.token_key,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CloudMode:
        return cls(
            grants={n: FunctionGrants.from_state(g) for n, g in state["grants"].items()},
            public=frozenset(state["public"]),
            public_target=state["public_target"],
            ports={n: int(p) for n, p in state["ports"].items()},
            stripe_port=int(state["stripe_port"]),
            secret_values=dict(state["secret_values"]),
            token_key=str(state["token_key"]),
        )

    @property
    def stripe_url(self) -> str:
        return f"http://127.0.0.1:{self.stripe_port}"

    def routes(self) -> list[Route]:
        return [
            Route(
                function=name,
                target=g.target,
                port=self.ports[name],
                public=name in self.public,
                service_account=g.account_id,
                invokes=g.invokes,
            )
            for name, g in sorted(self.grants.items())
        ]

    def function_env(
        self,
        function: str,
        *,
        project_id: str,
        bucket_prefix: str,
        functions_url: str,
        emulators: dict[str, str],
        deployer_settings: dict[str, str],
        state_dir: Path,
    ) -> dict[str, str]:
        grants = self.grants[function]
        env = {
            # The runtime's own: a Python, the repository as the uploaded source, an empty
            # gcloud config (no developer credentials to fall back on).
            "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
            "CLOUDSDK_CONFIG": str(state_dir / "gcloud"),
            "HOME": str(state_dir / "home"),
            **emulators,
            **deployer_settings,
            "SALUDTECH_PAYMENT_API_URL": self.stripe_url,
            **cloud_settings(
                grants,
                project_id=project_id,
                bucket_prefix=bucket_prefix,
                functions_url=functions_url,
                public_target=self.public_target,
            ),
            "SALUDTECH_GRANTS": grants.to_json(),
            KEY_ENV: self.token_key,
        }
        for variable in grants.secrets:
            env[variable] = self.secret_values[variable]
        return env
