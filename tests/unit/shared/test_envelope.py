import base64
import json

import pytest

from functions.subscriptions.messages import ChangePlan, SubscriptionCreated
from shared.domain.errors import InvalidMessage
from shared.ports.envelope import Envelope, derived_id, from_eventarc

SOURCE = "/saludtech/test"


def change() -> ChangePlan:
    return ChangePlan(subscription_id="s-1", plan="PRO")


def test_pubsub_binary_binding_round_trip() -> None:
    envelope = Envelope(payload=change(), source=SOURCE, correlation_id="corr")
    data, attributes = envelope.to_pubsub()
    assert attributes["ce-type"] == "co.saludtech.subscriptions.subscription.change_plan.v1"
    assert attributes["ce-subject"] == "s-1" and attributes["ce-specversion"] == "1.0"
    assert attributes["content-type"] == "application/json"
    assert json.loads(data) == {"subscription_id": "s-1", "plan": "PRO"}
    assert Envelope.from_pubsub(data, attributes) == envelope


def test_structured_json_round_trip() -> None:
    envelope = Envelope(payload=change(), source=SOURCE)
    assert Envelope.from_json(envelope.to_json()) == envelope


def test_a_first_message_correlates_with_itself_and_caused_ones_inherit() -> None:
    command = Envelope(payload=change(), source=SOURCE)
    assert command.correlation_id == command.id
    event = command.caused(change(), SOURCE, 0)
    assert (event.correlation_id, event.causation_id) == (command.id, command.id)
    assert (
        event.id == command.caused(change(), SOURCE, 0).id != command.caused(change(), SOURCE, 1).id
    )


def test_derived_ids_are_stable_uuids() -> None:
    assert derived_id("a", "b") == derived_id("a", "b") != derived_id("a", "c")


def test_readers_ignore_fields_a_newer_producer_added() -> None:
    data, attributes = Envelope(payload=change(), source=SOURCE).to_pubsub()
    newer = json.dumps({**json.loads(data), "priority": "high"}).encode()
    assert Envelope.from_pubsub(newer, attributes).payload == change()


def test_schema_errors_name_fields_not_values() -> None:
    _, attributes = Envelope(payload=change(), source=SOURCE).to_pubsub()
    attributes["ce-type"] = SubscriptionCreated.TYPE
    with pytest.raises(InvalidMessage) as caught:
        Envelope.from_pubsub(b'{"client_email": "secret@x.org"}', attributes)
    assert caught.value.reason == "schema_violation"
    assert "secret@x.org" not in str(caught.value) and "plan: missing" in caught.value.detail


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"ce-id": "1", "ce-type": "t", "ce-source": "s"}, "missing_attribute"),
        (
            {"ce-id": "1", "ce-type": "t", "ce-source": "s", "ce-specversion": "0.3"},
            "unsupported_specversion",
        ),
        (
            {
                "ce-id": "1",
                "ce-type": "co.saludtech.x.y.z.v1",
                "ce-source": "s",
                "ce-specversion": "1.0",
            },
            "unknown_message_type",
        ),
    ],
)
def test_bad_attributes(attributes: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        Envelope.from_pubsub(b"{}", attributes)
    assert caught.value.reason == reason


def test_eventarc_unwrapping() -> None:
    envelope = Envelope(payload=change(), source=SOURCE)
    data, attributes = envelope.to_pubsub()
    body = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": attributes,
            "messageId": "9",
        }
    }
    assert from_eventarc("google.cloud.pubsub.topic.v1.messagePublished", body) == envelope
    with pytest.raises(InvalidMessage, match="unexpected_trigger"):
        from_eventarc("google.cloud.storage.object.v1.finalized", body)
    with pytest.raises(InvalidMessage, match="malformed_data"):
        from_eventarc("google.cloud.pubsub.topic.v1.messagePublished", {"message": {"data": "%%%"}})
