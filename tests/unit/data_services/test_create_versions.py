"""CreateDataService v1 and v2 side by side: v2 names the client by code only, and a v1
command already on the topic when v2 is deployed is still processed, the same way, with
nothing of the client kept but its code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from functions.bootstrap import InMemoryPlatform
from functions.data_services.messages import (
    NAMES,
    CreateDataService,
    CreateDataServiceV2,
    DataServiceCreated,
)
from functions.data_services.queries import get_data_service
from tests.unit.data_services.factories import (
    CLIENT_CODE,
    CLIENT_V1,
    create_command,
    create_command_v1,
    subscription_created,
)
from tests.unit.data_services.flow import send, the_wiring

ROOT = Path(__file__).parents[3]
NAMES_OF_A_PERSON = {"first_names", "last_names", "username"}


def _properties(schema: Any) -> set[str]:
    """Every property name anywhere in a JSON Schema, its $defs included."""
    if isinstance(schema, dict):
        own = (
            set(schema.get("properties", {}))
            if isinstance(schema.get("properties"), dict)
            else set()
        )
        return own.union(*(_properties(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_properties(v) for v in schema))
    return set()


def test_v2_carries_no_names_of_the_client() -> None:
    exported = ROOT / "shared/schemas/v2" / f"{CreateDataServiceV2.TYPE}.json"
    for schema in (CreateDataServiceV2.model_json_schema(), json.loads(exported.read_text())):
        assert "client_code" in schema["required"]
        assert not _properties(schema) & NAMES_OF_A_PERSON
    # The same check finds the names where they are: it would fail if v2 had them.
    assert _properties(CreateDataService.model_json_schema()) >= NAMES_OF_A_PERSON


def test_v1_is_published_side_by_side_and_marked_deprecated() -> None:
    assert CreateDataService.TYPE.endswith(".create.v1")
    assert CreateDataServiceV2.TYPE.endswith(".create.v2")
    exported = ROOT / "shared/schemas/v1" / f"{CreateDataService.TYPE}.json"
    schema = json.loads(exported.read_text())
    assert schema["deprecated"] is True and "Deprecated" in schema["description"]


def test_a_v1_command_is_the_same_v2_command_without_the_names() -> None:
    v1 = create_command_v1(expert_code="EXP-001", anatomical_region="chest")
    v2 = v1.upgraded()
    assert v2.client_code == v1.client.code
    assert v2.model_dump(exclude={"client_code", "cloud_place"}) == v1.model_dump(
        exclude={"client"}
    )


def _created(platform: InMemoryPlatform) -> list[DataServiceCreated]:
    return [
        e.payload
        for e in platform.publisher.messages(NAMES.events_topic)
        if isinstance(e.payload, DataServiceCreated)
    ]


@pytest.mark.parametrize("build", [create_command, create_command_v1], ids=["v2", "v1"])
def test_either_version_creates_the_service_keeping_only_the_client_code(
    platform: InMemoryPlatform, build: Any
) -> None:
    send(subscription_created())
    command = build(anatomical_region="chest")
    send(command, correlation_id="saga-1")
    [created] = _created(platform)
    assert created.data_service_id == command.data_service_id
    assert created.client_code == CLIENT_CODE and created.plan == "PRO"
    w = the_wiring()
    stored = platform.store.get(w.collections.services, command.data_service_id)
    assert stored is not None and stored["client"] == {"code": CLIENT_CODE}
    view = get_data_service(platform.store, w.collections, command.data_service_id)
    assert view is not None and view["client"] == {"code": CLIENT_CODE}
    assert CLIENT_V1.first_names not in json.dumps(stored) + json.dumps(view)


def test_a_v1_command_of_another_client_is_refused_like_a_v2_one(
    platform: InMemoryPlatform,
) -> None:
    send(subscription_created())
    send(create_command_v1(client_code="0002"))
    rejection = platform.publisher.messages(NAMES.events_topic)[-1].payload
    assert rejection.reason == "unknown_client"  # type: ignore[attr-defined]
    assert rejection.command_type == CreateDataService.TYPE  # type: ignore[attr-defined]


def test_a_service_stored_with_the_names_of_a_v1_command_shows_and_keeps_its_code_only(
    platform: InMemoryPlatform,
) -> None:
    """Stored by the release before v2: its names are not shown, and go at its next save."""
    send(subscription_created())
    command = create_command(anatomical_region="chest")
    send(command)
    w = the_wiring()
    services = w.collections.services
    document = platform.store.get(services, command.data_service_id)
    assert document is not None
    older = {**document, "client": CLIENT_V1.model_dump()}
    platform.store.run_in_transaction(lambda tx: tx.put(services, command.data_service_id, older))
    view = get_data_service(platform.store, w.collections, command.data_service_id)
    assert view is not None and view["client"] == {"code": CLIENT_CODE}


def _door() -> Any:
    main = str(ROOT / "main.py")
    app = functions_framework.create_app("data_services_commands_http", main)  # type: ignore[no-untyped-call]
    return app.test_client()


def test_the_door_takes_a_v1_body_and_publishes_v2_without_the_names(
    platform: InMemoryPlatform,
) -> None:
    send(subscription_created())
    v1_body = create_command_v1(anatomical_region="chest").model_dump(exclude={"data_service_id"})
    v2_body = create_command(anatomical_region="chest").model_dump(
        exclude={"data_service_id", "cloud_place"}
    )
    door = _door()
    for body in (v1_body, v2_body):
        answer = door.post("/data-services", json=body)
        assert answer.status_code == 202, answer.get_json()
        assert answer.get_json()["command_type"] == CreateDataServiceV2.TYPE
    published = platform.publisher.messages(NAMES.commands_topic)
    assert [type(e.payload) for e in published] == [CreateDataServiceV2] * 2
    assert {e.payload.client_code for e in published} == {CLIENT_CODE}  # type: ignore[attr-defined]
    raw = json.dumps([e.payload.model_dump() for e in published])
    assert CLIENT_V1.first_names not in raw and CLIENT_V1.username not in raw
