"""What Terraform derives from infra/topology.yaml is what the local stack derives from it.

Each test evaluates terraform/modules/topology with `terraform console` (offline, no init)
and compares with infra/local/topology.py's reading of the same file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from infra.local.topology import (
    DeliveryPolicy,
    RetryPolicy,
    Topology,
    database_of,
    deploy_contexts,
    invoked_functions,
    load_topology,
    secret_grants,
    signing_functions,
)
from tests.unit.deploy.topology_module import BUCKET_PREFIX, evaluate


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology()


def context_of(target: str, contexts: set[str]) -> str | None:
    matches = [c for c in contexts if target.startswith(c.replace("-", "_") + "_")]
    return max(matches, key=len) if matches else None


def test_every_topic(topology: Topology, derived: dict[str, Any]) -> None:
    assert sorted(derived["topics"]) == sorted(topology.topics)


def test_every_function_with_its_entry_point_trigger_and_context(
    topology: Topology, derived: dict[str, Any]
) -> None:
    contexts = deploy_contexts(topology)
    assert sorted(derived["contexts"]) == sorted(contexts)
    assert derived["functions"].keys() == topology.functions.keys()
    for name, function in topology.functions.items():
        cloud = derived["functions"][name]
        assert cloud["target"] == function.target, name
        assert cloud["kind"] == function.trigger.kind, name
        assert cloud["context"] == context_of(function.target, contexts), name


def test_every_function_its_own_valid_service_account(derived: dict[str, Any]) -> None:
    ids = [f["account_id"] for f in derived["functions"].values()]
    assert len(set(ids)) == len(ids)
    for account_id in ids:
        assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", account_id), account_id


def test_every_trigger_subscription_with_the_local_delivery_policy(
    topology: Topology, derived: dict[str, Any]
) -> None:
    expected = {s.name: s for s in topology.trigger_subscriptions()}
    assert derived["subscriptions"].keys() == expected.keys()
    for name, local in expected.items():
        cloud = derived["subscriptions"][name]
        assert cloud["function"] == local.function
        assert cloud["topic"] == local.topic
        assert cloud["ack_deadline_seconds"] == local.policy.ack_deadline_seconds
        assert cloud["min_backoff_seconds"] == local.policy.retry.min_backoff_seconds
        assert cloud["max_backoff_seconds"] == local.policy.retry.max_backoff_seconds
        assert cloud["max_delivery_attempts"] == local.policy.max_delivery_attempts
        assert cloud["dead_letter_topic"] == local.policy.dead_letter_topic
        if local.kind == "pubsub":
            assert cloud["filter"] == local.policy.filter
        else:
            # A GCS trigger: only its bucket's finalize notifications, like the bridge.
            assert f'attributes.bucketId = "{BUCKET_PREFIX}-{local.bucket}"' in cloud["filter"]
            assert 'attributes.eventType = "OBJECT_FINALIZE"' in cloud["filter"]


def test_every_subscription_has_a_dead_letter_topic(derived: dict[str, Any]) -> None:
    assert derived["subscriptions"]
    for name, subscription in derived["subscriptions"].items():
        assert subscription["dead_letter_topic"] in derived["topics"], name


def test_every_bucket_and_notification(topology: Topology, derived: dict[str, Any]) -> None:
    assert derived["buckets"].keys() == topology.buckets.keys()
    for name, bucket in topology.buckets.items():
        cloud = derived["buckets"][name]
        assert cloud["name"] == f"{BUCKET_PREFIX}-{name}"
        assert cloud["lifecycle_delete_after_days"] == bucket.lifecycle_delete_after_days
        settings = topology.cloud.buckets.get(name)
        assert cloud["versioning"] == (settings.versioning if settings else False)
    expected = {
        f"{bucket}/{n.topic}": n.event_types for bucket, n in topology.notification_routes()
    }
    assert {k: v["event_types"] for k, v in derived["bucket_notifications"].items()} == expected


def test_every_composite_index(topology: Topology, derived: dict[str, Any]) -> None:
    expected = sorted(
        (i.context, i.collection, tuple((f.field, f.order) for f in i.fields))
        for i in topology.firestore_indexes
    )
    cloud = sorted(
        (i["context"], i["collection"], tuple((f["field"], f["order"]) for f in i["fields"]))
        for i in derived["firestore_indexes"].values()
    )
    assert cloud == expected


def test_every_pull_subscription(topology: Topology, derived: dict[str, Any]) -> None:
    assert derived["pull_subscriptions"] == {
        p.name: {"topic": p.topic, "retention_days": p.retention_days}
        for p in topology.pull_subscriptions
    }


def test_every_context_inbox_gets_a_ttl(topology: Topology, derived: dict[str, Any]) -> None:
    assert derived["inbox_collections"] == {
        c: f"{c.replace('-', '_')}_inbox" for c in deploy_contexts(topology)
    }


def test_every_ttl_collection_gets_its_field(topology: Topology, derived: dict[str, Any]) -> None:
    assert derived["ttl_fields"] == {
        f"{ttl.context}/{ttl.collection}": {
            "context": ttl.context,
            "database": database_of(ttl.context),
            "collection": ttl.collection,
            "field": ttl.field,
        }
        for ttl in topology.cloud.firestore_ttl
    }
    # The api's rate-limit shards carry `expires_at` as a Timestamp (adapters/firestore_counters)
    from functions.api.rate_limits import COLLECTION as RATE_LIMITS

    assert derived["ttl_fields"][f"api/{RATE_LIMITS}"]["field"] == "expires_at"


def test_only_the_public_api_is_public(derived: dict[str, Any]) -> None:
    public = {name for name, f in derived["functions"].items() if f["public"]}
    assert public == {"api"}
    assert derived["functions"]["api"]["kind"] == "http"


def test_secrets_mounted_by_context_and_function(
    topology: Topology, derived: dict[str, Any]
) -> None:
    mounted = {(g["function"], g["secret"]) for g in derived["secret_grants"].values()}
    assert mounted == secret_grants(topology)


def test_url_signers_by_function(topology: Topology, derived: dict[str, Any]) -> None:
    signing = {name for name, f in derived["functions"].items() if f["signs_urls"]}
    assert signing == signing_functions(topology)


def test_publishers_get_their_context_topics_and_readers_none(derived: dict[str, Any]) -> None:
    grants = derived["publish_grants"].values()
    access = load_topology().cloud.access
    for name, function in derived["functions"].items():
        topics = {g["topic"] for g in grants if g["function"] == name}
        context = function["context"]
        if function["read_only"]:
            assert topics == set(), name
        elif f"{context}-dead-letter" in derived["topics"]:
            assert f"{context}-dead-letter" in topics, name
        # Beyond its own topics, only what cloud.access names (the API: command topics).
        named = set(access[context].publishes) if context in access else set()
        assert all(t.startswith(f"{context}-") or t in named for t in topics), name


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
topics: [shop-commands, shop-events, shop-dead-letter, data-dead-letter, data_shop-dead-letter, bulk-notes]
buckets:
  drop: {notifications: [{topic: bulk-notes}]}
functions:
  shop-handle-order-with-a-rather-long-name:
    target: shop_handle_order
    trigger: {pubsub: {topic: shop-commands, dead_letter_topic: shop-dead-letter}}
  shop-handle-order-with-a-rather-long-name-too:
    target: shop_handle_order_too
    trigger: {gcs: {bucket: drop, dead_letter_topic: shop-dead-letter, filter: 'attributes.x = "1"'}}
  data-shop-queries-http:
    target: data_shop_queries_http
    trigger: {http: {}}
  data-shop-tick:
    target: data_shop_tick
    trigger: {http: {}}
  api-login-http:
    target: api_login_http
    trigger: {http: {}}
firestore_indexes:
  - {context: data_shop, collection: data_shop_orders, fields: [{field: a}, {field: b}]}
schedules:
  tick: {function: data-shop-tick, schedule: "* * * * *"}
secrets:
  shop-key: {env: SHOP_KEY, contexts: [shop]}
  tick-key: {env: TICK_KEY, functions: [data-shop-tick]}
  both-key: {env: BOTH_KEY, contexts: [api], functions: [data-shop-queries-http]}
cloud:
  public_functions: [data-shop-queries-http]
  firestore_ttl:
    - {context: shop, collection: counters, field: expires_at}
    - {context: api, collection: counters, field: ends_at}
  access:
    shop: {publishes: [bulk-notes], invokes: [data-shop-tick]}
    api: {signs_urls: true, invokes: ["*-queries-http", "*-tick"]}
    data_shop: {signs_urls: [data-shop-tick]}
"""


