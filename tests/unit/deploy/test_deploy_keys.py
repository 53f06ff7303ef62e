"""The deploy-only keys of the topology: validated for the local stack, complete for the cloud."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from infra.local.topology import (
    DEFAULT_TOPOLOGY_PATH,
    Topology,
    TopologyError,
    context_of,
    dangling_functions,
    database_of,
    deploy_contexts,
    load_topology,
)
from shared.config import Settings

TOPOLOGY = load_topology()


# Keys with no secret of their own, and why.
NOT_SECRETS = {
    "jwt_key": "the local fallback of an empty keyring: in the cloud SALUDTECH_JWT_KEYS holds every key",
}


def test_every_key_the_code_reads_is_a_declared_secret() -> None:
    declared = {spec.env for spec in TOPOLOGY.secrets.values()}
    for name, field in Settings.model_fields.items():
        if field.annotation is SecretStr and name not in NOT_SECRETS:
            assert f"SALUDTECH_{name.upper()}" in declared, f"{name} has no Secret Manager secret"
    for name in NOT_SECRETS:
        assert Settings.model_fields[name].annotation is SecretStr, name
        assert f"SALUDTECH_{name.upper()}" not in declared, name


def test_function_names_are_cloud_run_service_names() -> None:
    for name in TOPOLOGY.functions:
        assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name), name


def test_every_function_belongs_to_a_context() -> None:
    contexts = {c.replace("-", "_") for c in deploy_contexts(TOPOLOGY)}
    for name, function in TOPOLOGY.functions.items():
        assert any(function.target.startswith(f"{c}_") for c in contexts), name


def test_every_trigger_fits_pubsub_in_the_cloud() -> None:
    # The local bridge accepts 1 attempt and no dead-letter topic; Pub/Sub does not.
    for subscription in TOPOLOGY.trigger_subscriptions():
        policy = subscription.policy
        assert policy.dead_letter_topic is not None, subscription.name
        assert policy.dead_letter_topic != subscription.topic, subscription.name
        assert 5 <= policy.max_delivery_attempts <= 100, subscription.name
        assert policy.retry.max_backoff_seconds <= 600, subscription.name


INDEXED = "collection: c, fields: [{field: a}, {field: b}]"
BASE = """
topics: [shop-commands, shop-dead-letter]
buckets: {drop: {}}
functions:
  shop-http: {target: shop_http, trigger: {http: {}}}
  shop-handle:
    target: shop_handle
    trigger: {pubsub: {topic: shop-commands, dead_letter_topic: shop-dead-letter}}
