"""An assigned expert is emailed at the address the expert registry (data services) keeps,
asked of the registry's contacts door: once per assignment, a duplicate event sends
nothing; channels set by command still win; an unknown expert gets no email."""

from __future__ import annotations

from typing import Any

from functions.bootstrap import InMemoryPlatform
from functions.data_services.messages import NAMES as DATA_SERVICES
from functions.data_services.messages import ExpertAssigned, RegisterExpert
from functions.notifications.messages import NAMES, ChannelPreference, SetRecipientChannels
from infra.local.mail import MailSink
from shared.ports.envelope import Envelope
from tests.support.delivery import deliver as deliver_anywhere
from tests.unit.notifications.helpers import Bus

DATA_SERVICES_EVENTS = "data-services-events"
SOURCE = "/saludtech/data_services"


def _register(code: str, email: str) -> None:
    command = RegisterExpert(
        expert_code=code, first_names="Ana", last_names="Ruiz", username=f"u-{code}",
        national_id="CC-1234", email=email, specialities=["CHEST"], capacity=2,
    )  # fmt: skip
    deliver_anywhere(DATA_SERVICES.commands_topic, Envelope(payload=command, source="/test"))


def _assigned(code: str, service: str = "ds-1") -> Envelope:
    event = ExpertAssigned(
        data_service_id=service, expert_code=code, speciality="CHEST",
        assigned_at="2026-12-02T12:31:00.000Z",
    )  # fmt: skip
    return Envelope(payload=event, source=SOURCE)


def _told(sink: MailSink) -> list[tuple[str, str]]:
    return sorted((str(m["To"]), str(m["Subject"])) for m in sink.messages)


def test_the_expert_is_emailed_once_per_assignment_at_the_registry_address(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    _register("EXP-9", "ana.ruiz@example.org")
    assigned = _assigned("EXP-9")
    bus.send(DATA_SERVICES_EVENTS, assigned)
    bus.send(DATA_SERVICES_EVENTS, assigned)  # a duplicate: nothing more
    bus.run()
    assert _told(sink) == [("ana.ruiz@example.org", "You are assigned to a data service")]
    # The notification names the recipient by code only.
    for envelope in platform.publisher.messages(NAMES.events_topic):
        assert "ana.ruiz" not in envelope.payload.model_dump_json()
    bus.send(DATA_SERVICES_EVENTS, _assigned("EXP-9", "ds-2"))  # another assignment
    bus.run()
    assert len(sink.messages) == 2


def test_channels_set_by_command_win_and_an_unknown_expert_gets_no_email(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    _register("EXP-9", "ana.ruiz@example.org")
    chosen = SetRecipientChannels(
        recipient_id="expert-EXP-9",
        channels=[ChannelPreference(channel="email", address="chosen@example.org")],
    )
    bus.send(NAMES.commands_topic, Envelope(payload=chosen, source="/test"))
    bus.send(DATA_SERVICES_EVENTS, _assigned("EXP-9"))
    bus.send(DATA_SERVICES_EVENTS, _assigned("EXP-404", "ds-3"))
    bus.run()
    assert _told(sink) == [("chosen@example.org", "You are assigned to a data service")]
    failed: list[Any] = [
        e.payload
        for e in platform.publisher.messages(NAMES.events_topic)
        if e.type.endswith("notification.failed.v1")
    ]
    assert [f.recipient_id for f in failed] == ["expert-EXP-404"]
