"""Fixtures shared by every test: the local stack on the real emulators, started on demand.

`stack`        one LocalStack for the session (the product's topology and main.py) on free
               ports, with a unique project id, bucket prefix and collection prefix
               (started once, by `stack_session`). For each test that requests it, its
               variables (emulator hosts, project, prefixes) are set in os.environ, so the
               real Google clients built in the test talk to it; they are removed after the
               test. Unit tests never request it and never pay for it.
`probe_stack`  a second session stack serving tests/support/probe_functions.py with
               tests/support/probe_topology.yaml (short backoffs): the bridge's tests.
               It does not touch os.environ; its `clients()` builds clients bound to it.
`chaos`        sets the bridge's chaos for one test and switches it off afterwards.

Mark tests that use a stack with @pytest.mark.emulators.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local.environment import temporary_environment
from infra.local.prereqs import MissingPrerequisitesError
from infra.local.stack import LocalStack

SUPPORT = Path(__file__).parent / "support"
PROBE_SOURCE = SUPPORT / "probe_functions.py"
PROBE_TOPOLOGY = SUPPORT / "probe_topology.yaml"


def unique_names(kind: str) -> dict[str, str]:
    token = uuid.uuid4().hex[:8]
    return {
        "project_id": f"{kind}-{token}",
        "bucket_prefix": f"{kind}-{token}",
        "collection_prefix": f"{kind}_{token}_",
    }


def _start(stack: LocalStack) -> LocalStack:
    try:
        return stack.start()
    except MissingPrerequisitesError as missing:
        pytest.fail(f"the local stack cannot start:\n{missing}", pytrace=False)


@pytest.fixture(scope="session")
def stack_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The session's stack itself; tests request `stack`, which also sets the env."""
    names = unique_names("test")
    local = LocalStack(
        ports="free",
        project_id=names["project_id"],
        bucket_prefix=names["bucket_prefix"],
        collection_prefix=names["collection_prefix"],
        state_dir=tmp_path_factory.mktemp("stack"),
    )
    _start(local)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def stack(stack_session: LocalStack, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    # Set for this test only: left in os.environ for the session, SALUDTECH_COLLECTION_PREFIX
    # and the emulator hosts would leak into every later test, unit tests included.
    for key, value in stack_session.env.items():
        monkeypatch.setenv(key, value)
    return stack_session


@dataclass
class ProbeStack:
    """A stack serving the probe functions, and helpers to observe what they received."""

    stack: LocalStack
    records_dir: Path

    @property
    def project_id(self) -> str:
        return self.stack.project_id

    def clients(self) -> tuple[Any, Any, Any]:
        """(publisher, subscriber, storage client) bound to this stack's emulators."""
        from google.cloud import pubsub_v1, storage  # type: ignore[attr-defined]

        # The clients read the emulator variables once, when built.
        with temporary_environment(self.stack.env):
            return (
                pubsub_v1.PublisherClient(),
                pubsub_v1.SubscriberClient(),
                storage.Client(project=self.project_id),
            )

    def records(self, target: str, case: str | None = None) -> list[dict[str, Any]]:
        """Every delivery attempt the probe `target` saw, optionally of one test case."""
        path = self.records_dir / f"{target}.jsonl"
        if not path.exists():
            return []
        lines = [json.loads(line) for line in path.read_text().splitlines() if line]
        if case is None:
            return lines
        return [line for line in lines if _case_of(line) == case]

    def wait_for(
        self,
        target: str,
        case: str,
        count: int,
        timeout: float = 15.0,
        where: Callable[[dict[str, Any]], bool] = lambda record: True,
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.records(target, case) if where(r)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stats(self, subscription: str) -> dict[str, Any]:
        answer: dict[str, Any] = requests.get(f"{self.stack.bridge_url}/stats", timeout=5).json()
        return dict(answer[subscription])


def _case_of(record: dict[str, Any]) -> str | None:
    data = record.get("data")
    if isinstance(data, dict):
        message = data.get("message")
        if isinstance(message, dict):
            return (message.get("attributes") or {}).get("case")
        return data.get("name")  # a GCS object: tests use a unique object name
    return None


@pytest.fixture(scope="session")
def probe_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeStack]:
    records = tmp_path_factory.mktemp("probe-records")
    names = unique_names("probe")
    local = LocalStack(
        ports="free",
        project_id=names["project_id"],
        bucket_prefix=names["bucket_prefix"],
        collection_prefix=names["collection_prefix"],
        source=PROBE_SOURCE,
        topology=PROBE_TOPOLOGY,
        state_dir=tmp_path_factory.mktemp("probe-stack"),
        extra_env={"SALUDTECH_PROBE_DIR": str(records)},
    )
    _start(local)
    try:
        yield ProbeStack(stack=local, records_dir=records)
    finally:
        local.stop()


class ChaosSwitch:
    """Sets chaos on a stack's bridge; everything it touched is reset after the test."""

    def __init__(self) -> None:
        self._touched: set[str] = set()

    def set(self, stack: LocalStack, **settings: Any) -> dict[str, Any]:
        self._touched.add(stack.bridge_url)
        response = requests.post(f"{stack.bridge_url}/chaos", json=settings, timeout=5)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def reset(self) -> None:
        off = {"duplicate_rate": 0.0, "reorder_window": 0, "delay_max_seconds": 0.0,
               "subscriptions": None}  # fmt: skip
        for url in self._touched:
            requests.post(f"{url}/chaos", json=off, timeout=5).raise_for_status()


@pytest.fixture
def chaos() -> Iterator[ChaosSwitch]:
    switch = ChaosSwitch()
    try:
        yield switch
    finally:
        switch.reset()
