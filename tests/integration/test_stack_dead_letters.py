"""`dlq list` shows the recorded dead letters without their data; `dlq redrive` republishes."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.local.cli import app
from infra.local.dead_letters import collection_name
from infra.local.environment import temporary_environment
from shared.service.context import database_of
from tests.conftest import ProbeStack

pytestmark = pytest.mark.emulators

PHI = "DOE^JANE 1970-01-01"


@pytest.fixture
def described(probe_stack: ProbeStack) -> Iterator[ProbeStack]:
    """The probe stack with its stack.json, which the CLI reads."""
    probe_stack.stack.write_state()
    yield probe_stack


def _collection(probe: ProbeStack) -> Any:
    from google.cloud import firestore

    stack = probe.stack
    with temporary_environment(stack.env):
        # Any context's database: the desk reads them all (ingestion's, here).
        client = firestore.Client(project=stack.project_id, database=database_of("ingestion"))
    return client.collection(collection_name(stack.collection_prefix))


def _dead_letter(case: str, source_subscription: str | None) -> dict[str, Any]:
    """A record as the dead-letter function writes it (shared/service/dead_letters.py)."""
    dead_letter_id = f"dl-{uuid.uuid4().hex}"
    attributes = {
        "case": case,
        "ce-id": f"cmd-{case}",
        "ce-type": "co.saludtech.test.thing.create.v1",
        "CloudPubSubDeadLetterSourceSubscription": source_subscription or "",
        "CloudPubSubDeadLetterSourceDeliveryCount": "4",
    }
    return {
        "dead_letter_id": dead_letter_id,
        "context": "probe",
        "dead_letter_topic": "probe-dead-letter",
        "source_subscription": source_subscription,
        "delivery_attempts": 4,
        "message_id": "1234",
        "ce_id": f"cmd-{case}",
        "ce_type": "co.saludtech.test.thing.create.v1",
        "reason": "delivery_attempts_exhausted",
        "data_b64": base64.b64encode(json.dumps({"patient": PHI}).encode()).decode(),
        "attributes": attributes,
        "recorded_at": "2026-12-02T10:00:00.000Z",
        "status": "dead",
        "redriven_at": None,
        "redrive_count": 0,
    }


def _cli(probe: ProbeStack, *args: str) -> Any:
    state_dir = str(probe.stack.state_dir)
    # Wide enough that rich never folds an id across lines.
    return CliRunner().invoke(app, ["dlq", *args, "--state-dir", state_dir],
                              env={"COLUMNS": "300"})  # fmt: skip


def test_list_shows_ids_type_reason_attempts_and_status_never_the_data(
    described: ProbeStack,
) -> None:
    record = _dead_letter(uuid.uuid4().hex, "trigger-probe-record")
    _collection(described).document(record["dead_letter_id"]).set(record)
    listed = _cli(described, "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if record["dead_letter_id"] in line)
    for shown in ("co.saludtech.test.thing.create.v1", "delivery_attempts_exhausted",
                  "trigger-probe-record", "dead", "2026-12-02T10:00:00.000Z", " 4 "):  # fmt: skip
        assert shown in row
    assert "DOE" not in listed.output and record["data_b64"] not in listed.output


def test_redrive_republishes_to_the_original_topic_and_marks_it(described: ProbeStack) -> None:
    case = uuid.uuid4().hex
    record = _dead_letter(case, "trigger-probe-record")
    document = _collection(described).document(record["dead_letter_id"])
    document.set(record)

    redriven = _cli(described, "redrive", record["dead_letter_id"])
    assert redriven.exit_code == 0, redriven.output
    assert "→ probe-in" in redriven.output
    delivered = described.wait_for("probe_record", case, 1)
    assert len(delivered) == 1
    message = delivered[0]["data"]["message"]
    assert base64.b64decode(message["data"]) == base64.b64decode(record["data_b64"])
    assert message["attributes"] == {
        "case": case,
        "ce-id": f"cmd-{case}",
        "ce-type": "co.saludtech.test.thing.create.v1",
    }
    stored = document.get().to_dict()
    assert stored["status"] == "redriven" and stored["redrive_count"] == 1
    assert stored["redriven_at"] and stored["redriven_at"] > record["recorded_at"]


def test_redrive_all_takes_only_dead_ones_and_topic_overrides(described: ProbeStack) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    collection = _collection(described)
    for existing in collection.where(filter=FieldFilter("status", "==", "dead")).stream():
        existing.reference.update({"status": "redriven"})  # earlier tests' records
    case = uuid.uuid4().hex
    orphan = _dead_letter(case, None)  # no source subscription: only --topic can place it
    done = _dead_letter(case, "trigger-probe-record") | {"status": "redriven"}
    for record in (orphan, done):
        collection.document(record["dead_letter_id"]).set(record)

    refused = _cli(described, "redrive", "--all")
    assert refused.exit_code == 1
    assert "--topic" in refused.output
    assert collection.document(orphan["dead_letter_id"]).get().to_dict()["status"] == "dead"

    redriven = _cli(described, "redrive", "--all", "--topic", "probe-in")
    assert redriven.exit_code == 0, redriven.output
    assert "1 redriven, 0 failed" in redriven.output
    assert len(described.wait_for("probe_record", case, 1)) == 1
    assert collection.document(orphan["dead_letter_id"]).get().to_dict()["redrive_count"] == 1
    assert collection.document(done["dead_letter_id"]).get().to_dict()["redrive_count"] == 0
