"""The platform module's resources iterate the topology, on the parsed HCL (python-hcl2).

test_topology_module.py proves what each topology output holds; these prove that every
output has its resource, and that the per-item settings cannot be dropped on the way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from infra.local.topology import DEFAULT_TOPOLOGY_PATH
from tests.unit.deploy.terraform_files import (
    ENVIRONMENTS,
    PLATFORM_MODULE,
    REPO_ROOT,
    TERRAFORM,
    TOPOLOGY_MODULE,
    locals_of,
    modules_of,
    parse_dir,
    resources,
)

# Each topology output and the resources that must be created from it, one per item.
ITERATED_FROM = {
    ("google_pubsub_topic", "topic"): "topics",
    ("google_pubsub_subscription", "trigger"): "subscriptions",
    ("google_pubsub_subscription", "pull"): "pull_subscriptions",
    ("google_cloudfunctions2_function", "function"): "functions",
    ("google_service_account", "function"): "functions",
    ("google_project_iam_member", "function_firestore"): "functions",
    ("google_storage_bucket", "bucket"): "buckets",
    ("google_storage_notification", "notification"): "bucket_notifications",
    ("google_firestore_database", "context"): "databases",
    ("google_firestore_index", "index"): "firestore_indexes",
    ("google_firestore_field", "inbox_ttl"): "inbox_collections",
    ("google_firestore_field", "ttl"): "ttl_fields",
    ("google_secret_manager_secret", "secret"): "secrets",
    ("google_cloud_scheduler_job", "job"): "schedules",
    ("google_pubsub_topic_iam_member", "function_publishes"): "publish_grants",
    ("google_storage_bucket_iam_member", "function_uses_bucket"): "bucket_grants",
    ("google_secret_manager_secret_iam_member", "function_reads_secret"): "secret_grants",
    ("google_cloud_run_v2_service_iam_member", "function_invokes"): "invoke_grants",
}

PLATFORM = resources(PLATFORM_MODULE)


def topology_output_behind(expression: str) -> str | None:
    """`${local.x}` or `${module.topology.x}` -> x, following the module's local aliases."""
    platform_locals = locals_of(PLATFORM_MODULE)
    for _ in range(3):
        match = re.fullmatch(r"\$\{module\.topology\.(\w+)\}", expression)
        if match:
            return match.group(1)
        alias = re.fullmatch(r"\$\{local\.(\w+)\}", expression)
        if not alias or alias.group(1) not in platform_locals:
            return None
        expression = platform_locals[alias.group(1)]
    return None


@pytest.mark.parametrize(("resource", "output"), ITERATED_FROM.items(), ids=str)
def test_each_topology_item_has_its_resource(resource: tuple[str, str], output: str) -> None:
    assert resource in PLATFORM, f"{resource} is missing from the platform module"
    assert topology_output_behind(PLATFORM[resource].get("for_each", "")) == output


def test_the_iterated_outputs_are_the_topology_modules_locals() -> None:
    outputs: dict[str, Any] = {}
    for entry in parse_dir(TOPOLOGY_MODULE)["output"]:
        outputs.update(entry)
    topology_locals = locals_of(TOPOLOGY_MODULE)
    for output in set(ITERATED_FROM.values()):
        assert outputs[output]["value"] == f"${{local.{output}}}", output
        assert output in topology_locals
    assert topology_locals["topology"] == "${yamldecode(file(var.topology_path))}"
    platform_call = modules_of(PLATFORM_MODULE)["topology"]
    assert platform_call["source"] == "../topology"
    assert platform_call["topology_path"] == "${var.topology_path}"


