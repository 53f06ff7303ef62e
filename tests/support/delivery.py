"""Play Pub/Sub + Eventarc in unit tests: hand a published message to the one function of
main.py whose trigger subscription (infra/topology.yaml) takes it, filter included."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import main
from infra.local.topology import TriggerSubscription, load_topology
from shared.ports.envelope import Envelope
from tests.support.cloud_events import pubsub_event


@cache
def _triggers() -> tuple[TriggerSubscription, ...]:
    return tuple(t for t in load_topology().trigger_subscriptions() if t.kind == "pubsub")


def function_for(topic: str, attributes: dict[str, str]) -> Callable[[Any], None]:
    """The one function a message on `topic` with these attributes is pushed to."""
    matches = [
        t
        for t in _triggers()
        if t.topic == topic
        and (t.policy.attribute_filter is None or t.policy.attribute_filter.matches(attributes))
    ]
    assert len(matches) == 1, f"{len(matches)} functions take {attributes.get('ce-type')}"
    function: Callable[[Any], None] = getattr(main, matches[0].target)
    return function


def deliver(topic: str, envelope: Envelope, message_id: str | None = None) -> None:
    data, attributes = envelope.to_pubsub()
    function_for(topic, attributes)(pubsub_event(data, attributes, message_id or envelope.id))


def deliver_raw(topic: str, data: bytes, attributes: dict[str, str], message_id: str) -> None:
    function_for(topic, attributes)(pubsub_event(data, attributes, message_id))
