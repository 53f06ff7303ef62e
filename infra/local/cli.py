"""`saludtech-local` (or `python -m infra.local`): run the local stack from a shell.

up [--detach]   start everything, print where it runs, stream the functions' logs
down            stop a detached stack
status          report each part
env             export lines for a shell (clients and gcloud talk to the stack)
tail            print events published on the *-events topics as they happen
chaos           switch the bridge's duplicate/reorder/delay chaos at run time
stats           the bridge's per-subscription delivery counters
schedules       the topology's scheduled jobs (next run, last outcome); --run JOB runs one now
dlq             list and re-publish the dead letters the dead-letter function recorded
mail            list and show the emails the functions sent to the stack's SMTP sink
notifications   rebuild the notifications read model from the event store and compare
saga            list, show (steps and log) and retry the sagas of the stack
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import requests
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.local.dlq_cli import dlq_app
from infra.local.grants import TerraformUnavailable
from infra.local.mail import mail_app
from infra.local.notifications_cli import notifications_app
from infra.local.ports import StackPorts
from infra.local.prereqs import EXIT_MISSING_PREREQUISITES, MissingPrerequisitesError
from infra.local.processes import StartupError
from infra.local.saga_cli import saga_app
from infra.local.stack import DEFAULT_PROJECT, DEFAULT_STATE_DIR, FUNCTION_PREFIX, LocalStack
from infra.local.topology import TopologyError

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
app.add_typer(dlq_app, name="dlq", help="List and redrive the dead letters of the stack.")
app.add_typer(mail_app, name="mail", help="The local mailbox: what the functions sent by email.")
app.add_typer(notifications_app, name="notifications", help="Rebuild the notifications read model.")
app.add_typer(saga_app, name="saga", help="List, show and retry the sagas of the stack.")
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

StateDir = Annotated[Path, typer.Option(help="Where stack.json, logs and the gcloud config live.")]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def _attached(state_dir: Path) -> LocalStack:
    try:
        return LocalStack.attach(state_dir)
    except FileNotFoundError:
        errors.print(f"No stack described in {state_dir / 'stack.json'}: run `up` first.")
        raise typer.Exit(1) from None


def _export_lines(stack: LocalStack) -> list[str]:
    values = {**stack.env, **stack.gcloud_env}
    return [f"export {key}={shlex.quote(value)}" for key, value in values.items()]


def _print_stack(stack: LocalStack) -> None:
    table = Table(title=f"SaludTech local stack · project {stack.project_id}")
    for column in ("part", "where", "pgid", "memory", "state"):
        table.add_column(column)
    where = {
        "pubsub": stack.pubsub_host,
        "firestore": stack.firestore_host,
        "gcs": stack.gcs_url,
        "functions": f"{stack.functions_url}/<target>/",
        "bridge": f"{stack.bridge_url}/status",
        "mail": f"http://127.0.0.1:{stack.ports.mail}/ (SMTP {stack.ports.smtp})",
    }
    if stack.cloud is not None:
        where["functions"] = f"{stack.functions_url}/<target>/ (router)"
        where["stripe"] = f"{stack.cloud.stripe_url} (fake Stripe)"
    total = 0
    # The cloud mode's 70 function processes: one row for them all, and any not ready.
    statuses = stack.status()
    functions = [p for p in statuses if p.name.startswith(FUNCTION_PREFIX)]
    for part in statuses:
        total += part.rss_bytes
        if part.name.startswith(FUNCTION_PREFIX) and part.ready:
            continue
        state = (
            "[green]ready" if part.ready else ("[yellow]starting" if part.alive else "[red]down")
        )
        place = where.get(part.name, "")
        table.add_row(part.name, place, str(part.pgid), _mib(part.rss_bytes), state)
    if functions:
        serving = sum(p.ready for p in functions)
        table.add_row(
            f"{FUNCTION_PREFIX}* ({len(functions)})", "one process per function", "-",
            _mib(sum(p.rss_bytes for p in functions)), f"[green]{serving} ready",
        )  # fmt: skip
    console.print(table)
    ready = f"ready in {stack.ready_seconds:.1f} s, " if stack.ready_seconds else ""
    console.print(f"{ready}{_mib(total)} resident · logs in {stack.log_dir}")
    buckets = ", ".join(stack.bucket(name) for name in stack.topology.buckets)
    console.print(f"buckets: {buckets}")


def _follow(paths: list[Path], stack: LocalStack, stop: threading.Event) -> str | None:
    """Print new log lines until stop is set; returns the name of a part that died."""
    offsets = dict.fromkeys(paths, 0)
    while not stop.is_set():
        for path in paths:
            try:
                with path.open("rb") as log:
                    log.seek(offsets[path])
                    chunk = log.read()
            except OSError:
                continue
            complete = chunk[: chunk.rfind(b"\n") + 1]
            offsets[path] += len(complete)
            for line in complete.decode("utf-8", errors="replace").splitlines():
                console.print(f"[dim]{path.stem:>9} │[/dim] {line}", markup=True, soft_wrap=True)
        dead = stack.dead_parts()
        if dead:
            return dead[0]
        stop.wait(0.2)
    return None


@app.command()
def up(  # typer passes options by keyword
    *,
    detach: Annotated[bool, typer.Option(help="Start and return; `down` stops it.")] = False,
    project: Annotated[str, typer.Option(help="Project id the emulators use.")] = DEFAULT_PROJECT,
    bucket_prefix: Annotated[
        str, typer.Option(envvar="SALUDTECH_BUCKET_PREFIX", help="Buckets are <prefix>-<name>.")
    ] = DEFAULT_PROJECT,
    collection_prefix: Annotated[str, typer.Option(envvar="SALUDTECH_COLLECTION_PREFIX")] = "",
    source: Annotated[Path | None, typer.Option(help="Functions source (main.py).")] = None,
    topology: Annotated[Path | None, typer.Option(help="Topology YAML.")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    pubsub_port: Annotated[int | None, typer.Option(envvar="SALUDTECH_PORT_PUBSUB")] = None,
    firestore_port: Annotated[int | None, typer.Option(envvar="SALUDTECH_PORT_FIRESTORE")] = None,
    gcs_port: Annotated[int | None, typer.Option(envvar="SALUDTECH_PORT_GCS")] = None,
    functions_port: Annotated[int | None, typer.Option(envvar="SALUDTECH_PORT_FUNCTIONS")] = None,
    bridge_port: Annotated[int | None, typer.Option(envvar="SALUDTECH_PORT_BRIDGE")] = None,
    free_ports: Annotated[bool, typer.Option(help="Pick free ports (ignores the others).")] = False,
    concurrency: Annotated[int, typer.Option(help="Deliveries at once per subscription.")] = 16,
    demo: Annotated[
        bool,
        typer.Option(
            help="Once up, run the demo flows (infra/local/demo.py); a step that does not "
            "end as it should makes `up` exit 1."
        ),
    ] = False,
    seed: Annotated[
        bool,
        typer.Option(
            help="Once up, register the sample experts (infra/samples/experts.py) the "
            "registry lacks: without one, every PRO purchase is refunded."
        ),
    ] = True,
    persist: Annotated[
        bool,
        typer.Option(
            help="Keep Firestore documents and Cloud Storage objects across restarts, in "
            "<state-dir>/data/ (Pub/Sub messages are never kept). Without it every start "
            "is empty."
        ),
    ] = False,
    cloud_mode: Annotated[
        bool,
        typer.Option(
            help="Run every function in its own process with only what Terraform gives it "
            "(settings, secrets, grants: a denied database, topic, bucket or door fails as "
            "in the cloud); needs terraform. See docs/local-stack.md."
        ),
    ] = False,
) -> None:
    """Start the emulators, fake-gcs-server, the functions host and the bridge."""
    # From the first moment, Ctrl-C, SIGTERM and a closed terminal (SIGHUP) all end in the
    # same orderly stop below; the watchdog covers a SIGKILL. Explicit handlers also because
    # a shell that starts `up` in the background ignores SIGINT, and Python then never
    # raises KeyboardInterrupt.
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    _refuse_a_second_stack(state_dir)
    ports = (
        StackPorts.free()
        if free_ports
        else StackPorts.from_environment(
            pubsub=pubsub_port,
            firestore=firestore_port,
            gcs=gcs_port,
            functions=functions_port,
            bridge=bridge_port,
        )
    )
    try:
        stack = LocalStack(
            ports=ports,
            project_id=project,
            bucket_prefix=bucket_prefix,
            collection_prefix=collection_prefix,
            source=source,
            topology=topology,
            state_dir=state_dir,
            bridge_concurrency=concurrency,
            persist=persist,
            cloud_mode=cloud_mode,
        )
        with console.status("starting the local stack…"):
            stack.start()  # stops what it started if interrupted
    except MissingPrerequisitesError as missing:
        errors.print("[red]The local stack cannot start:[/red]")
        for problem in missing.problems:
            errors.print(f"  • {problem}")
        raise typer.Exit(EXIT_MISSING_PREREQUISITES) from None
    except (StartupError, TopologyError, TerraformUnavailable, OSError) as error:
        errors.print(f"[red]The local stack did not start:[/red] {error}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        errors.print("Interrupted while starting; everything that had started was stopped.")
        raise typer.Exit(130) from None
    dead: str | None = None
    failed: list[str] = []  # what did not end as it should: `up` exits 1 in the end
    try:
        dead = _serve(stack, state_dir, detach=detach, demo=demo, seed=seed, failed=failed)
    except KeyboardInterrupt:
        pass
    finally:
        if not stack.detached:
            _stop_uninterrupted(stack)
    if dead:
        errors.print(f"[red]{dead} stopped unexpectedly; everything was stopped.[/red]")
        raise typer.Exit(1)
    if not stack.detached:
        console.print("Stopped.")
    if failed:
        errors.print(f"[red]Failed: {'; '.join(failed)}.[/red]")
        raise typer.Exit(1)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _refuse_a_second_stack(state_dir: Path) -> None:
    state_file = state_dir / "stack.json"
    if state_file.exists():
        previous = LocalStack.attach(state_dir)
        if previous.any_alive():
            errors.print(f"A stack is already running ({state_file}); `down` stops it.")
            raise typer.Exit(1)
        state_file.unlink()


def _stop_uninterrupted(stack: LocalStack) -> None:
    # A second Ctrl-C must not cut the stop short and leave a JVM behind.
    for signum in _STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    with console.status("stopping…"):
        stack.stop()


def _serve(
    stack: LocalStack,
    state_dir: Path,
    *,
    detach: bool,
    demo: bool,
    seed: bool = True,
    failed: list[str] | None = None,
) -> str | None:
    """Describe the stack, seed it, run the demo, then detach or stream the logs until
    interrupted.

    Returns the name of a part that died on its own (which stops the stack); what did not
    end as it should (the seeding, the demo) is added to `failed`.
    """
    failed = [] if failed is None else failed
    # Written in the foreground too: if this process is killed, `down` still finds the parts.
    stack.write_state()
    _print_stack(stack)
    if stack.persist:
        console.print(f"Firestore and Cloud Storage state kept in {stack.data_dir}")
    console.print("\n[bold]In another shell:[/bold]")
    for line in _export_lines(stack):
        console.print(line, markup=False, soft_wrap=True)
    if seed and not _seed_samples(stack):
        failed.append("the sample experts were not registered")
    if demo and not _run_demo(stack):
        failed.append("the demo (its failed steps are in red above)")
    if detach:
        stack.detach()
        console.print(f"\nDetached. `saludtech-local down --state-dir {state_dir}` stops it.")
        return None
    console.print("\n[bold]Streaming the functions' and bridge's logs; Ctrl-C stops all.[/bold]")
    return _follow([stack.processes["functions"].log_path,
                    stack.processes["bridge"].log_path], stack, threading.Event())  # fmt: skip


def _seed_samples(stack: LocalStack) -> bool:
    """Register the sample experts through the data services' door (those not there yet)."""
    from infra.samples.experts import SeedError

    try:
        with console.status("registering the sample experts…"):
            outcome = stack.seed_samples()
    except (SeedError, requests.RequestException) as error:
        errors.print(
            f"[red]✗ The sample experts were not registered: {escape(str(error))}. Every PRO "
            "purchase is refunded (no_expert_available) until some are: python -m "
            "infra.samples.experts[/red]"
        )
        return False
    if outcome is not None:
        new = [code for code, what in outcome.items() if what == "registered"]
        kept = [code for code, what in outcome.items() if what != "registered"]
        said = [f"{', '.join(new)} registered"] if new else []
        said += [f"{', '.join(kept)} already there"] if kept else []
        console.print(f"sample experts: {'; '.join(said)}")
    return True


