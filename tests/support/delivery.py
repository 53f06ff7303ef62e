"""Play Pub/Sub + Eventarc in unit tests: hand a published message to every function of
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


def functions_for(topic: str, attributes: dict[str, str]) -> list[Callable[[Any], None]]:
    """Every function a message on `topic` with these attributes is pushed to: Pub/Sub
    gives each trigger subscription its own copy, so contexts may consume the same event."""
    return [
        getattr(main, t.target)
        for t in _triggers()
        if t.topic == topic
        and (t.policy.attribute_filter is None or t.policy.attribute_filter.matches(attributes))
    ]


def function_for(topic: str, attributes: dict[str, str]) -> Callable[[Any], None]:
    """The one function a message on `topic` with these attributes is pushed to."""
    matches = functions_for(topic, attributes)
    assert len(matches) == 1, f"{len(matches)} functions take {attributes.get('ce-type')}"
    return matches[0]


def deliver(topic: str, envelope: Envelope, message_id: str | None = None) -> None:
    data, attributes = envelope.to_pubsub()
    deliver_raw(topic, data, attributes, message_id or envelope.id)


def deliver_raw(topic: str, data: bytes, attributes: dict[str, str], message_id: str) -> None:
    functions = functions_for(topic, attributes)
    assert functions, f"no function takes {attributes.get('ce-type')} on {topic}"
    for function in functions:
        function(pubsub_event(data, attributes, message_id))
