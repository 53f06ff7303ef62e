"""Each context owns its data; a function reaches only what its context declares.

Every context has exactly one Firestore database, `saludtech-<context>`. A function's
service account may open its own context's database and no other (a project grant whose IAM
condition names that database: Firestore's roles exist only on the project). Every index
and TTL policy is in the database of the context owning its collection. A function may call
exactly the HTTP functions its context declares (`cloud.access.<context>.invokes`): the
public API calls the contexts' doors, and nothing else calls anything.

What Terraform computes (the `derived` fixture: terraform console on the real topology
module) is checked against infra/local/topology.py's reading and the runtime's names; what
the platform module does with it, on the parsed HCL.
"""

from __future__ import annotations

import re
from typing import Any

from infra.local.topology import (
    CONTEXTS,
    context_of,
    database_of,
    deploy_contexts,
    invoked_functions,
    load_topology,
)
from tests.unit.deploy.terraform_files import (
    ENVIRONMENTS,
    PLATFORM_MODULE,
    TOPOLOGY_MODULE,
    locals_of,
    parse_dir,
    resources,
)

TOPOLOGY = load_topology()
PLATFORM = resources(PLATFORM_MODULE)
DATABASE = "${google_firestore_database.context[each.value.context].name}"
# Firestore's documented per-database condition (IAM Conditions on the project's grant).
CONDITION = f'resource.name=="projects/${{var.project_id}}/databases/{DATABASE}"'


def python_name(context: str) -> str:
    """Terraform's contexts are the topics' (`data-services`); Python's are `data_services`."""
    return context.replace("-", "_")


def owner_of(collection: str) -> str:
    """The context whose collection it is: collections are named after their context
    (`subscriptions`, `ingestion_images`, `data_services_catalogue`, `api_rate_limits`)."""
    owners = [c for c in CONTEXTS if collection == c or collection.startswith(f"{c}_")]
    assert owners, f"collection {collection} is named after no context"
    return max(owners, key=len)


def every_resource() -> dict[tuple[str, str, str], dict[str, Any]]:
    """(module, type, name) -> body, for every module and environment."""
    return {
        (directory.name, rtype, name): body
        for directory in (TOPOLOGY_MODULE, PLATFORM_MODULE, *ENVIRONMENTS)
        for (rtype, name), body in resources(directory).items()
    }


