"""Payload fields sent as CloudEvents extension attributes (Message.ATTRIBUTES), so that a
trigger's subscription filter leaves out what its function would only drop."""

from __future__ import annotations

from typing import Any

import pytest

from functions.subscriptions.messages import SubscriptionCreated
from infra.local.topology import load_topology
from shared.domain.messages import Event
from shared.ports.envelope import Envelope
from shared.service.field_crypto import FieldCipher
from shared.service.sealed_messages import MessageSealer
from tests.unit.data_services.factories import subscription_created

SEALER = MessageSealer(FieldCipher(bytes(range(32))))


def _attributes(plan: str) -> dict[str, str]:
    event = subscription_created().model_copy(update={"plan": plan})
    _, attributes = Envelope(payload=event, source="/s").to_pubsub(SEALER)
    return attributes


def _sagas_filter() -> Any:
    [trigger] = [
        t
        for t in load_topology().trigger_subscriptions()
        if t.function == "sagas-on-subscription-created"
    ]
    return trigger.policy.attribute_filter


def test_a_subscription_created_carries_its_plan_as_an_attribute() -> None:
    assert _attributes("PRO")["ce-plan"] == "PRO"
    assert _attributes("BASIC")["ce-plan"] == "BASIC"


def test_the_sagas_trigger_leaves_basic_out_and_lets_the_rest_and_older_events_in() -> None:
    sagas = _sagas_filter()
    assert sagas is not None
    assert not sagas.matches(_attributes("BASIC"))
    assert sagas.matches(_attributes("PRO"))
    assert sagas.matches(_attributes("ENTERPRISE"))
    legacy = {k: v for k, v in _attributes("PRO").items() if k != "ce-plan"}
    assert sagas.matches(legacy)  # published before the attribute existed


@pytest.mark.parametrize("name", ["client_email", "type", "Plan", "missing"])
def test_an_attribute_is_a_plain_non_personal_field_of_its_own(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be an attribute"):

        class _Bad(Event):
            TYPE = "co.saludtech.tests.thing.happened.v9"
            PERSONAL = ("client_email",)
            ATTRIBUTES = (name,)

            client_email: str
            plan: str
            type_: str = ""


def test_attributes_are_declared_on_the_event_that_routes_by_them() -> None:
    assert SubscriptionCreated.ATTRIBUTES == ("plan",)
