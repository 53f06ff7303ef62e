"""The local stack itself: it starts, creates the topology, serves, and stops cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from infra.local.gcs_front import RELAY_SUFFIX
from infra.local.processes import group_members
from infra.local.stack import LocalStack
from infra.local.topology import load_topology
from tests.conftest import PROBE_SOURCE, PROBE_TOPOLOGY, ProbeStack, unique_names

pytestmark = pytest.mark.emulators

REPO = Path(__file__).resolve().parents[2]


def test_context_manager_starts_everything_and_leaves_no_process(tmp_path: Path) -> None:
    names = unique_names("life")
    with LocalStack(
        ports="free",
        project_id=names["project_id"],
        bucket_prefix=names["bucket_prefix"],
        source=PROBE_SOURCE,
        topology=PROBE_TOPOLOGY,
        state_dir=tmp_path,
    ) as stack:
        parts = stack.status()
        assert {p.name for p in parts} == {
            "pubsub",
            "firestore",
            "gcs",
            "functions",
            "bridge",
            "mail",
        }
        assert all(p.alive and p.ready for p in parts), parts
        assert stack.ready_seconds is not None
        pgids = [p.pgid for p in parts]
        # The emulators run as JVMs below their start scripts: they must be in the groups.
        members = [pid for pgid in pgids for pid in group_members(pgid)]
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in members]
        assert sum(b"java" in c.split(b"\0")[0] for c in commands) == 2
    assert [pgid for pgid in pgids if group_members(pgid)] == []


def test_topology_is_created(probe_stack: ProbeStack) -> None:
    stack = probe_stack.stack
    base = f"http://{stack.pubsub_host}/v1/projects/{stack.project_id}"
    topics = {t["name"].rsplit("/", 1)[1] for t in requests.get(f"{base}/topics").json()["topics"]}
    topology = load_topology(PROBE_TOPOLOGY)
    # Besides the topology's: the private topic fake-gcs-server publishes to, which the
    # front relays without payload (gcs_front.NotificationRelay).
    relayed = {t for t in topics if t.endswith(RELAY_SUFFIX)}
    assert topics - relayed == set(topology.topics)
    assert {t.removesuffix(RELAY_SUFFIX) for t in relayed} <= set(topology.topics)
    subscriptions = {
        s["name"].rsplit("/", 1)[1]
        for s in requests.get(f"{base}/subscriptions").json()["subscriptions"]
    }
    assert {
        "trigger-probe-record",
        "trigger-probe-filtered",
        "trigger-probe-gcs",
        "tap-probe-events",
    } <= subscriptions
    listed = requests.get(f"{stack.gcs_url}/storage/v1/b", params={"project": stack.project_id})
    buckets = {b["name"] for b in listed.json()["items"]}
    assert {stack.bucket("drop"), stack.bucket("other")} <= buckets
    status = requests.get(f"{stack.bridge_url}/status").json()
    assert all(s["running"] for s in status["subscriptions"])
    assert len(status["subscriptions"]) == len(topology.trigger_subscriptions())


def test_functions_host_serves_every_target_by_path(probe_stack: ProbeStack) -> None:
    stack = probe_stack.stack
    index = requests.get(f"{stack.functions_url}/").json()
    assert "probe_http" in index["targets"] and "probe_record" in index["targets"]
    assert "probe_missing" in index["skipped"]  # named by the topology, absent from source
    answer = requests.post(f"{stack.functions_url}/probe_http/some/path", data=b"hi")
    assert answer.status_code == 200
    assert answer.json()["path"] == "/some/path"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.local", *args],
        check=False,
        cwd=REPO,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _exports(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            values[key] = value.strip("'")
    return values


def test_cli_detached_stack_works_with_gcloud_and_stops_cleanly(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    state = tmp_path / "state"
    names = unique_names("cli")
    env = {**os.environ, "SALUDTECH_PROBE_DIR": str(records)}
    started = _cli(
        "up", "--detach", "--free-ports", "--state-dir", str(state),
        "--project", names["project_id"], "--bucket-prefix", names["bucket_prefix"],
        "--source", str(PROBE_SOURCE), "--topology", str(PROBE_TOPOLOGY),
        env=env,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr + started.stdout
    pgids = [
        p["pgid"] for p in json.loads((state / "stack.json").read_text())["processes"].values()
    ]
    try:
        assert _cli("status", "--state-dir", str(state)).returncode == 0
        exported = _cli("env", "--state-dir", str(state))
        gcloud_env = {**os.environ, **_exports(exported.stdout)}
        assert gcloud_env["CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB"].startswith("http://127.0.0.1:")

        case = uuid.uuid4().hex
        published = subprocess.run(
            ["gcloud", "pubsub", "topics", "publish", "probe-in",
             '--message={"via": "gcloud"}', f"--attribute=case={case}"],
            env=gcloud_env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert published.returncode == 0, published.stderr
        upload = tmp_path / "scan.dcm"
        upload.write_bytes(b"not really dicom")
        object_name = f"center-1/{case}.dcm"
        copied = subprocess.run(
            ["gcloud", "storage", "cp", str(upload),
             f"gs://{names['bucket_prefix']}-drop/{object_name}"],
            env=gcloud_env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert copied.returncode == 0, copied.stderr
        probe = ProbeStack(LocalStack.attach(state), records)
        assert len(probe.wait_for("probe_record", case, 1)) == 1
        assert len(probe.wait_for("probe_gcs", object_name, 1)) == 1

        # `tail` prints an event published on an *-events topic, as a CloudEvent.
        tail = subprocess.Popen(
            [sys.executable, "-m", "infra.local", "tail", "--state-dir", str(state),
             "--count", "1", "--timeout", "30"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            assert tail.stdout is not None
            assert "tailing probe-events" in tail.stdout.readline()
            event = subprocess.run(
                ["gcloud", "pubsub", "topics", "publish", "probe-events",
                 '--message={"plan": "PRO"}',
                 f"--attribute=ce-type=co.saludtech.test.created.v1,ce-id={case},"
                 "ce-subject=sub-1,ce-source=tests,ce-specversion=1.0"],
                env=gcloud_env, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert event.returncode == 0, event.stderr
            printed, _ = tail.communicate(timeout=40)
        finally:
            tail.kill()
        assert "co.saludtech.test.created.v1" in printed and "subject=sub-1" in printed
        assert case in printed and '"plan": "PRO"' in printed
    finally:
        stopped = _cli("down", "--state-dir", str(state))
    assert stopped.returncode == 0, stopped.stderr
    assert [pgid for pgid in pgids if group_members(pgid)] == []
    assert not (state / "stack.json").exists()


def test_missing_prerequisite_exits_3_with_the_install_command(tmp_path: Path) -> None:
    env = {**os.environ, "CLOUDSDK_ROOT_DIR": str(tmp_path)}  # an SDK without emulators
    answer = _cli("up", "--free-ports", "--state-dir", str(tmp_path), env=env)
    assert answer.returncode == 3
    assert "pubsub" in answer.stderr and "install" in answer.stderr


def test_up_registers_the_sample_experts_once(tmp_path: Path) -> None:
    """A fresh stack can sell PRO: `up` registers the sample experts through the data
    services' door, and seeding again (a restart, or the script by hand) adds nobody."""
    from infra.samples.experts import SAMPLE_EXPERTS

    state = tmp_path / "state"
    names = unique_names("seed")
    started = _cli(
        "up", "--detach", "--free-ports", "--state-dir", str(state),
        "--project", names["project_id"], "--bucket-prefix", names["bucket_prefix"],
    )  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        codes = [e["expert_code"] for e in SAMPLE_EXPERTS]
        assert f"sample experts: {', '.join(codes)} registered" in started.stdout
        stack = LocalStack.attach(state)
        queries = f"{stack.functions_url}/data_services_queries_http/experts"
        for expert in SAMPLE_EXPERTS:
            answer = requests.get(f"{queries}/{expert['expert_code']}", timeout=30)
            assert answer.status_code == 200, answer.text
            assert answer.json()["capacity"] == expert["capacity"]
        # The script by hand follows the stack (its stack.json) and registers nobody twice.
        again = subprocess.run(
            [sys.executable, "-m", "infra.samples.experts", "--state-dir", str(state)],
            cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert again.stdout.split() == [w for code in codes for w in (code, "already")]
        assert stack.seed_samples() == dict.fromkeys(codes, "already")
    finally:
        stopped = _cli("down", "--state-dir", str(state))
    assert stopped.returncode == 0, stopped.stderr