def test_defaults_are_the_local_stack_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    load_topology(path)  # the same file is valid for the local stack
    derived = evaluate(path)
    pushed = derived["subscriptions"]["trigger-shop-handle-order-with-a-rather-long-name"]
    defaults, retry = DeliveryPolicy(), RetryPolicy()
    assert pushed["ack_deadline_seconds"] == defaults.ack_deadline_seconds
    assert pushed["max_delivery_attempts"] == defaults.max_delivery_attempts
    assert pushed["min_backoff_seconds"] == retry.min_backoff_seconds
    assert pushed["max_backoff_seconds"] == retry.max_backoff_seconds
    assert pushed["filter"] is None
    gcs = derived["subscriptions"]["trigger-shop-handle-order-with-a-rather-long-name-too"]
    assert gcs["topic"] == "bulk-notes"
    assert gcs["filter"].startswith('(attributes.x = "1") AND ')


def test_long_names_the_longest_context_and_deploy_keys(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, MINIMAL))
    derived = evaluate(write(tmp_path, MINIMAL))
    functions = derived["functions"]
    long_ids = [f["account_id"] for n, f in functions.items() if n.startswith("shop-handle")]
    assert len(set(long_ids)) == 2 and all(len(i) <= 30 for i in long_ids)
    # `data_shop_...` belongs to data_shop, not to a shorter context it starts with.
    assert functions["data-shop-tick"]["context"] == "data_shop"
    assert functions["data-shop-queries-http"]["public"] is True
    assert functions["data-shop-queries-http"]["read_only"] is True
    assert functions["data-shop-tick"]["public"] is False
    # An HTTP-only context is a context by its cloud.access entry.
    assert functions["api-login-http"]["context"] == "api"
    # `signs_urls: true` is every function of the context; a list, those it names.
    assert functions["api-login-http"]["signs_urls"] is True
    assert functions["data-shop-tick"]["signs_urls"] is True
    assert functions["data-shop-queries-http"]["signs_urls"] is False
    assert functions["shop-handle-order-with-a-rather-long-name"]["signs_urls"] is False
    # A secret goes to its contexts' functions and to the functions it names.
    assert (
        {(g["function"], g["secret"]) for g in derived["secret_grants"].values()}
        == {
            ("shop-handle-order-with-a-rather-long-name", "shop-key"),
            ("shop-handle-order-with-a-rather-long-name-too", "shop-key"),
            ("data-shop-tick", "tick-key"),
            ("api-login-http", "both-key"),
            ("data-shop-queries-http", "both-key"),
        }
        == secret_grants(topology)
    )
    assert {n for n, f in functions.items() if f["signs_urls"]} == signing_functions(topology)
    assert derived["schedules"]["tick"] == {
        "function": "data-shop-tick",
        "schedule": "* * * * *",
        "time_zone": "Etc/UTC",
        "path": "/",
        "body": "{}",
    }
    callers = {(g["caller"], g["callee"]) for g in derived["invoke_grants"].values()}
    # A name, or every HTTP function a `*<suffix>` matches: what the local reading says.
    assert callers == {
        (name, callee)
        for name, f in functions.items()
        for callee in invoked_functions(topology, f["context"])
    }
    assert ("shop-handle-order-with-a-rather-long-name", "data-shop-tick") in callers
    assert {c for a, c in callers if a == "api-login-http"} == {
        "data-shop-queries-http",
        "data-shop-tick",
    }
    topics = {
        g["topic"]
        for g in derived["publish_grants"].values()
        if g["function"] == "shop-handle-order-with-a-rather-long-name"
    }
    assert topics == {"shop-commands", "shop-events", "shop-dead-letter", "bulk-notes"}


def test_each_context_its_database_and_each_index_and_ttl_in_its_context_database(
    tmp_path: Path,
) -> None:
    derived = evaluate(write(tmp_path, MINIMAL))
    assert derived["databases"] == {
        "shop": "saludtech-shop",
        "data": "saludtech-data",
        "data_shop": "saludtech-data-shop",  # database ids have no `_`
        "api": "saludtech-api",
    }
    assert derived["functions"]["data-shop-tick"]["database"] == "saludtech-data-shop"
    [index] = derived["firestore_indexes"].values()
    assert (index["context"], index["database"]) == ("data_shop", "saludtech-data-shop")
    # One collection name in two databases: two TTL policies.
    assert {k: (v["database"], v["field"]) for k, v in derived["ttl_fields"].items()} == {
        "shop/counters": ("saludtech-shop", "expires_at"),
        "api/counters": ("saludtech-api", "ends_at"),
    }