"""


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("schedules: {tick: {function: shop-handle, schedule: '* * * * *'}}", "not an HTTP"),
        ("schedules: {tick: {function: shop-http, schedule: 'every minute'}}", "schedule"),
        ("cloud: {public_functions: [nowhere]}", "nowhere is not an HTTP function"),
        ("secrets: {k: {env: SALUDTECH_K, contexts: [billing]}}", "context billing"),
        ("secrets: {k: {env: lower_case, contexts: ['*']}}", "env"),
        ("secrets: {k: {env: SALUDTECH_K}}", "contexts`, `functions"),
        (
            "cloud: {access: {other: {signs_urls: [shop-http]}}}",
            "shop-http is not a function of other",
        ),
        ("cloud: {access: {shop: {buckets: {nowhere: roles/x}}}}", "bucket nowhere"),
        ("cloud: {access: {shop: {buckets: {drop: objectUser}}}}", "not an IAM role"),
        ("cloud: {access: {shop: {publishes: [nowhere]}}}", "topic nowhere"),
        ("cloud: {access: {shop: {invokes: [shop-handle]}}}", "not an HTTP function"),
        ("cloud: {access: {shop: {invokes: ['*-nowhere']}}}", "matching an HTTP function"),
        ("cloud: {access: {shop: {invokes: ['*']}}}", "matching an HTTP function"),
        ("cloud: {access: {shop: {invokes: ['shop-*']}}}", "not an HTTP function"),
        (f"firestore_indexes: [{{context: billing, {INDEXED}}}]", "context billing"),
        (f"firestore_indexes: [{{{INDEXED}}}]", "context"),
        (
            "cloud: {firestore_ttl: [{context: billing, collection: c, field: f}]}",
            "context billing",
        ),
        (
            "cloud: {firestore_ttl: [{context: shop, collection: c, field: f}, "
            "{context: shop, collection: c, field: g}]}",
            "given twice",
        ),
        ("cloud: {firestore_ttl: {c: expires_at}}", "firestore_ttl"),
        ("cloud: {buckets: {nowhere: {versioning: true}}}", "nowhere is not in buckets"),
        ("cloud: {buckets: {drop: {versionning: true}}}", "versionning"),
    ],
)
def test_deploy_keys_that_do_not_resolve_are_refused(
    tmp_path: Path, extra: str, problem: str
) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(BASE + extra + "\n", encoding="utf-8")
    with pytest.raises(TopologyError, match=problem):
        load_topology(path)


def test_the_base_of_those_cases_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert isinstance(load_topology(path), Topology)
    valid = (
        f"firestore_indexes: [{{context: shop, {INDEXED}}}]\n"
        "cloud:\n"
        "  firestore_ttl: [{context: shop, collection: c, field: f}]\n"
        "  access: {shop: {invokes: ['*-http']}}\n"
    )
    path.write_text(BASE + valid, encoding="utf-8")
    assert isinstance(load_topology(path), Topology)


def test_no_deploy_key_names_a_function_the_topology_does_not_hold(tmp_path: Path) -> None:
    assert dangling_functions(TOPOLOGY) == []
    # A cut topology loads with them (the local stack of some contexts only); they are seen.
    path = tmp_path / "topology.yaml"
    path.write_text(
        BASE
        + "secrets: {k: {env: SALUDTECH_K, functions: [nowhere]}}\n"
        + "cloud:\n"
        + "  access: {shop: {signs_urls: [gone]}}\n"
        + "  capacity: {absent: {max_instances: 2}}\n",
        encoding="utf-8",
    )
    assert dangling_functions(load_topology(path)) == [
        "secret k: nowhere is not a function",
        "cloud.access.shop.signs_urls: gone is not a function",
        "cloud.capacity: absent is not a function",
    ]


@pytest.mark.parametrize(
    ("target", "context", "database"),
    [
        ("api_http", "api", "saludtech-api"),
        ("identity_commands_http", "identity", "saludtech-identity"),
        ("data_services_assign_expert", "data_services", "saludtech-data-services"),
        ("subscriptions_queries_http", "subscriptions", "saludtech-subscriptions"),
        ("sagas_tick", "sagas", "saludtech-sagas"),
    ],
)
def test_the_context_of_an_entry_point_and_its_database(
    target: str, context: str, database: str
) -> None:
    assert context_of(target) == context
    assert database_of(context) == database


def test_an_entry_point_of_no_context_is_refused() -> None:
    with pytest.raises(ValueError, match="context"):
        context_of("billing_http")
    with pytest.raises(ValueError, match="context"):
        context_of("apix_http")  # a prefix of the name is not a context


class _RefusingDuplicates(yaml.SafeLoader):
    """PyYAML and Terraform's yamldecode both keep the last of two equal keys, silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
        repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
        assert not repeated, f"line {node.start_mark.line + 1}: {repeated} given twice"
        return super().construct_mapping(node, deep=deep)


def test_no_key_is_given_twice_in_the_topology() -> None:
    yaml.load(DEFAULT_TOPOLOGY_PATH.read_text("utf-8"), Loader=_RefusingDuplicates)


def test_a_key_given_twice_is_seen() -> None:
    with pytest.raises(AssertionError, match="given twice"):
        yaml.load("a: {b: 1}\na: {b: 2}\n", Loader=_RefusingDuplicates)