def test_every_context_has_exactly_one_database(derived: dict[str, Any]) -> None:
    # The contexts of the topology are the product's, identity included (an entry of
    # cloud.access makes an HTTP-only context).
    assert {python_name(c) for c in deploy_contexts(TOPOLOGY)} == set(CONTEXTS)
    assert sorted(derived["contexts"]) == sorted(deploy_contexts(TOPOLOGY))
    databases = derived["databases"]
    assert databases.keys() == set(derived["contexts"])
    assert len(set(databases.values())) == len(databases)
    # The names the runtime opens (shared/service/context.py) are the ones Terraform creates.
    from shared.service.context import database_of as runtime_database_of

    for context, database in databases.items():
        assert database == database_of(python_name(context)), context
        assert database == runtime_database_of(python_name(context)), context
        # Firestore database ids: 4 to 63 of [a-z0-9-], a letter first, no `-` last.
        assert re.fullmatch(r"[a-z][a-z0-9-]{2,61}[a-z0-9]", database), database
    # One resource, one database per context, protected as the single database was.
    declared = [key for key in every_resource() if key[1] == "google_firestore_database"]
    assert declared == [("platform", "google_firestore_database", "context")]
    database = PLATFORM[("google_firestore_database", "context")]
    assert database["for_each"] == "${module.topology.databases}"
    assert database["name"] == "${each.value}"
    assert database["type"] == "FIRESTORE_NATIVE"
    assert database["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
    assert "var.deletion_protection" in database["delete_protection_state"]
    # The shared `(default)` database is forgotten, never destroyed with its data.
    [removed] = parse_dir(PLATFORM_MODULE)["removed"]
    assert removed["from"] == "${google_firestore_database.main}"
    assert removed["lifecycle"] == [{"destroy": False}]


def test_no_datastore_role_is_granted_without_the_condition_naming_its_database() -> None:
    datastore = {key: body for key, body in every_resource().items() if "datastore" in str(body)}
    assert list(datastore) == [("platform", "google_project_iam_member", "function_firestore")]
    [grant] = datastore.values()
    assert "dynamic" not in grant, "the condition is a static block: no grant can lose it"
    [condition] = grant["condition"]
    assert condition["expression"].replace('\\"', '"') == CONDITION
    # Nor a role given through a local the resources would read.
    for directory in (TOPOLOGY_MODULE, PLATFORM_MODULE, *ENVIRONMENTS):
        assert "datastore" not in str(locals_of(directory)), directory.name


def test_each_function_may_open_its_own_context_database_only(derived: dict[str, Any]) -> None:
    grant = PLATFORM[("google_project_iam_member", "function_firestore")]
    # One grant per function, to that function's own account.
    assert grant["for_each"] == "${local.functions}"
    assert grant["member"] == "${google_service_account.function[each.key].member}"
    assert grant["role"] == (
        '${each.value.read_only ? "roles/datastore.viewer" : "roles/datastore.user"}'
    )
    expression = grant["condition"][0]["expression"].replace('\\"', '"')
    assert derived["functions"].keys() == TOPOLOGY.functions.keys()
    for name, function in TOPOLOGY.functions.items():
        cloud = derived["functions"][name]
        context = context_of(function.target)
        assert python_name(cloud["context"]) == context, name
        assert cloud["database"] == database_of(context), name
        # The condition as IAM gets it for this function: its context's database, no other.
        rendered = expression.replace("${var.project_id}", "a-project").replace(
            DATABASE, derived["databases"][cloud["context"]]
        )
        assert rendered == (
            f'resource.name=="projects/a-project/databases/{database_of(context)}"'
        ), name
        # The read side reads only.
        assert cloud["read_only"] == function.target.endswith("_queries_http"), name


def test_every_index_and_ttl_policy_lives_in_the_database_of_its_collection(
    derived: dict[str, Any],
) -> None:
    assert derived["firestore_indexes"]
    for key, index in derived["firestore_indexes"].items():
        owner = owner_of(index["collection"])
        assert python_name(index["context"]) == owner, key
        assert index["database"] == database_of(owner), key
    assert derived["ttl_fields"]
    for key, ttl in derived["ttl_fields"].items():
        owner = owner_of(ttl["collection"])
        assert python_name(ttl["context"]) == owner, key
        assert ttl["database"] == database_of(owner), key
    assert derived["ttl_fields"]["api/api_rate_limits"]["database"] == "saludtech-api"
    for context, inbox in derived["inbox_collections"].items():
        assert owner_of(inbox) == python_name(context), inbox
    # ... and the platform module creates each in that database.
    assert PLATFORM[("google_firestore_index", "index")]["database"] == DATABASE
    assert PLATFORM[("google_firestore_field", "ttl")]["database"] == DATABASE
    assert PLATFORM[("google_firestore_field", "inbox_ttl")]["database"] == (
        "${google_firestore_database.context[each.key].name}"
    )


def invoke_pairs(derived: dict[str, Any]) -> set[tuple[str, str]]:
    return {(g["caller"], g["callee"]) for g in derived["invoke_grants"].values()}


def test_the_api_may_invoke_exactly_the_contexts_doors(derived: dict[str, Any]) -> None:
    http = {n for n, f in TOPOLOGY.functions.items() if f.trigger.kind == "http"}
    doors = {n for n in http if n.endswith(("-queries-http", "-commands-http"))}
    invoked = {callee for caller, callee in invoke_pairs(derived) if caller == "api"}
    assert invoked == doors | {"sagas-operations-http"}
    # The doors the api calls today, and identity's as soon as the topology has them.
    assert {
        "subscriptions-commands-http",
        "subscriptions-queries-http",
        "ingestion-queries-http",
        "data-services-commands-http",
        "data-services-queries-http",
        "notifications-commands-http",
        "notifications-queries-http",
        "sagas-operations-http",
        "sagas-queries-http",
    } <= invoked
    assert {"identity-commands-http", "identity-queries-http"} & http <= invoked
    assert not {"api", "sagas-tick"} & invoked


def test_no_function_has_an_invoker_grant_its_context_does_not_declare(
    derived: dict[str, Any],
) -> None:
    declared = {
        (name, callee)
        for name, function in derived["functions"].items()
        for callee in invoked_functions(TOPOLOGY, function["context"])
    }
    assert invoke_pairs(derived) == declared
    # In the platform, the one resource that lets a function call another iterates them.
    invokers = {
        key: body
        for key, body in every_resource().items()
        if re.search(r"roles/(run|cloudfunctions)\.invoker", str(body.get("role", "")))
    }
    callers = {
        k: b for k, b in invokers.items() if "google_service_account.function" in b["member"]
    }
    assert list(callers) == [
        ("platform", "google_cloud_run_v2_service_iam_member", "function_invokes")
    ]
    [grant] = callers.values()
    assert grant["for_each"] == "${module.topology.invoke_grants}"
    assert grant["member"] == "${google_service_account.function[each.value.caller].member}"
    assert grant["name"] == "${google_cloudfunctions2_function.function[each.value.callee].name}"
    # Every other invoker is Pub/Sub's push identity, the scheduler's, allUsers on the
    # public functions, or the deployer's smoke test: never a function.
    others = {str(b["member"]) for k, b in invokers.items() if k not in callers}
    assert others == {
        "${google_service_account.push.member}",
        "${google_service_account.scheduler.member}",
        "allUsers",
        "serviceAccount:${var.deployer_service_account}",
    }


def test_the_api_publishes_nothing_and_keeps_signing_uploads(derived: dict[str, Any]) -> None:
    assert not [g for g in derived["publish_grants"].values() if g["function"] == "api"]
    buckets = {
        (g["bucket"], g["role"])
        for g in derived["bucket_grants"].values()
        if g["function"] == "api"
    }
    assert buckets == {("ingest", "roles/storage.objectCreator")}
    assert derived["functions"]["api"]["signs_urls"] is True


def test_identity_holds_the_token_and_email_keys_and_the_api_does_not(
    derived: dict[str, Any],
) -> None:
    by_context = {s: set(spec.contexts) for s, spec in TOPOLOGY.secrets.items()}
    assert {"identity"} == by_context["saludtech-jwt-keys"]
    assert "identity" in by_context["saludtech-field-encryption-key"]
    assert by_context["saludtech-hmac-key"] & {"identity", "*"}  # lookup tokens
    mounted: dict[str, set[str]] = {}
    for g in derived["secret_grants"].values():
        mounted.setdefault(g["function"], set()).add(g["secret"])
    # The api gets no secret at all now: it reads no key (test_secret_mounts.py).
    assert not {"saludtech-jwt-keys", "saludtech-field-encryption-key"} & mounted.get("api", set())
    for name, function in derived["functions"].items():
        if function["context"] == "identity":
            assert {
                "saludtech-jwt-keys",
                "saludtech-hmac-key",
                "saludtech-field-encryption-key",
            } <= mounted[name], name
