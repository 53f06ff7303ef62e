"""End-to-end helpers: drive the stack over HTTP and watch what lands on the topics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from shared.config import Settings
from shared.domain.errors import InvalidMessage
from shared.ports.envelope import Envelope
from shared.service.sealed_messages import MessageSealer

# The stack's functions run with the development settings, as this process does: the same
# field key seals and opens the personal fields of messages on the topics (a test reads and
# publishes them as a function of the stack would).
STACK_SEALER = MessageSealer.from_settings(Settings())


class TopicWatcher:
    """A pull subscription made before the test acts, so it sees everything published after."""

    def __init__(self, project: str, topic: str) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        self._subscriber = pubsub_v1.SubscriberClient()
        self.path = self._subscriber.subscription_path(
            project, f"watch-{topic}-{uuid.uuid4().hex[:8]}"
        )
        self._subscriber.create_subscription(
            name=self.path, topic=f"projects/{project}/topics/{topic}", ack_deadline_seconds=60
        )
        self.raw: list[tuple[bytes, dict[str, str]]] = []

    def pull(self) -> None:
        response = self._subscriber.pull(subscription=self.path, max_messages=500, timeout=10)
        for received in response.received_messages:
            self.raw.append((received.message.data, dict(received.message.attributes)))
        if response.received_messages:
            self._subscriber.acknowledge(
                subscription=self.path, ack_ids=[m.ack_id for m in response.received_messages]
            )

    def envelopes(self) -> list[Envelope]:
        """The readable messages (a dead-letter topic also holds unreadable ones)."""
        readable = []
        for data, attributes in self.raw:
            try:
                readable.append(Envelope.from_pubsub(data, attributes, STACK_SEALER))
            except InvalidMessage:
                continue
        return readable

    def wait_for(
        self, done: Callable[[list[Envelope]], bool], timeout: float = 60
    ) -> list[Envelope]:
        deadline = time.monotonic() + timeout
        while True:
            self.pull()
            found = self.envelopes()
            if done(found) or time.monotonic() > deadline:
                return found

    def close(self) -> None:
        self._subscriber.delete_subscription(subscription=self.path)


@pytest.fixture
def watch(stack: Any) -> Iterator[Callable[[str], TopicWatcher]]:
    made: list[TopicWatcher] = []

    def make(topic: str) -> TopicWatcher:
        made.append(TopicWatcher(stack.project_id, topic))
        return made[-1]

    yield make
    for watcher in made:
        watcher.close()


@pytest.fixture
def http(stack: Any) -> Iterator[requests.Session]:
    session = requests.Session()
    yield session
    session.close()


def wait_for_outcome(
    http: requests.Session, base: str, command_id: str, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = http.get(
            f"{base}/subscriptions_queries_http/commands/{command_id}", timeout=10
        ).json()
        if status.get("status") != "pending" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def originals_left(client: Any, bucket: str, prefix: str, timeout: float = 15) -> list[Any]:
    """The objects still under `prefix` once the pipeline has had `timeout` seconds to delete
    them: an original is deleted after its events are published, so an event seen does not
    mean the delete has happened yet."""
    deadline = time.monotonic() + timeout
    while True:
        left = list(client.list_blobs(bucket, prefix=prefix))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def expert_with_room(functions_url: str, capacity: int = 50) -> str:
    """An expert of every sample speciality with room to spare, registered for one test (and
    the least loaded, so the PRO saga's assignment picks it): the sample experts' few places
    are taken by the other tests of the session's stack."""
    from infra.samples.experts import SAMPLE_EXPERTS

    code = f"EXP-T-{uuid.uuid4().hex[:8]}"
    specialities = sorted({s for e in SAMPLE_EXPERTS for s in e["specialities"]})
    answer = requests.post(
        f"{functions_url}/data_services_commands_http/experts",
        json={**SAMPLE_EXPERTS[0], "expert_code": code, "username": code.lower(),
              "email": f"{code.lower()}@example.com", "specialities": specialities,
              "capacity": capacity},
        timeout=30,
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    status_url = f"{functions_url}{answer.json()['links']['command']}"
    deadline = time.monotonic() + 60
    while requests.get(status_url, timeout=30).json().get("status") == "pending":
        assert time.monotonic() < deadline, "the expert was not registered in time"
        time.sleep(0.2)
    return code
