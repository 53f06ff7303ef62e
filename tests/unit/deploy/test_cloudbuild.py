"""cloudbuild.yaml: checks before the plan, the plan before the deploy, main only deploys."""

from __future__ import annotations

from typing import Any

import yaml

from tests.unit.deploy.terraform_files import REPO_ROOT

PIPELINE: dict[str, Any] = yaml.safe_load((REPO_ROOT / "cloudbuild.yaml").read_text("utf-8"))
STEPS = {step["id"]: step for step in PIPELINE["steps"]}
ORDER = [step["id"] for step in PIPELINE["steps"]]


def script(step_id: str) -> str:
    return " ".join(str(arg) for arg in STEPS[step_id].get("args", []))


def test_every_check_runs_before_the_plan_and_the_plan_before_the_deploy() -> None:
    expected = [
        "lint",
        "test",
        "terraform-fmt",
        "terraform-validate",
        "terraform-plan",
        "deploy-tests",
        "deploy",
        "smoke-test",
    ]
    assert [step for step in ORDER if step in expected] == expected
    assert "make test" in script("test")
    assert "google-cloud-cli-pubsub-emulator" in script("test")
    assert "openjdk" in script("test")


def test_only_main_deploys_and_it_applies_the_reviewed_plan() -> None:
    deploy = script("deploy")
    guard, apply = deploy.index('"$BRANCH_NAME" != "main"'), deploy.index("apply tfplan")
    assert guard < apply
    assert "-out=tfplan" in script("terraform-plan")


def test_the_smoke_test_calls_the_deployed_api_with_and_without_identity() -> None:
    smoke = script("smoke-test")
    assert '"$$public"' in smoke
    assert "print-identity-token" in smoke
    assert "401|403" in smoke
    outputs = script("deploy")
    assert "smoke_public_url" in outputs and "smoke_url" in outputs


def test_the_deploy_tests_run_right_before_the_apply() -> None:
    # What the apply is about to do is checked on the very tree it applies: the topology,
    # the secrets and roles it needs, the APIs, what each function gets.
    assert "python -m pytest" in script("deploy-tests")
    assert "tests/unit/deploy" in script("deploy-tests")
    assert ORDER.index("deploy-tests") == ORDER.index("deploy") - 1
    # `terraform console` evaluates the topology module: the binary of the first step.
    assert "/tools" in script("deploy-tests")
    assert {"name": "tools", "path": "/tools"} in STEPS["deploy-tests"]["volumes"]


def test_every_step_is_one_cloud_build_takes() -> None:
    ids = [step["id"] for step in PIPELINE["steps"]]
    assert len(set(ids)) == len(ids)
    for step in PIPELINE["steps"]:
        assert set(step) <= {"id", "name", "entrypoint", "args", "volumes", "env", "waitFor"}, step
        assert step["name"] and isinstance(step.get("args", []), list), step["id"]
        for volume in step.get("volumes", []):
            assert set(volume) == {"name", "path"}, step["id"]
