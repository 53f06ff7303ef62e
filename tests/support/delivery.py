"""Play Pub/Sub + Eventarc in unit tests: hand a published message to every function of
main.py whose trigger subscription (infra/topology.yaml) takes it, filter included."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import main
from functions import bootstrap
from infra.local.topology import TriggerSubscription, load_topology
from shared.ports.envelope import Envelope
from shared.service.sealed_messages import MessageSealer
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


def installed_sealer() -> MessageSealer:
    """The sealer of the platform the test installed (bootstrap.use), which every context
    shares: what its publisher seals personal fields with, and its functions open them with."""
    return bootstrap.platform("any").sealer


def deliver(topic: str, envelope: Envelope, message_id: str | None = None) -> None:
    data, attributes = envelope.to_pubsub(installed_sealer())
    deliver_raw(topic, data, attributes, message_id or envelope.id)


def deliver_raw(topic: str, data: bytes, attributes: dict[str, str], message_id: str) -> None:
    functions = functions_for(topic, attributes)
    assert functions, f"no function takes {attributes.get('ce-type')} on {topic}"
    for function in functions:
        function(pubsub_event(data, attributes, message_id))
