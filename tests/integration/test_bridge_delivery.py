"""The bridge delivers like Eventarc: event shape, filters, retries, dead letters, GCS."""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ProbeStack

pytestmark = pytest.mark.emulators


@pytest.fixture(scope="module")
def clients(probe_stack: ProbeStack) -> tuple[Any, Any, Any]:
    return probe_stack.clients()


def publish(probe_stack: ProbeStack, publisher: Any, topic: str, data: bytes, **attrs: str) -> str:
    path = publisher.topic_path(probe_stack.project_id, topic)
    return str(publisher.publish(path, data, **attrs).result(timeout=10))


@pytest.fixture
def dead_letters(probe_stack: ProbeStack, clients: tuple[Any, Any, Any]) -> Iterator[str]:
    """A fresh subscription on the dead-letter topic, so a test sees only what follows."""
    _, subscriber, _ = clients
    name = subscriber.subscription_path(probe_stack.project_id, f"dlq-{uuid.uuid4().hex[:8]}")
    topic = subscriber.topic_path(probe_stack.project_id, "probe-dead-letter")
    subscriber.create_subscription(name=name, topic=topic)
    yield name
    subscriber.delete_subscription(subscription=name)


def pull_dead_letters(subscriber: Any, subscription: str, case: str, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while time.monotonic() < deadline and not found:
        answer = subscriber.pull(subscription=subscription, max_messages=50, timeout=2)
        if answer.received_messages:
            subscriber.acknowledge(
                subscription=subscription,
                ack_ids=[m.ack_id for m in answer.received_messages],
            )
        found += [
            m.message for m in answer.received_messages if m.message.attributes.get("case") == case
        ]
    return found


def test_published_message_arrives_as_eventarc_message_published_event(
    probe_stack: ProbeStack, clients: tuple[Any, Any, Any]
) -> None:
    publisher, _, _ = clients
    case = uuid.uuid4().hex
    payload = json.dumps({"hello": "world"}).encode()
    message_id = publish(probe_stack, publisher, "probe-in", payload, case=case, kind="other")

    [record] = probe_stack.wait_for("probe_record", case, 1)
    context, data = record["attributes"], record["data"]
    project = probe_stack.project_id
    assert context["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert context["source"] == f"//pubsub.googleapis.com/projects/{project}/topics/probe-in"
    assert context["id"] == message_id
    assert context["specversion"] == "1.0"
    assert context["time"].endswith("Z")
    message = data["message"]
    assert base64.b64decode(message["data"]) == payload
    assert message["attributes"] == {"case": case, "kind": "other"}
    assert message["messageId"] == message["message_id"] == message_id
    assert message["publishTime"] == message["publish_time"] == context["time"]
    assert data["subscription"] == f"projects/{project}/subscriptions/trigger-probe-record"


def test_subscription_filter_delivers_only_matching_messages(
    probe_stack: ProbeStack, clients: tuple[Any, Any, Any]
) -> None:
    publisher, _, _ = clients
    wanted, unwanted = uuid.uuid4().hex, uuid.uuid4().hex
    publish(probe_stack, publisher, "probe-in", b"{}", case=unwanted, kind="other")
    publish(probe_stack, publisher, "probe-in", b"{}", case=wanted, kind="wanted")

    assert len(probe_stack.wait_for("probe_filtered", wanted, 1)) == 1
    # Both reached the unfiltered subscription, so the unwanted one was pulled by now too.
    assert len(probe_stack.wait_for("probe_record", unwanted, 1)) == 1
    time.sleep(0.3)
    assert probe_stack.records("probe_filtered", unwanted) == []
    assert probe_stack.stats("trigger-probe-filtered")["filtered"] >= 1


def test_failing_delivery_is_retried_with_exponential_backoff(
    probe_stack: ProbeStack, clients: tuple[Any, Any, Any]
) -> None:
    publisher, _, _ = clients
    case = uuid.uuid4().hex
    publish(probe_stack, publisher, "probe-in", b"{}", case=case, probe_behaviour="fail-first-2")

    attempts = probe_stack.wait_for("probe_record", case, 3)
    assert [a["outcome"] for a in attempts] == ["failed", "failed", "ok"]
    assert len({a["attributes"]["id"] for a in attempts}) == 1  # the same event each time
    gaps = [b["received_at"] - a["received_at"] for a, b in itertools.pairwise(attempts)]
    # min_backoff 0.1 s, doubling: about 0.1 s then 0.2 s.
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19, gaps
    assert gaps[1] > gaps[0]
    time.sleep(0.5)
    assert len(probe_stack.records("probe_record", case)) == 3  # acked: no more deliveries


def test_poison_message_is_dead_lettered_after_max_attempts_and_never_again(
    probe_stack: ProbeStack, clients: tuple[Any, Any, Any], dead_letters: str
) -> None:
    publisher, subscriber, _ = clients
    case = uuid.uuid4().hex
    before = probe_stack.stats("trigger-probe-record")["dead_lettered"]
    publish(probe_stack, publisher, "probe-in", b'{"poison": 1}', case=case, probe_behaviour="fail")

    [dead] = pull_dead_letters(subscriber, dead_letters, case, timeout=15)
    assert dead.data == b'{"poison": 1}'
    assert dead.attributes["probe_behaviour"] == "fail"
    assert dead.attributes["CloudPubSubDeadLetterSourceSubscription"] == "trigger-probe-record"
    assert dead.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "4"
    assert [a["outcome"] for a in probe_stack.records("probe_record", case)] == ["failed"] * 4
    time.sleep(1.0)  # longer than the whole backoff schedule: nothing may come back
    assert len(probe_stack.records("probe_record", case)) == 4
    assert probe_stack.stats("trigger-probe-record")["dead_lettered"] == before + 1


def test_unreachable_target_is_dead_lettered(
    probe_stack: ProbeStack, clients: tuple[Any, Any, Any], dead_letters: str
) -> None:
    publisher, subscriber, _ = clients
    case = uuid.uuid4().hex
    publish(probe_stack, publisher, "probe-missing-in", b"{}", case=case)

    [dead] = pull_dead_letters(subscriber, dead_letters, case, timeout=15)
    assert dead.attributes["CloudPubSubDeadLetterSourceSubscription"] == "trigger-probe-missing"
    assert dead.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "2"


def test_upload_produces_storage_finalized_event(
    probe_stack: ProbeStack, clients: tuple[Any, Any, Any]
) -> None:
    _, _, storage_client = clients
    stack = probe_stack.stack
    name = f"center-7/{uuid.uuid4().hex}.dcm"
    blob = storage_client.bucket(stack.bucket("drop")).blob(name)
    blob.metadata = {"pathology": "none"}
    blob.upload_from_string(b"DICM-ish", content_type="application/dicom")
    # An upload to a bucket without a trigger must not reach the function.
    storage_client.bucket(stack.bucket("other")).blob(name).upload_from_string(b"x")

    [record] = probe_stack.wait_for("probe_gcs", name, 1)
    context, data = record["attributes"], record["data"]
    assert context["type"] == "google.cloud.storage.object.v1.finalized"
    assert (
        context["source"] == f"//storage.googleapis.com/projects/_/buckets/{stack.bucket('drop')}"
    )
    assert context["subject"] == f"objects/{name}"
    assert data["bucket"] == stack.bucket("drop")
    assert data["name"] == name
    assert data["contentType"] == "application/dicom"
    assert data["size"] == "8"
    time.sleep(0.3)
    assert len(probe_stack.records("probe_gcs", name)) == 1
