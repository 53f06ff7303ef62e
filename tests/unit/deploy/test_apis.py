"""Terraform turns on every Google API that the resources it creates and the functions'
code call: a call to a service that is off fails at run time (a signed URL without the IAM
Credentials API, say), long after the apply succeeded.

What is needed is derived, not listed: from the kinds of resource Terraform creates, from
what the topology asks of the code (signed URLs, schedules, secrets), and from the client
libraries the deployed code imports.
"""

from __future__ import annotations

import re

from infra.local.topology import load_topology, signing_functions
from tests.unit.deploy.terraform_files import (
    PLATFORM_MODULE,
    REPO_ROOT,
    all_terraform_files,
    resources,
)

TOPOLOGY = load_topology()
DOC = (REPO_ROOT / "docs" / "deploy.md").read_text("utf-8")

# The APIs a kind of resource takes (by type prefix); every type Terraform writes has one.
_FUNCTIONS = {
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",  # a gen2 function is a Cloud Run service
    "cloudbuild.googleapis.com",  # which Cloud Build builds
    "artifactregistry.googleapis.com",  # into an image kept there
    "logging.googleapis.com",  # and whose output goes to Cloud Logging
}
RESOURCE_APIS: dict[str, set[str]] = {
    "google_cloudfunctions2_": _FUNCTIONS,
    "google_cloud_run_v2_": {"run.googleapis.com"},
    "google_pubsub_": {"pubsub.googleapis.com"},
    "google_storage_": {"storage.googleapis.com"},
    "google_secret_manager_": {"secretmanager.googleapis.com"},
    "google_firestore_": {"firestore.googleapis.com"},
    "google_cloud_scheduler_": {"cloudscheduler.googleapis.com"},
    "google_service_account": {"iam.googleapis.com"},
    "google_monitoring_": {"monitoring.googleapis.com"},
    "google_logging_": {"logging.googleapis.com"},
    "google_eventarc_": {"eventarc.googleapis.com"},
    "google_kms_": {"cloudkms.googleapis.com"},
    "google_project_iam_": {"cloudresourcemanager.googleapis.com"},
    "google_project_service": {"serviceusage.googleapis.com"},
    "google_project": {"cloudresourcemanager.googleapis.com"},  # the data source
}
# What the deployed code calls (functions/, shared/), by what it imports or calls.
CODE_APIS: dict[str, set[str]] = {
    r"from google\.cloud import firestore|google\.cloud\.firestore": {"firestore.googleapis.com"},
    r"google\.cloud\.pubsub|pubsub_v1": {"pubsub.googleapis.com"},
    r"from google\.cloud import storage|google\.cloud\.storage": {"storage.googleapis.com"},
    # signBlob, for a V4 signed URL signed by a service account without a key.
    r"generate_signed_url\(": {"iamcredentials.googleapis.com"},
}
# Needed, but not turned on by this module, and why.
ELSEWHERE = {
    "serviceusage.googleapis.com": "on before Terraform can turn on anything (docs, bootstrap)",
    "cloudresourcemanager.googleapis.com": "on before the first plan (docs, bootstrap)",
    "cloudkms.googleapis.com": "in the project of the customer-managed key, not managed here",
}


def enabled() -> set[str]:
    service = resources(PLATFORM_MODULE)[("google_project_service", "api")]
    return set(re.findall(r"[a-z0-9-]+\.googleapis\.com", str(service["for_each"])))


def created_types() -> set[str]:
    text = "\n".join(p.read_text("utf-8") for p in all_terraform_files())
    return set(re.findall(r'^(?:resource|data)\s+"(google_\w+)"', text, flags=re.MULTILINE))


def needed_by_resources() -> set[str]:
    needed: set[str] = set()
    for resource_type in created_types():
        prefixes = [p for p in RESOURCE_APIS if resource_type.startswith(p)]
        assert prefixes, f"{resource_type}: say which API it takes in RESOURCE_APIS"
        needed |= RESOURCE_APIS[max(prefixes, key=len)]
    return needed


def needed_by_the_topology() -> set[str]:
    """What the topology asks the code to do, whatever library it does it with."""
    needed = {"firestore.googleapis.com"}  # every context has its database
    if signing_functions(TOPOLOGY):
        needed.add("iamcredentials.googleapis.com")  # signBlob as the function itself
    if TOPOLOGY.schedules:
        needed.add("cloudscheduler.googleapis.com")
    if TOPOLOGY.secrets:
        needed.add("secretmanager.googleapis.com")
    if TOPOLOGY.topics:
        needed.add("pubsub.googleapis.com")
    if TOPOLOGY.buckets:
        needed.add("storage.googleapis.com")
    return needed


def needed_by_the_code() -> set[str]:
    deployed = [*REPO_ROOT.glob("functions/**/*.py"), *REPO_ROOT.glob("shared/**/*.py")]
    text = "\n".join(
        p.read_text("utf-8") for p in deployed if "tests" not in p.relative_to(REPO_ROOT).parts
    )
    return {api for pattern, apis in CODE_APIS.items() if re.search(pattern, text) for api in apis}


def test_terraform_turns_on_every_api_the_resources_and_the_code_use() -> None:
    needed = needed_by_resources() | needed_by_the_topology() | needed_by_the_code()
    missing = needed - enabled() - set(ELSEWHERE)
    assert not missing, f"add to terraform/modules/platform/apis.tf: {sorted(missing)}"


def test_signed_urls_need_the_iam_credentials_api() -> None:
    # The finding behind this file: signBlob was called, its API was off.
    assert "iamcredentials.googleapis.com" in needed_by_the_code() & needed_by_the_topology()
    assert "iamcredentials.googleapis.com" in enabled()


def test_the_apis_turned_on_elsewhere_are_turned_on_by_the_bootstrap() -> None:
    [bootstrap] = re.findall(r"gcloud services enable ((?:[^\n]*\\\n)*[^\n]*)", DOC)
    for api in ("serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com"):
        assert api in bootstrap, api


def test_nothing_is_turned_on_for_nothing() -> None:
    needed = needed_by_resources() | needed_by_the_topology() | needed_by_the_code()
    assert enabled() <= needed, sorted(enabled() - needed)
