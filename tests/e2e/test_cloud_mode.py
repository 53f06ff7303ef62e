"""The stack's cloud mode: every function in its own process with only what Terraform gives
it (infra/local/cloud_mode.py), so what IAM would refuse in the cloud fails here too.

One stack of its own (free ports, its own state directory): the whole flow through /v1 with
accounts made as identity makes them, then denials, each failing as the cloud fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local.cloud_mode import free_ports
from infra.local.grants import TerraformUnavailable
from infra.local.mail import stored_messages
from infra.local.processes import spawn, stop_groups, wait_http_ready
from infra.local.stack import LocalStack
from infra.local.topology import REPO_ROOT
from infra.samples.experts import SAMPLE_EXPERTS
from infra.samples.synthetic_dicom import make_study, write_study
from shared.adapters.local_id_tokens import PLATFORM_SUBJECT, sign
from tests.unit.subscriptions.factories import CLIENT

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def cloud_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    try:
        stack = LocalStack(
            ports="free", project_id="cloud-mode-e2e", bucket_prefix="cloud-mode-e2e",
            state_dir=tmp_path_factory.mktemp("cloud-mode"), cloud_mode=True,
        )  # fmt: skip
    except TerraformUnavailable as missing:
        pytest.skip(str(missing))
    with stack:
        # The test is a client of the emulators, as `infra.local env` makes a shell one.
        saved = dict(os.environ)
        os.environ.update({k: v for k, v in stack.env.items() if "EMULATOR" in k})
        try:
            yield stack
        finally:
            os.environ.clear()
            os.environ.update(saved)


def until(probe: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


def create_account(stack: LocalStack, role: str, scope: str) -> str:
    """tools/accounts.py with identity's environment and grants: its database, its keys."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "-m", "tools.accounts", "create", "--role", role, "--username",
         username, "--email", f"{username}@example.com", "--scope", scope, "--password-stdin"],
        input=PASSWORD + "\n", env=stack.function_env("identity-commands-http"),
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return username


