"""What Terraform grants each function, computed by Terraform itself, for the local cloud mode.

terraform/modules/topology has no provider, no resource and no child module, so
`terraform console` evaluates it offline, without `init`: the grants the cloud mode enforces
(infra/local/stack.py `cloud_mode`) and those the deploy tests check
(tests/unit/deploy) are the same numbers, computed once, by the same HCL.

Per function: its Firestore database, the topics it may publish to, its buckets and roles, the
HTTP functions it may invoke, whether it signs URLs, its service account id, and the secrets
mounted into it (environment variable -> secret id). `FunctionGrants.to_json()` is what a
cloud-mode function reads from SALUDTECH_GRANTS (shared/adapters/grants.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.local.topology import REPO_ROOT

TOPOLOGY_MODULE = REPO_ROOT / "terraform" / "modules" / "topology"
LOCALS = (
    "functions", "publish_grants", "bucket_grants", "secret_grants", "invoke_grants",
    "front_door", "databases", "secrets", "buckets", "subscriptions", "topics", "contexts",
)  # fmt: skip


class TerraformUnavailable(RuntimeError):
    """terraform is not on PATH: `make deploy-check` says how to install it."""


def evaluate(
    topology_path: Path, bucket_prefix: str, names: tuple[str, ...] | list[str] = LOCALS
) -> dict[str, Any]:
    """The named locals of the topology module, as Terraform computes them for this file."""
    terraform = shutil.which("terraform")
    if terraform is None:
        raise TerraformUnavailable(
            "terraform is not installed (`make deploy-check` says how): the cloud mode and "
            "the deploy tests read the grants Terraform computes"
        )
    expression = "jsonencode({" + ", ".join(f"{n} = local.{n}" for n in sorted(names)) + "})\n"
    completed = subprocess.run(
        [
            terraform,
            f"-chdir={TOPOLOGY_MODULE}",
            "console",
            f"-var=topology_path={topology_path}",
            f"-var=bucket_prefix={bucket_prefix}",
        ],
        input=expression,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # No version check against the network; no prompt.
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_INPUT": "0"},
    )
    if completed.returncode != 0:
        raise RuntimeError(f"terraform console failed: {completed.stderr.strip()}")
    # console prints the JSON document as an HCL string literal.
    decoded: dict[str, Any] = json.loads(json.loads(completed.stdout.strip()))
    return decoded


@dataclass(frozen=True)
class FunctionGrants:
    """One function's identity and everything IAM lets it do (nothing else)."""

    function: str
    target: str
    account_id: str
    database: str | None
    publishes: frozenset[str] = frozenset()
    # Physical bucket name -> role (roles/storage.objectViewer, objectCreator, objectUser).
    buckets: dict[str, str] = field(default_factory=dict)
    invokes: frozenset[str] = frozenset()  # HTTP function names (the topology's keys)
    signs_urls: bool = False
    secrets: dict[str, str] = field(default_factory=dict)  # env variable -> secret id

    def to_state(self) -> dict[str, Any]:
        return {
            "function": self.function, "target": self.target, "account_id": self.account_id,
            "database": self.database, "publishes": sorted(self.publishes),
            "buckets": self.buckets, "invokes": sorted(self.invokes),
            "signs_urls": self.signs_urls, "secrets": self.secrets,
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FunctionGrants:
        return cls(
            **{
                **state,
                "publishes": frozenset(state["publishes"]),
                "invokes": frozenset(state["invokes"]),
            }
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "function": self.function,
                "service_account": self.account_id,
                "databases": [self.database] if self.database else [],
                "topics": sorted(self.publishes),
                "buckets": dict(sorted(self.buckets.items())),
                "invokes": sorted(self.invokes),
                "signs_urls": self.signs_urls,
                "secrets": sorted(self.secrets),
            },
            separators=(",", ":"),
        )


def grants_of(derived: dict[str, Any], bucket_prefix: str) -> dict[str, FunctionGrants]:
    """Every function's grants, from the evaluated topology module."""
    publishes: dict[str, set[str]] = {}
    for grant in derived["publish_grants"].values():
        publishes.setdefault(grant["function"], set()).add(grant["topic"])
    buckets: dict[str, dict[str, str]] = {}
    for grant in derived["bucket_grants"].values():
        physical = f"{bucket_prefix}-{grant['bucket']}"
        buckets.setdefault(grant["function"], {})[physical] = grant["role"]
    invokes: dict[str, set[str]] = {}
    for grant in derived["invoke_grants"].values():
        invokes.setdefault(grant["caller"], set()).add(grant["callee"])
    secrets: dict[str, dict[str, str]] = {}
    for grant in derived["secret_grants"].values():
        secrets.setdefault(grant["function"], {})[grant["env"]] = grant["secret"]
    return {
        name: FunctionGrants(
            function=name,
            target=f["target"],
            account_id=f["account_id"],
            database=f["database"],
            publishes=frozenset(publishes.get(name, set())),
            buckets=buckets.get(name, {}),
            invokes=frozenset(invokes.get(name, set())),
            signs_urls=bool(f["signs_urls"]),
            secrets=secrets.get(name, {}),
        )
        for name, f in derived["functions"].items()
    }


def terraform_grants(topology_path: Path, bucket_prefix: str) -> dict[str, FunctionGrants]:
    return grants_of(evaluate(topology_path, bucket_prefix), bucket_prefix)


def cloud_settings(
    grants: FunctionGrants,
    *,
    project_id: str,
    bucket_prefix: str,
    functions_url: str,
    public_target: str | None,
) -> dict[str, str]:
    """The plain variables terraform/modules/platform/functions.tf sets on the function, with
    the stack's URLs for the cloud's (`tests/unit/deploy/test_cloud_mode_env.py` compares the
    two): the door template keeps the local host's `/<target>` shape, which the router serves.
    """
    settings = {
        "SALUDTECH_DOOR_URL_TEMPLATE": f"{functions_url}/{{target}}",
        # var.function_environment of both environment roots.
        "SALUDTECH_PAYMENT_GATEWAY": "stripe",
        "GOOGLE_CLOUD_PROJECT": project_id,
        "SALUDTECH_ENVIRONMENT": "cloud",
        "SALUDTECH_BUCKET_PREFIX": bucket_prefix,
        "LOG_EXECUTION_ID": "true",
    }
    if public_target is not None:  # the front door's (module.topology.front_door)
        settings["SALUDTECH_PUBLIC_URL"] = f"{functions_url}/{public_target}"
    if grants.signs_urls:
        settings["SALUDTECH_API_SIGNING_SERVICE_ACCOUNT"] = (
            f"{grants.account_id}@{project_id}.iam.gserviceaccount.com"
        )
    return settings
