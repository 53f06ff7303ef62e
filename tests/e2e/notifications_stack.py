"""A stack for the notifications end-to-end tests and benchmark: the product's topology cut
down to the subscriptions and notifications functions (other consumers of the same events
have their own tests), a real SMTP sink in this process, and a short retry schedule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from infra.local.mail import MailSink
from infra.local.stack import LocalStack
from infra.local.topology import DEFAULT_TOPOLOGY_PATH, load_topology

CONTEXTS = ("subscriptions_", "notifications_")


def cut_topology(target: Path, keep: tuple[str, ...] = CONTEXTS) -> Path:
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_TOPOLOGY_PATH.read_text())
    raw["functions"] = {
        name: f for name, f in raw["functions"].items() if f["target"].startswith(keep)
    }
    kept = set(raw["functions"])
    raw["schedules"] = {
        j: s for j, s in (raw.get("schedules") or {}).items() if s["function"] in kept
    }
    cloud = raw.get("cloud") or {}
    for access in (cloud.get("access") or {}).values():
        access["invokes"] = [f for f in access.get("invokes", []) if f in kept]
    cloud["public_functions"] = [f for f in cloud.get("public_functions", []) if f in kept]
    target.write_text(yaml.safe_dump(raw, sort_keys=False))
    load_topology(target)  # refuses a cut that is not a valid topology
    return target


@contextmanager
def notifications_stack(
    state_dir: Path, names: dict[str, str]
) -> Iterator[tuple[LocalStack, MailSink]]:
    with MailSink() as sink:
        stack = LocalStack(
            ports="free",
            project_id=names["project_id"],
            bucket_prefix=names["bucket_prefix"],
            collection_prefix=names["collection_prefix"],
            topology=cut_topology(state_dir / "topology.yaml"),
            state_dir=state_dir / "stack",
            extra_env={
                "SALUDTECH_SMTP_PORT": str(sink.port),
                "SALUDTECH_NOTIFICATION_RETRY_SCHEDULE": "1s,2s,5s",
            },
        )
        stack.start()
        try:
            yield stack, sink
        finally:
            stack.stop()