def test_every_push_subscription_keeps_the_topology_policy() -> None:
    trigger = PLATFORM[("google_pubsub_subscription", "trigger")]
    # Static blocks, not `dynamic`: no item can lose its dead-letter or retry policy.
    [dead_letter] = trigger["dead_letter_policy"]
    assert dead_letter["dead_letter_topic"] == (
        "${google_pubsub_topic.topic[each.value.dead_letter_topic].id}"
    )
    assert dead_letter["max_delivery_attempts"] == "${each.value.max_delivery_attempts}"
    [retry] = trigger["retry_policy"]
    assert "each.value.min_backoff_seconds" in retry["minimum_backoff"]
    assert "each.value.max_backoff_seconds" in retry["maximum_backoff"]
    assert trigger["filter"] == "${each.value.filter}"
    assert trigger["ack_deadline_seconds"] == "${each.value.ack_deadline_seconds}"
    [push] = trigger["push_config"]
    [oidc] = push["oidc_token"]
    assert oidc["service_account_email"] == "${google_service_account.push.email}"
    assert oidc["audience"] == "${local.function_uri[each.value.function]}"


def test_every_subscription_has_a_dead_letter_policy_or_is_held_for_people() -> None:
    held = {"pull_subscriptions", None}  # None: the keep- subscriptions of unconsumed topics
    subscriptions = {k: v for k, v in PLATFORM.items() if k[0] == "google_pubsub_subscription"}
    assert len(subscriptions) >= 2
    for key, body in subscriptions.items():
        if "dead_letter_policy" in body:
            continue
        # Without a dead-letter policy: nobody pushes from it, a person pulls.
        assert "push_config" not in body, key
        assert topology_output_behind(body["for_each"]) in held, key
    keep = PLATFORM[("google_pubsub_subscription", "unconsumed_dead_letters")]
    assert "local.dead_letter_topics" in keep["for_each"]


def test_the_pubsub_agent_may_dead_letter_every_subscription() -> None:
    publisher = PLATFORM[("google_pubsub_topic_iam_member", "pubsub_agent_dead_letters")]
    assert publisher["for_each"] == "${local.dead_letter_topics}"
    assert publisher["role"] == "roles/pubsub.publisher"
    acks = PLATFORM[("google_pubsub_subscription_iam_member", "pubsub_agent_acks")]
    assert acks["for_each"] == "${google_pubsub_subscription.trigger}"
    assert acks["role"] == "roles/pubsub.subscriber"
    agent = locals_of(PLATFORM_MODULE)["pubsub_agent"]
    assert "gcp-sa-pubsub.iam.gserviceaccount.com" in agent


def test_every_function_runs_as_its_own_service_account() -> None:
    function = PLATFORM[("google_cloudfunctions2_function", "function")]
    [service] = function["service_config"]
    assert service["service_account_email"] == (
        "${google_service_account.function[each.key].email}"
    )
    account = PLATFORM[("google_service_account", "function")]
    assert account["account_id"] == "${each.value.account_id}"
    assert account["for_each"] == function["for_each"]


def test_function_privileges_are_granted_per_function_not_per_project() -> None:
    project_roles = {
        key: body for key, body in PLATFORM.items() if key[0] == "google_project_iam_member"
    }
    text = " ".join(
        str(body.get("role")) + str(body.get("for_each")) for body in project_roles.values()
    )
    assert "roles/owner" not in text and "roles/editor" not in text
    assert "pubsub" not in text and "objectUser" not in text and "objectAdmin" not in text
    # The builder reads function sources, not the image buckets.
    builder = project_roles[("google_project_iam_member", "builder")]
    assert "gcf-v2-sources-" in str(builder["for_each"]) and builder["dynamic"][0]["condition"]
    firestore = project_roles[("google_project_iam_member", "function_firestore")]
    assert "roles/datastore.viewer" in firestore["role"]
    assert "roles/datastore.user" in firestore["role"]
    # On the project, but only on the function's own database (test_context_data.py).
    [condition] = firestore["condition"]
    assert "google_firestore_database.context[each.value.context]" in condition["expression"]


def test_only_public_functions_are_open_to_all_users() -> None:
    open_to_all = [
        key for key, body in PLATFORM.items() if "allUsers" in str(body.get("member", ""))
    ]
    assert open_to_all == [("google_cloud_run_v2_service_iam_member", "public")]
    assert "f.public" in PLATFORM[open_to_all[0]]["for_each"]


