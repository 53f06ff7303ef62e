"""Creates the topology in the emulators: topics, subscriptions, buckets.

The Pub/Sub emulator and fake-gcs-server keep everything in memory, so this runs at every
start. It speaks the emulators' REST APIs with plain HTTP: no gRPC client to import, which
keeps the CLI's start fast. Creating something that exists is not an error (409).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from infra.local.topology import Topology, tap_subscription_name

CONFLICT = 409


class TopologySetupError(RuntimeError):
    """An emulator refused part of the topology."""


@dataclass(frozen=True)
class CreatedTopology:
    topics: list[str]
    subscriptions: list[str]
    buckets: list[str]


def _check(response: requests.Response, what: str) -> None:
    if response.status_code != CONFLICT and not response.ok:
        raise TopologySetupError(f"creating {what}: HTTP {response.status_code} {response.text}")


def create_pubsub_topology(
    topology: Topology, pubsub_host: str, project: str
) -> tuple[list[str], list[str]]:
    base = f"http://{pubsub_host}/v1/projects/{project}"
    with requests.Session() as http:
        for topic in topology.topics:
            _check(http.put(f"{base}/topics/{topic}", json={}, timeout=30), f"topic {topic}")
        subscriptions: dict[str, dict[str, object]] = {}
        for trigger in topology.trigger_subscriptions():
            # A pull subscription: the bridge does the retrying, dead-lettering and
            # filtering itself (the emulator's versions do not behave like Pub/Sub's).
            subscriptions[trigger.name] = {
                "topic": f"projects/{project}/topics/{trigger.topic}",
                "ackDeadlineSeconds": trigger.policy.ack_deadline_seconds,
            }
        for held in topology.pull_subscriptions:
            subscriptions[held.name] = {
                "topic": f"projects/{project}/topics/{held.topic}",
                "ackDeadlineSeconds": 60,
            }
        for topic in topology.event_topics():
            subscriptions[tap_subscription_name(topic)] = {
                "topic": f"projects/{project}/topics/{topic}",
                "ackDeadlineSeconds": 10,
            }

        def create(item: tuple[str, dict[str, object]]) -> None:
            name, body = item
            _check(http.put(f"{base}/subscriptions/{name}", json=body, timeout=30), name)

        # The emulator answers each call in a few ms; a few threads hide the round trips.
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, subscriptions.items()))
    return list(topology.topics), list(subscriptions)


def bucket_resource(name: str, lifecycle_days: int | None) -> dict[str, object]:
    resource: dict[str, object] = {"name": name}
    if lifecycle_days is not None:
        resource["lifecycle"] = {
            "rule": [{"action": {"type": "Delete"}, "condition": {"age": lifecycle_days}}]
        }
    return resource


def create_buckets(topology: Topology, gcs_url: str, project: str, prefix: str) -> list[str]:
    names: list[str] = []
    with requests.Session() as http:
        for logical, bucket in topology.buckets.items():
            name = f"{prefix}-{logical}"
            response = http.post(
                f"{gcs_url}/storage/v1/b",
                params={"project": project},
                json=bucket_resource(name, bucket.lifecycle_delete_after_days),
                timeout=30,
            )
            _check(response, f"bucket {name}")
            names.append(name)
    return names
