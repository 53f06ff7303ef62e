"""main.py, infra/topology.yaml and every context's handler map describe one deployment.

Each command or event handler is its own Cloud Function: one entry in its context's
HANDLERS, from which entrypoints.py makes the entry point main.py exports, and one topology
function whose trigger subscription filters on the message's `ce-type`. The topology is
written out (Terraform reads it and cannot import Python), so a handler listed without its
topology function, a topology function naming a target nobody makes, or a filter naming a
type its function does not take fails here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

import main
from functions.bootstrap import InMemoryPlatform
from infra.local.topology import Topology, load_topology
from shared.domain.messages import Command, Message, message_class, registered_messages
from shared.entrypoints.pubsub import consumed_type, entry_point_name
from shared.service.processing import Consumer, processor_handlers
from tests.support.cloud_events import pubsub_event

FUNCTIONS = Path(__file__).parents[2] / "functions"
CONTEXTS = sorted(p.parent.name for p in FUNCTIONS.glob("*/handlers.py"))
# One ce-type, optionally narrowed by the routing attributes its message declares
# (Message.ATTRIBUTES), e.g. `... AND NOT attributes.ce-plan = "BASIC"`.
_FILTER = re.compile(r'^attributes\.ce-type = "([a-z0-9_.]+)"(?: AND (.+))?$')
_ATTRIBUTE = re.compile(r"attributes\.ce-([a-z0-9]+)")


def handlers_of(context: str, name: str = "HANDLERS") -> dict[type[Message], Any]:
    found: dict[type[Message], Any] = getattr(
        importlib.import_module(f"functions.{context}.handlers"), name, {}
    )
    return found


def handler_maps() -> dict[str, set[str]]:
    """Per context, the types of the messages it consumes from its topics."""
    return {
        context: {m.TYPE for m in importlib.import_module(f"functions.{context}.handlers").HANDLERS}
        for context in CONTEXTS
    }


def filtered_functions(topology: Topology) -> dict[str, list[tuple[str, str]]]:
    """ce-type -> [(function name, target)] of every filtered Pub/Sub trigger. Several
    contexts may consume one event (each trigger subscription gets its own copy), but a
    context consumes a type through one function only."""
    found: dict[str, list[tuple[str, str]]] = {}
    for name, function in topology.functions.items():
        trigger = function.trigger.pubsub
        if trigger is None or trigger.filter is None:
            continue
        match = _FILTER.match(trigger.filter)
        assert match, f"{name}: filter must name exactly one ce-type, got {trigger.filter!r}"
        model = message_class(match.group(1))
        narrowed = set(_ATTRIBUTE.findall(match.group(2) or ""))
        declared = set(model.ATTRIBUTES) if model is not None else set()
        assert narrowed <= declared, f"{name}: {narrowed - declared} not in its ATTRIBUTES"
        found.setdefault(match.group(1), []).append((name, function.target))
    for type_name, consumers in found.items():
        owners = [_owner(target) for _, target in consumers]
        assert len(owners) == len(set(owners)), f"two functions of one context consume {type_name}"
    return found


def _owner(target: str) -> str:
    """The context an entry point belongs to: the longest context name prefixing it."""
    return max((c for c in CONTEXTS if target.startswith(f"{c}_")), key=len, default="")


def test_every_entry_point_is_deployed_and_every_deployed_target_exists() -> None:
    targets = {f.target for f in load_topology().functions.values()}
    assert set(main.__all__) == targets
    for target in targets:
        assert callable(getattr(main, target))


def test_every_handler_has_its_own_filtered_function_and_no_function_lacks_a_handler() -> None:
    consumed = filtered_functions(load_topology())
    maps = handler_maps()
    for context, types in maps.items():
        for type_name in types:
            owners = [_owner(target) for _, target in consumed.get(type_name, [])]
            assert context in owners, f"{context} handles {type_name} but nothing deploys it"
    for type_name, consumers in consumed.items():
        for name, target in consumers:
            assert type_name in maps.get(_owner(target), set()), f"{name} has no handler"


def test_each_context_makes_one_entry_point_per_handled_type_and_a_recorder() -> None:
    for context in CONTEXTS:
        entry_points = importlib.import_module(f"functions.{context}.entrypoints").ENTRY_POINTS
        made = {consumed_type(function) for function in entry_points.values()} - {None}
        assert made == set(handlers_of(context)), context
        assert f"{context}_record_dead_letter" in entry_points
        for name, function in entry_points.items():
            assert function.__name__ == name  # what functions-framework registers it under
            assert getattr(main, name) is function
    # The names keep to entry_point_name() but for these, deployed before the rule.
    renamed = {
        target
        for target in main.__all__
        if (consumed := consumed_type(getattr(main, target))) is not None
        and target != entry_point_name(_owner(target), consumed)
    }
    assert renamed == {
        "data_services_project_image",
        "data_services_project_subscription",
        "sagas_on_subscriptions_command_rejected",
    }


def test_each_filtered_function_targets_the_entry_point_of_its_type() -> None:
    for type_name, consumers in filtered_functions(load_topology()).items():
        for name, target in consumers:
            made = consumed_type(getattr(main, target, None))
            assert made is not None, f"{name}: {target} is not made from a HANDLERS entry"
            assert type_name == made.TYPE, f"{name} filters on {type_name}, {target} takes {made}"


def test_in_process_handlers_never_travel_alone_and_the_processor_gets_one_per_type() -> None:
    """A type handled in-process is either internal (no function) or one a Consumer of
    HANDLERS hands the processor; either way the context's processor has one handler for it."""
    for context in CONTEXTS:
        handlers, in_process = handlers_of(context), handlers_of(context, "IN_PROCESS_HANDLERS")
        for message_type in in_process:
            if message_type in handlers:
                assert isinstance(handlers[message_type], Consumer), message_type
            else:
                assert getattr(message_type, "INTERNAL", True), f"{message_type} is published"
        processor_handlers(handlers, in_process)  # raises on two handlers of one type


