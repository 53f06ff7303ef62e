"""The deployer may write everything Terraform writes.

roles/editor creates the resources but holds no `setIamPolicy`: every IAM resource of the
platform (a grant on a topic, a bucket, a secret, a function, a service account, the
project) needs a role of its own, and `apply` stops half-way on the first one missing. The
deployer's roles are those docs/deploy.md grants it (the pipeline runs as that account);
NEEDS says, for each kind of resource that roles/editor does not cover, the permission it
takes and the predefined roles holding it. A new kind of IAM resource in terraform/ fails
here until it has its line, and a line no deployer role covers fails until the docs grant it.
"""

from __future__ import annotations

import re

from tests.unit.deploy.terraform_files import REPO_ROOT, TERRAFORM, all_terraform_files

DOC = (REPO_ROOT / "docs" / "deploy.md").read_text("utf-8")
IAM_RESOURCE = re.compile(r"^google_\w+_iam_(member|binding|policy|audit_config)$")

_PROJECT_IAM = (
    "resourcemanager.projects.setIamPolicy",
    {"roles/owner", "roles/resourcemanager.projectIamAdmin", "roles/iam.securityAdmin"},
)
_ACT_AS = ("iam.serviceAccounts.actAs", {"roles/owner", "roles/iam.serviceAccountUser"})

# resource type -> (permission, roles granting it)
NEEDS: dict[str, tuple[str, set[str]]] = {
    "google_project_iam_member": _PROJECT_IAM,
    "google_project_iam_binding": _PROJECT_IAM,
    "google_project_iam_policy": _PROJECT_IAM,
    "google_project_iam_audit_config": _PROJECT_IAM,
    "google_pubsub_topic_iam_member": (
        "pubsub.topics.setIamPolicy",
        {"roles/owner", "roles/pubsub.admin"},
    ),
    "google_pubsub_subscription_iam_member": (
        "pubsub.subscriptions.setIamPolicy",
        {"roles/owner", "roles/pubsub.admin"},
    ),
    # Owner holds no storage.buckets.setIamPolicy: Cloud Storage's own admin role does.
    "google_storage_bucket_iam_member": ("storage.buckets.setIamPolicy", {"roles/storage.admin"}),
    "google_secret_manager_secret_iam_member": (
        "secretmanager.secrets.setIamPolicy",
        {"roles/owner", "roles/secretmanager.admin"},
    ),
    "google_service_account_iam_member": (
        "iam.serviceAccounts.setIamPolicy",
        {"roles/owner", "roles/iam.serviceAccountAdmin", "roles/iam.securityAdmin"},
    ),
    # A gen2 function is a Cloud Run service: its invoker grant is Cloud Run's.
    "google_cloud_run_v2_service_iam_member": (
        "run.services.setIamPolicy",
        {"roles/owner", "roles/run.admin"},
    ),
    "google_cloudfunctions2_function_iam_member": (
        "cloudfunctions.functions.setIamPolicy",
        {"roles/owner", "roles/cloudfunctions.admin"},
    ),
    # On the customer-managed key, in its own project (docs/deploy.md grants it there).
    "google_kms_crypto_key_iam_member": (
        "cloudkms.cryptoKeys.setIamPolicy",
        {"roles/owner", "roles/cloudkms.admin"},
    ),
    # Not IAM, but beyond roles/editor as well.
    "google_firestore_database": (
        "datastore.databases.create",
        {"roles/owner", "roles/datastore.owner"},
    ),
    # What runs as, or mints tokens of, a service account the deployer does not hold.
    "google_cloudfunctions2_function": _ACT_AS,
    "google_cloud_scheduler_job": _ACT_AS,
    "google_pubsub_subscription": _ACT_AS,
}


def resource_types() -> set[str]:
    text = "\n".join(p.read_text("utf-8") for p in all_terraform_files())
    return set(re.findall(r'^resource\s+"(google_\w+)"', text, flags=re.MULTILINE))


def deployer_roles() -> set[str]:
    """The roles docs/deploy.md grants the deployer: the project loop, and the key's."""
    [loop] = re.findall(r"for role in (.*?); do\n(.*?)\ndone", DOC, flags=re.DOTALL)
    roles_text, body = loop
    assert 'gcloud projects add-iam-policy-binding "$PROJECT"' in body
    assert '--member="serviceAccount:$DEPLOYER"' in body
    roles = set(re.findall(r"roles/[\w.]+", roles_text))
    key = re.findall(
        r'gcloud kms keys add-iam-policy-binding "\$KMS_KEY" '
        r'--member="serviceAccount:\$DEPLOYER" \\\n\s+--role=(roles/[\w.]+)',
        DOC,
    )
    return roles | set(key)


def test_the_deployer_creates_with_editor() -> None:
    assert "roles/editor" in deployer_roles()


def test_every_iam_resource_type_terraform_writes_is_in_the_table() -> None:
    iam = {t for t in resource_types() if IAM_RESOURCE.match(t)}
    assert iam, f"no IAM resource found under {TERRAFORM}: keep this test honest"
    missing = iam - set(NEEDS)
    assert not missing, f"say which permission and roles these need: {sorted(missing)}"


def test_the_deployer_holds_a_role_for_every_resource_type_that_needs_one() -> None:
    roles = deployer_roles()
    for resource_type in sorted(resource_types() & set(NEEDS)):
        permission, granting = NEEDS[resource_type]
        assert roles & granting, (
            f"{resource_type} needs {permission}: grant the deployer one of "
            f"{sorted(granting)} in docs/deploy.md"
        )


def test_the_deployer_is_not_an_owner() -> None:
    # Owner would cover everything above, and everything else too.
    assert "roles/owner" not in deployer_roles()
