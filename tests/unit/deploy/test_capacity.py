"""Each function's capacity in the cloud: the topology's `cloud.capacity`, validated as
Cloud Run would at apply time, resolved by Terraform as infra/local/topology.py resolves
it, and passed to every function's service_config.

Before, every function served one request at a time on at most 10 instances: the api, which
waits on identity and a door for every request, and the doors it waits on, queued behind
each other's network waits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from infra.local.topology import (
    DEFAULT_TOPOLOGY_PATH,
    Capacity,
    TopologyError,
    capacity_of,
    invoked_functions,
    load_topology,
)
from tests.unit.deploy.terraform_files import PLATFORM_MODULE, resources
from tests.unit.deploy.topology_module import evaluate

TOPOLOGY = load_topology()
# CPU-bound (OCR of burned-in text): one image per instance, throughput from instances.
CPU_BOUND = {"ingestion-on-upload", "ingestion-ingest-package-entry-v2"}


def test_terraform_resolves_every_function_as_the_topology_says(derived: dict[str, Any]) -> None:
    for name in TOPOLOGY.functions:
        expected, cloud = capacity_of(TOPOLOGY, name), derived["functions"][name]
        assert cloud["memory"] == expected.memory, name
        assert cloud["cpu"] == (None if expected.cpu is None else f"{expected.cpu:g}"), name
        assert cloud["concurrency"] == expected.concurrency, name
        assert cloud["min_instances"] == expected.min_instances, name
        assert cloud["max_instances"] == expected.max_instances, name
        assert cloud["timeout_seconds"] == expected.timeout_seconds, name


def test_every_knob_reaches_the_function() -> None:
    function = resources(PLATFORM_MODULE)[("google_cloudfunctions2_function", "function")]
    [service] = function["service_config"]
    assert service["available_memory"] == "${each.value.memory}"
    assert service["available_cpu"] == "${each.value.cpu}"
    assert service["max_instance_request_concurrency"] == "${each.value.concurrency}"
    assert service["min_instance_count"] == "${each.value.min_instances}"
    assert service["max_instance_count"] == "${each.value.max_instances}"
    assert service["timeout_seconds"] == "${each.value.timeout_seconds}"


def test_the_api_and_the_doors_it_waits_on_serve_many_requests_at_once() -> None:
    for name in {"api"} | invoked_functions(TOPOLOGY, "api"):
        capacity = capacity_of(TOPOLOGY, name)
        assert capacity.concurrency > 1, name
        assert capacity.cpu is not None and capacity.cpu >= 1, name


def test_ocr_runs_one_image_per_instance_on_more_instances() -> None:
    for name in CPU_BOUND:
        capacity = capacity_of(TOPOLOGY, name)
        assert capacity.concurrency == 1, name
        assert capacity.cpu is not None and capacity.cpu >= 1, name
        assert capacity.max_instances > Capacity().max_instances, name


def test_every_capacity_says_why() -> None:
    # An entry, or the run of entries it belongs to, follows the comment giving its reason.
    lines = DEFAULT_TOPOLOGY_PATH.read_text("utf-8").split("\n  capacity:\n", 1)[1].splitlines()
    entries = [i for i, line in enumerate(lines) if re.match(r"    [a-z][\w-]*: \{", line)]
    assert {lines[i].split(":")[0].strip() for i in entries} == set(TOPOLOGY.cloud.capacity)
    for index in entries:
        above = index - 1
        while above in entries:
            above -= 1
        assert lines[above].strip().startswith("#"), lines[index]


BASE = """
topics: [shop-commands, shop-dead-letter]
functions:
  shop-http: {target: shop_http, trigger: {http: {}}}
  shop-handle:
    target: shop_handle
    memory: 1Gi
    trigger:
      pubsub: {topic: shop-commands, dead_letter_topic: shop-dead-letter, ack_deadline_seconds: 120}
"""


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(BASE + extra + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("cloud: {capacity: {shop-http: {concurrency: 8}}}", "needs cpu >= 1"),
        ("cloud: {capacity: {shop-http: {cpu: 0.5, concurrency: 8}}}", "needs cpu >= 1"),
        ("cloud: {capacity: {shop-http: {cpu: 3}}}", "one of 1, 2, 4, 6, 8"),
        ("cloud: {capacity: {shop-http: {cpu: 4}}}", "takes 2048 to 16384 MiB"),
        ("cloud: {capacity: {shop-handle: {cpu: 0.3}}}", "too little for 1Gi"),
        ("cloud: {capacity: {shop-http: {memory: 2Gi, cpu: 0.9}}}", "too little for 2Gi"),
        ("cloud: {capacity: {shop-http: {min_instances: 3, max_instances: 2}}}", "above max"),
        ("cloud: {capacity: {shop-handle: {timeout_seconds: 300}}}", "ack_deadline_seconds 120"),
        ("cloud: {capacity: {shop-http: {timeout_seconds: 4000}}}", "3600"),
        ("cloud: {capacity: {shop-http: {max_instances: 0}}}", "max_instances"),
        ("cloud: {capacity: {shop-http: {memory: lots}}}", "memory"),
        ("cloud: {capacity: {shop-http: {concurrence: 2}}}", "concurrence"),
        ("cloud: {capacity: {shop-handle: {memory: 2Gi}}}", "given in functions and cloud"),
    ],
)
def test_capacities_cloud_run_would_refuse_are_refused(
    tmp_path: Path, extra: str, problem: str
) -> None:
    with pytest.raises(TopologyError, match=problem):
        load_topology(write(tmp_path, extra))


def test_defaults_and_a_capacity_resolve_as_in_terraform(tmp_path: Path) -> None:
    extra = (
        "cloud:\n"
        "  public_functions: [shop-http]\n"
        "  capacity:\n"
        "    shop-http: {cpu: 2, memory: 1Gi, concurrency: 40, min_instances: 1, max_instances: 30}\n"
        "    shop-handle: {cpu: 1, timeout_seconds: 100}\n"
    )
    path = write(tmp_path, extra)
    topology = load_topology(path)
    assert capacity_of(topology, "shop-http") == Capacity(
        memory="1Gi", cpu=2, concurrency=40, min_instances=1, max_instances=30, timeout_seconds=60
    )
    assert capacity_of(topology, "shop-handle") == Capacity(
        memory="1Gi", cpu=1, timeout_seconds=100
    )
    derived = evaluate(path)
    for name in topology.functions:
        expected, cloud = capacity_of(topology, name), derived["functions"][name]
        assert (cloud["cpu"], cloud["memory"], cloud["timeout_seconds"]) == (
            f"{expected.cpu:g}",
            expected.memory,
            expected.timeout_seconds,
        )
        assert (cloud["concurrency"], cloud["min_instances"], cloud["max_instances"]) == (
            expected.concurrency,
            expected.min_instances,
            expected.max_instances,
        )
    # Without cloud.capacity: the module's defaults, the timeout the ack deadline.
    bare = load_topology(write(tmp_path, ""))
    assert capacity_of(bare, "shop-handle") == Capacity(memory="1Gi", timeout_seconds=120)
    assert capacity_of(bare, "shop-http") == Capacity()
    assert evaluate(write(tmp_path, ""))["functions"]["shop-handle"]["timeout_seconds"] == 120
