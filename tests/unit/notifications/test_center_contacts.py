"""A center is emailed at its account's address (identity), its default channel: a summary
per package (StudyIngested) and each quarantine as it happens (ImageRejected). Channels set
by command still win; a center without an account still fails `no_channel`."""

from __future__ import annotations

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.identity import wiring as identity_wiring
from functions.identity.domain import NewAccount
from functions.identity.messages import Role
from functions.ingestion.messages import ImageRejected, StudyIngested
from functions.notifications.messages import NAMES, ChannelPreference, SetRecipientChannels
from infra.local.mail import MailSink
from shared.ports.envelope import Envelope
from tests.unit.notifications.helpers import INGESTION_EVENTS, Bus

SOURCE = "/saludtech/ingestion"


def _account(center: str, email: str, username: str = "") -> None:
    accounts = bootstrap.context(identity_wiring.build).accounts
    accounts.register(
        NewAccount(username or f"u-{center}", "correct horse battery staple", Role.CENTER,
                   center, email, "12345678")
    )  # fmt: skip


def _study(center: str = "hospital-1") -> Envelope:
    event = StudyIngested(
        package_id="pkg-1", data_source=center, entry_count=3, anonymized=2, rejected=1,
        study_ids=["1.2.3"], completed_at="2026-12-02T12:00:00.000Z",
    )  # fmt: skip
    return Envelope(payload=event, source=SOURCE)


def _rejected(center: str = "hospital-1") -> Envelope:
    event = ImageRejected(
        rejection_id="rej-1", data_source=center, reason="not_dicom", quarantine_uri="gs://q/x",
        rejected_at="2026-12-02T12:00:00.000Z",
    )  # fmt: skip
    return Envelope(payload=event, source=SOURCE)


def _told(sink: MailSink) -> list[tuple[str, str]]:
    return sorted((str(m["To"]), str(m["Subject"])) for m in sink.messages)


def test_a_center_is_emailed_its_package_summary_and_quarantines_at_its_account_address(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    _account("hospital-1", "pacs@hospital-1.example.org")
    _account("hospital-2", "pacs@hospital-2.example.org")
    study = _study()
    bus.send(INGESTION_EVENTS, study)
    bus.send(INGESTION_EVENTS, study)  # a duplicate: nothing more
    bus.send(INGESTION_EVENTS, _rejected())
    bus.run()
    assert _told(sink) == [
        ("pacs@hospital-1.example.org", "An upload was quarantined"),
        ("pacs@hospital-1.example.org", "Study package pkg-1 ingested"),
    ]
    # Events name the recipient by id only; no other center is told anything.
    for envelope in platform.publisher.messages(NAMES.events_topic):
        assert "hospital-1.example" not in envelope.payload.model_dump_json()
    assert all("hospital-2" not in str(m["To"]) for m in sink.messages)


def test_channels_set_by_command_win_and_a_center_without_account_fails_no_channel(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    _account("hospital-1", "pacs@hospital-1.example.org")
    chosen = SetRecipientChannels(
        recipient_id="center-hospital-1",
        channels=[ChannelPreference(channel="email", address="radiology@hospital-1.example.org")],
    )
    bus.send(NAMES.commands_topic, Envelope(payload=chosen, source="/test"))
    bus.send(INGESTION_EVENTS, _study())
    bus.send(INGESTION_EVENTS, _study("hospital-9"))
    bus.run()
    assert _told(sink) == [("radiology@hospital-1.example.org", "Study package pkg-1 ingested")]
    rows = [d for _, d in platform.store.query("notifications_view").items]
    failed = [(r["recipient_id"], r["last_reason"]) for r in rows if r["status"] == "failed"]
    assert failed == [("center-hospital-9", "no_channel")]
