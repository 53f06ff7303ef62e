"""A PRO subscription's data service: the client hears of its creation and delivery (the
delivery names only the data service: its client is remembered from the creation), and the
assigned expert, registered with a channel by command, hears of the assignment."""

from __future__ import annotations

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.data_services.messages import (
    DataServiceCreated,
    DataServiceDelivered,
    ExpertAssigned,
)
from functions.notifications.handlers import RecipientNotYetKnown
from functions.notifications.messages import NAMES, ChannelPreference, SetRecipientChannels
from infra.local.mail import MailSink
from shared.ports.envelope import Envelope
from tests.unit.notifications.helpers import CLIENT_EMAIL, SUBSCRIPTIONS_EVENTS, Bus, created

DATA_SERVICES_EVENTS = "data-services-events"
SOURCE = "/saludtech/data_services"


def test_the_client_and_the_expert_are_told_and_a_delivery_waits_for_its_creation(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    bus.send(SUBSCRIPTIONS_EVENTS, Envelope(payload=created(), source="/saludtech/subscriptions"))
    register = SetRecipientChannels(
        recipient_id="expert-E7",
        channels=[ChannelPreference(channel="email", address="expert7@example.com")],
    )
    bus.send(NAMES.commands_topic, Envelope(payload=register, source="/test"))
    delivered = Envelope(
        payload=DataServiceDelivered(
            data_service_id="ds-1", manifest_id="m-1", delivery_mode="signed_urls", objects=12,
            bytes=1000, manifest_uri="gs://x/m.json", checksums_uri="gs://x/c.txt",
            links_expire_at="2026-12-09T12:00:00.000Z", delivered_at="2026-12-02T13:00:00.000Z",
        ),
        source=SOURCE,
    )  # fmt: skip
    with pytest.raises(RecipientNotYetKnown):
        bus.send(DATA_SERVICES_EVENTS, delivered)
    creation = DataServiceCreated(
        data_service_id="ds-1", subscription_id="sub-1", client_code="0001", plan="PRO",
        cloud_type="gcp", dataset_code="chest-ct", speciality="radiology", status="CREATED",
        created_at="2026-12-02T12:30:00.000Z",
    )  # fmt: skip
    bus.send(DATA_SERVICES_EVENTS, Envelope(payload=creation, source=SOURCE))
    bus.send(DATA_SERVICES_EVENTS, delivered)
    assigned = ExpertAssigned(
        data_service_id="ds-1", expert_code="E7", speciality="radiology",
        assigned_at="2026-12-02T12:31:00.000Z",
    )  # fmt: skip
    bus.send(DATA_SERVICES_EVENTS, Envelope(payload=assigned, source=SOURCE))
    bus.run()
    told = sorted((str(m["To"]), str(m["Subject"])) for m in sink.messages)
    assert told == sorted(
        [
            (CLIENT_EMAIL, "Your PRO subscription is created"),
            (CLIENT_EMAIL, "Your data service is being prepared"),
            (CLIENT_EMAIL, "Your dataset is delivered"),
            ("expert7@example.com", "You are assigned to a data service"),
        ]
    )