def _run_demo(stack: LocalStack) -> bool:
    """Run the demo with the stack kept running; False (said in red) when a step failed."""
    from infra.local.demo import run_demo  # every flow of the demo

    os.environ.update(stack.env)  # the demo's own Pub/Sub and Storage clients
    try:
        if run_demo(stack, console):
            return True
        errors.print("[red]✗ The demo did not end as it should (the steps in red above).[/red]")
    except Exception as error:
        errors.print(f"[red]✗ The demo failed: {type(error).__name__}: {escape(str(error))}[/red]")
    return False


@app.command()
def down(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Stop a detached stack (every process group it started)."""
    stack = _attached(state_dir)
    stack.stop()
    left = [name for name, p in stack.processes.items() if p.is_alive()]
    if left:
        errors.print(f"[red]Still running after SIGKILL: {', '.join(left)}[/red]")
        raise typer.Exit(1)
    (state_dir / "stack.json").unlink(missing_ok=True)
    console.print("Stopped.")


@app.command()
def restart(
    part: Annotated[str, typer.Argument(help="pubsub, firestore, gcs, functions or bridge")],
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Restart one part of a detached stack (e.g. `functions` to reload the code)."""
    stack = _attached(state_dir)
    if part not in stack.processes:
        errors.print(f"No part {part!r}; parts: {', '.join(stack.processes)}")
        raise typer.Exit(2)
    try:
        seconds = stack.restart(part)
    except StartupError as error:
        errors.print(f"[red]{part} did not come back:[/red] {error}")
        raise typer.Exit(1) from None
    console.print(f"{part} restarted, ready in {seconds:.1f} s")


@app.command()
def status(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Report each part: process group alive, port answering, memory. Exit 1 if any is not."""
    stack = _attached(state_dir)
    parts = stack.status()
    if as_json:
        console.print_json(json.dumps([part.__dict__ for part in parts]))
    else:
        _print_stack(stack)
    if not all(part.alive and part.ready for part in parts):
        raise typer.Exit(1)


@app.command()
def env(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    project: Annotated[str, typer.Option()] = DEFAULT_PROJECT,
    bucket_prefix: Annotated[str, typer.Option(envvar="SALUDTECH_BUCKET_PREFIX")] = DEFAULT_PROJECT,
) -> None:
    """Print `export` lines: eval "$(saludtech-local env)" points clients and gcloud here."""
    if (state_dir / "stack.json").exists():
        stack = LocalStack.attach(state_dir)
    else:  # not started yet: the ports it will use
        stack = LocalStack(
            ports=StackPorts.from_environment(),
            project_id=project,
            bucket_prefix=bucket_prefix,
            state_dir=state_dir,
        )
    stack.gcloud_config_dir.mkdir(parents=True, exist_ok=True)
    for line in _export_lines(stack):
        print(line)  # plain print: eval-able, no rich wrapping


@app.command()
def tail(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    backlog: Annotated[bool, typer.Option(help="Also print events published earlier.")] = False,
    count: Annotated[int, typer.Option(help="Stop after this many events (0: never).")] = 0,
    timeout: Annotated[float, typer.Option(help="Stop after this many seconds (0: never).")] = 0,
) -> None:
    """Print every event published on the *-events topics, as CloudEvents."""
    from infra.local.event_tail import TappedEvent, tail_events

    stack = _attached(state_dir)
    os.environ["PUBSUB_EMULATOR_HOST"] = stack.pubsub_host
    topics = stack.topology.event_topics()
    stop = threading.Event()
    seen = 0

    def show(event: TappedEvent) -> None:
        nonlocal seen
        seen += 1
        console.print(
            f"[cyan]{event.type}[/cyan] subject=[bold]{event.subject}[/bold] id={event.id} "
            f"[dim]({event.topic} {event.time})[/dim]"
        )
        console.print_json(json.dumps(event.data, default=str))
        if count and seen >= count:
            stop.set()

    if timeout:
        timer = threading.Timer(timeout, stop.set)
        timer.daemon = True  # must not keep the process alive once the events are in
        timer.start()
    console.print(f"[dim]tailing {', '.join(topics) or 'no events topics'}; Ctrl-C stops[/dim]")
    try:
        tail_events(stack.project_id, topics, show, stop, include_backlog=backlog)
    except KeyboardInterrupt:
        stop.set()


def _admin(state_dir: Path, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    stack = _attached(state_dir)
    try:
        response = requests.request(method, f"{stack.bridge_url}{path}", json=body, timeout=10)
    except requests.RequestException as error:
        errors.print(f"[red]The bridge does not answer at {stack.bridge_url}: {error}[/red]")
        raise typer.Exit(1) from None
    if not response.ok:
        errors.print(f"[red]{response.status_code}: {response.text}[/red]")
        raise typer.Exit(1)
    return response.json()


@app.command()
def chaos(
    *,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    duplicate_rate: Annotated[float | None, typer.Option(help="0..1 of deliveries twice.")] = None,
    reorder_window: Annotated[int | None, typer.Option(help="Shuffle windows of N.")] = None,
    delay_max: Annotated[float | None, typer.Option(help="Max extra latency, s.")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    off: Annotated[bool, typer.Option(help="Switch every kind of chaos off.")] = False,
) -> None:
    """Show or change the bridge's chaos settings while it runs."""
    changes: dict[str, Any] = {}
    if off:
        changes.update(duplicate_rate=0.0, reorder_window=0, delay_max_seconds=0.0)
    for key, value in (
        ("duplicate_rate", duplicate_rate),
        ("reorder_window", reorder_window),
        ("delay_max_seconds", delay_max),
        ("seed", seed),
    ):
        if value is not None:
            changes[key] = value
    settings = _admin(state_dir, "POST", "/chaos", changes) if changes else None
    console.print_json(json.dumps(settings or _admin(state_dir, "GET", "/chaos")))


@app.command()
def stats(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    reset: Annotated[bool, typer.Option(help="Zero the counters afterwards.")] = False,
) -> None:
    """Per-subscription delivery counters and publish-to-2xx latency of the bridge."""
    data: dict[str, dict[str, Any]] = _admin(state_dir, "GET", "/stats")
    table = Table(title="bridge deliveries")
    columns = ["received", "delivered", "acked", "retried", "dead_lettered",
               "duplicates_injected", "reordered", "in_flight"]  # fmt: skip
    table.add_column("subscription")
    for column in [*columns, "p50 ms", "p95 ms"]:
        table.add_column(column, justify="right")
    for name, values in data.items():
        latency = values["latency_ms"]
        table.add_row(name, *(str(values[c]) for c in columns), _ms(latency["p50"]),
                      _ms(latency["p95"]))  # fmt: skip
    console.print(table)
    if reset:
        _admin(state_dir, "POST", "/stats/reset")


@app.command()
def schedules(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    run: Annotated[str | None, typer.Option(help="Run this job now, off schedule.")] = None,
) -> None:
    """The `schedules:` jobs the bridge runs: function, cron, next run, last outcome."""
    if run is not None:
        _admin(state_dir, "POST", f"/schedules/{run}/run")
        console.print(f"{run} started")
        return
    jobs: list[dict[str, Any]] = _admin(state_dir, "GET", "/schedules")
    table = Table(title="scheduled jobs")
    for column in ("job", "function", "schedule", "time_zone", "next_run", "last_run"):
        table.add_column(column)
    for job in jobs:
        last = job["last_run"]
        outcome = last.get("status", last.get("error", "")) if last else "-"
        table.add_row(job["job"], job["function"], job["schedule"], job["time_zone"],
                      job["next_run"], f"{outcome} {last.get('at', '')}".strip())  # fmt: skip
    console.print(table)