def login(stack: LocalStack, username: str) -> dict[str, str]:
    answer = requests.post(
        f"{stack.functions_url}/api_http/v1/auth/login",
        json={"username": username, "password": PASSWORD},
        headers={"X-Forwarded-For": f"10.{uuid.uuid4().int % 250}.0.1"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def platform_token(stack: LocalStack, target: str, subject: str = PLATFORM_SUBJECT) -> str:
    assert stack.cloud is not None
    return sign(stack.cloud.token_key.encode(), subject, f"{stack.functions_url}/{target}")


def test_the_whole_flow_runs_on_terraforms_grants_alone(
    cloud_stack: LocalStack, tmp_path: Path
) -> None:
    stack, api = cloud_stack, f"{cloud_stack.functions_url}/api_http"
    from google.cloud import storage  # type: ignore[attr-defined]

    # Experts, through the data services' door with the deployer's identity (the platform).
    door = f"{stack.functions_url}/data_services_commands_http/experts"
    for expert in SAMPLE_EXPERTS:
        token = platform_token(stack, "data_services_commands_http")
        answer = requests.post(
            door, json=expert, timeout=60,
            headers={"Idempotency-Key": f"seed-{expert['expert_code']}",
                     "Authorization": f"Bearer {token}"},
        )  # fmt: skip
        assert answer.status_code in (200, 202), answer.text
    # A center uploads one file through a URL the api signs (only the api may sign), and
    # one straight into the ingest bucket; each notification is pushed without payload.
    center = f"center-{uuid.uuid4().hex[:8]}"
    center_auth = login(stack, create_account(stack, "center", center))
    study = make_study("DOE^JANE", n_series=1, n_instances=2, with_sr=False)
    ingest = storage.Client(project=stack.project_id).bucket(stack.bucket("ingest"))
    first, second = write_study(study, tmp_path)
    grant = requests.post(
        f"{api}/v1/uploads", json={"file_name": "scan.dcm"}, headers=center_auth, timeout=30
    )
    assert grant.status_code == 201, grant.text
    signed = grant.json()
    put = requests.put(
        signed["url"], data=first.read_bytes(), headers=signed["headers"], timeout=30
    )
    assert put.status_code in (200, 201), put.text
    ingest.blob(f"{center}/uploads/{second.name}").upload_from_filename(str(second))

    def catalogued() -> list[dict[str, Any]]:
        page = requests.get(f"{api}/v1/images", headers=center_auth, timeout=30).json()
        items = list(page.get("items") or [])
        return items if len(items) == 2 else []  # both uploads, however they came

    assert {i["data_source"] for i in until(catalogued)} == {center}
    # A client buys PRO and pays; the saga completes and the client is told it is ready.
    code = uuid.uuid4().hex[:8]
    client_auth = login(stack, create_account(stack, "client", code))
    email = f"ready-{code}@example.com"
    accepted = requests.post(
        f"{api}/v1/subscriptions", headers=client_auth, timeout=30,
        json={"client": {**CLIENT, "code": code, "email": email}, "plan": "PRO"},
    )  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    links, subscription_id = accepted.json()["links"], accepted.json()["subscription_id"]

    def settled() -> str | None:
        status = requests.get(api + links["command"], headers=client_auth, timeout=30).json()
        return None if status["status"] == "pending" else str(status["status"])

    assert until(settled) == "applied"
    paid = requests.post(
        f"{api}/v1/subscriptions/{subscription_id}/payments", headers=client_auth,
        json={"card_token": "tok_visa"}, timeout=30,
    )  # fmt: skip
    assert paid.status_code == 202, paid.text

    def completed() -> bool:
        sagas = requests.get(
            f"{api}/v1/sagas", params={"subscription_id": subscription_id},
            headers=client_auth, timeout=30,
        ).json()  # fmt: skip
        return any(s.get("status") == "COMPLETED" for s in sagas.get("items") or [])

    assert until(completed, timeout=150)

    def told() -> list[str]:
        mails = [m for _, m in stored_messages(stack.state_dir / "mail") if email in m["To"]]
        return [str(m["Subject"]) for m in mails]

    subjects = until(lambda: [s for s in told() if "ready" in s.lower()], timeout=60)
    assert subjects, told()
    # Every /v1 GET without a path parameter answers each role without a 5xx.
    operator_auth = login(stack, create_account(stack, "operator", ""))
    spec = requests.get(f"{api}/v1/openapi.json", timeout=30).json()
    gets = [p for p, ops in spec["paths"].items() if "get" in ops and "{" not in p]
    assert gets
    for path in gets:
        for auth in (client_auth, center_auth, operator_auth):
            with requests.get(f"{api}{path}", headers=auth, timeout=30, stream=True) as answer:
                assert answer.status_code < 500, (path, answer.status_code)


def test_doors_refuse_callers_without_an_invoker_grant(cloud_stack: LocalStack) -> None:
    stack = cloud_stack
    assert stack.cloud is not None
    door = f"{stack.functions_url}/identity_queries_http/"
    assert requests.get(door, timeout=30).status_code == 403  # no ID token
    # sagas-tick holds no invoker role on identity's doors; the api does.
    tick = stack.cloud.grants["sagas-tick"].account_id
    token = platform_token(stack, "identity_queries_http", subject=tick)
    refused = requests.get(door, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert refused.status_code == 403 and "invoker" in refused.text
    # A token for another door's URL is no token for this one.
    other = platform_token(stack, "sagas_queries_http")
    wrong = requests.get(door, headers={"Authorization": f"Bearer {other}"}, timeout=30)
    assert wrong.status_code == 403 and "audience" in wrong.text


def _edited(
    stack: LocalStack, function: str, edit: Callable[[dict[str, Any]], None]
) -> dict[str, str]:
    env = stack.function_env(function)
    grants = json.loads(env["SALUDTECH_GRANTS"])
    edit(grants)
    env["SALUDTECH_GRANTS"] = json.dumps(grants)
    return env


def test_a_function_fails_on_what_it_was_not_granted(
    cloud_stack: LocalStack, tmp_path: Path
) -> None:
    """The subscriptions command door, started once per grant taken away."""
    stack = cloud_stack
    assert stack.cloud is not None
    target = stack.cloud.grants["subscriptions-commands-http"].target
    cases: dict[str, dict[str, str]] = {
        "topic": _edited(stack, "subscriptions-commands-http", lambda g: g.update(topics=[])),
        "database": _edited(stack, "subscriptions-commands-http", lambda g: g.update(databases=[])),
    }
    # A secret not mounted: identity's door without its lookup key cannot register anyone.
    unmounted = stack.function_env("identity-commands-http")
    del unmounted["SALUDTECH_HMAC_KEY"]
    ports = dict(zip([*cases, "secret"], free_ports(3), strict=True))
    processes = {
        name: spawn(
            f"denied-{name}",
            [
                sys.executable,
                "-m",
                "infra.local.functions_host",
                "--port",
                str(ports[name]),
                "--target",
                target if name != "secret" else "identity_commands_http",
            ],
            env,
            tmp_path,
            cwd=REPO_ROOT,
        )
        for name, env in [*cases.items(), ("secret", unmounted)]
    }
    try:
        for name, process in processes.items():
            wait_http_ready(process, f"http://127.0.0.1:{ports[name]}/__ready__", 120)
        body = {"client": {**CLIENT, "code": uuid.uuid4().hex[:8]}, "plan": "PRO"}
        for name in cases:
            answer = requests.post(
                f"http://127.0.0.1:{ports[name]}/subscriptions", json=body, timeout=60,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
            assert answer.status_code == 500, (name, answer.status_code, answer.text)
        assert "access_denied" in processes["topic"].log_path.read_text()
        assert "subscriptions-commands" in processes["topic"].log_path.read_text()
        assert "saludtech-subscriptions" in processes["database"].log_path.read_text()
        registered = requests.post(
            f"http://127.0.0.1:{ports['secret']}/sessions",
            json={"username": "nokey", "password": PASSWORD},
            timeout=60,
        )
        assert registered.status_code >= 400
        assert "SALUDTECH_HMAC_KEY" in processes["secret"].log_path.read_text()
    finally:
        stop_groups(list(processes.values()))