def test_the_source_zip_is_named_by_its_hash() -> None:
    source = PLATFORM[("google_storage_bucket_object", "source")]
    assert "data.archive_file.source.output_sha256" in source["name"]
    [build] = PLATFORM[("google_cloudfunctions2_function", "function")]["build_config"]
    [storage] = build["source"][0]["storage_source"]
    assert storage["object"] == "${google_storage_bucket_object.source.name}"


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
def test_each_environment_deploys_the_repository_topology(environment: Path) -> None:
    platform = modules_of(environment)["platform"]
    assert platform["source"] == "../../modules/platform"
    assert platform["environment"] == environment.name

    def resolve(expression: str) -> Path:
        return Path(expression.replace("${path.root}", str(environment))).resolve()

    assert resolve(platform["topology_path"]) == DEFAULT_TOPOLOGY_PATH
    assert resolve(platform["source_dir"]) == REPO_ROOT
    [terraform] = parse_dir(environment)["terraform"]
    assert "gcs" in terraform["backend"][0]


def test_dev_and_prod_exist_and_only_prod_protects_data() -> None:
    names = {p.name for p in ENVIRONMENTS}
    assert {"dev", "prod"} <= names
    protection = {p.name: modules_of(p)["platform"]["deletion_protection"] for p in ENVIRONMENTS}
    assert protection == {**{n: False for n in names}, "prod": True}


def test_every_checkov_skip_says_why() -> None:
    skips = [
        line.strip()
        for path in TERRAFORM.rglob("*.tf")
        for line in path.read_text(encoding="utf-8").splitlines()
        if "checkov:skip" in line
    ]
    assert skips, "the reasons of the checkov skips are tested here: keep this test honest"
    for skip in skips:
        match = re.fullmatch(r"#checkov:skip=CKV2?_[A-Z]+_\d+:(.+)", skip)
        assert match and len(match.group(1).strip()) >= 30, skip


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The archive provider's doublestar globs: `**` crosses folders, `*` does not."""
    parts = re.split(r"(\*\*/|\*\*|\*)", pattern)
    table = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*"}
    return re.compile("".join(table.get(p, re.escape(p)) for p in parts))


def test_the_source_zip_holds_the_deployed_code_and_nothing_else() -> None:
    [variable] = [
        entry["source_excludes"]
        for entry in parse_dir(PLATFORM_MODULE)["variable"]
        if "source_excludes" in entry
    ]
    excludes = [glob_regex(p) for p in variable["default"]]
    files: list[str] = []
    for folder, subfolders, names in os.walk(REPO_ROOT):
        relative = Path(folder).relative_to(REPO_ROOT).as_posix().removeprefix(".")
        prefix = f"{relative}/".lstrip("/")
        files += [prefix + n for n in names]
        # Do not walk what is excluded whole (.venv, .git): the answer is the same.
        subfolders[:] = [
            d for d in subfolders if not any(e.fullmatch(f"{prefix}{d}/x") for e in excludes)
        ]
    zipped = {f for f in files if not any(e.fullmatch(f) for e in excludes)}
    assert {"main.py", "requirements.txt"} <= zipped
    runtime = [f for f in files if f.startswith(("functions/", "shared/")) and f.endswith(".py")]
    assert runtime and all(f in zipped for f in runtime)
    for left_out in ("tests/", "terraform/", ".venv/", ".git/", "infra/", "docs/"):
        assert not any(f.startswith(left_out) for f in zipped), left_out
    assert "pyproject.toml" not in zipped


def test_ttl_policies_expire_on_the_field_they_name_without_an_index() -> None:
    for name in ("inbox_ttl", "ttl"):
        ttl = PLATFORM[("google_firestore_field", name)]
        assert "ttl_config" in ttl and "index_config" in ttl, name
    # inbox_collections is context -> collection; ttl_fields items name both.
    assert PLATFORM[("google_firestore_field", "inbox_ttl")]["collection"] == "${each.value}"
    ttl = PLATFORM[("google_firestore_field", "ttl")]
    assert ttl["collection"] == "${each.value.collection}"
    assert ttl["field"] == "${each.value.field}"