def test_every_public_command_is_handled_by_its_own_context() -> None:
    # Internal commands (recorded in-process, never published) say so with INTERNAL.
    maps = handler_maps()
    for type_name, model in registered_messages().items():
        if issubclass(model, Command) and not getattr(model, "INTERNAL", False):
            assert type_name in maps.get(model.context(), set()), f"nobody handles {type_name}"


def test_every_dead_letter_topic_has_a_recorder() -> None:
    topology = load_topology()
    consumed_topics = {
        f.trigger.pubsub.topic for f in topology.functions.values() if f.trigger.pubsub
    }
    held = {s.topic for s in topology.pull_subscriptions}
    for function in topology.functions.values():
        policy = function.trigger.pubsub or function.trigger.gcs
        if policy is not None:
            assert policy.dead_letter_topic, f"{function.target} has no dead-letter topic"
            assert policy.dead_letter_topic in consumed_topics | held


_CONSUMERS = sorted(
    (type_name, target)
    for type_name, consumers in filtered_functions(load_topology()).items()
    for _, target in consumers
)


@pytest.mark.parametrize(("type_name", "target"), _CONSUMERS)
def test_each_function_consumes_the_type_its_filter_names(
    platform: InMemoryPlatform, type_name: str, target: str
) -> None:
    """Sent its own type with an empty payload, a function judges the payload (a schema
    violation); sent any other type, it refuses the type itself."""
    function: Any = getattr(main, target)
    attributes = {"ce-id": "c-1", "ce-source": "/t", "ce-specversion": "1.0"}
    function(pubsub_event(b"{}", {**attributes, "ce-type": type_name}, "m-1"))
    function(pubsub_event(b"{}", {**attributes, "ce-type": "co.saludtech.x.y.z.v1"}, "m-2"))
    reasons = [
        attrs["saludtech-rejection-reason"]
        for raws in platform.publisher.raw.values()
        for _, attrs in raws
    ]
    assert reasons == ["schema_violation", "unsupported_message"]
