"""`saludtech-local saga list|show|retry`: the sagas of the running stack, for an operator.

list --status STUCK        the sagas in a status (RUNNING, COMPLETED, COMPENSATING,
list --subscription ID     COMPENSATED, STUCK), or those of one subscription
show SAGA_ID               its steps and its log (RECEIVED / PROCESSED / FAILED, ids, reason)
retry SAGA_ID              retry the stuck compensations of a saga

Everything goes through the sagas' own HTTP functions on the functions host
(sagas_queries_http, sagas_operations_http), exactly as an operator's tool would in the cloud.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import requests
import typer
from rich.console import Console
from rich.table import Table

from infra.local.stack import DEFAULT_STATE_DIR, LocalStack

saga_app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)
TIMEOUT_SECONDS = 10

StateDir = Annotated[Path, typer.Option(help="Where the running stack's stack.json lives.")]


def _functions(state_dir: Path) -> str:
    try:
        return LocalStack.attach(state_dir).functions_url
    except FileNotFoundError:
        errors.print(f"No stack described in {state_dir / 'stack.json'}: run `up` first.")
        raise typer.Exit(1) from None


def _call(method: str, url: str, **kwargs: Any) -> Any:
    try:
        answer = requests.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
    except requests.RequestException as error:
        errors.print(f"The functions host does not answer: {type(error).__name__}")
        raise typer.Exit(1) from None
    body = (
        answer.json()
        if answer.headers.get("Content-Type", "").startswith("application/json")
        else {}
    )
    if answer.status_code >= 400:
        problem = body.get("error", {})
        errors.print(
            f"[red]{answer.status_code} {problem.get('reason', '')}[/red] "
            f"{problem.get('detail', '')}"
        )
        raise typer.Exit(1)
    return body


def _text(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


@saga_app.command("list")
def list_sagas(
    status: Annotated[str | None, typer.Option(help="Sagas in this status, e.g. STUCK.")] = None,
    subscription: Annotated[str | None, typer.Option(help="Sagas of this subscription.")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Show sagas: id, plan, subscription, status, failed step and reason, times."""
    if (status is None) == (subscription is None):
        errors.print("Give --status or --subscription.")
        raise typer.Exit(2)
    params = {"status": status} if status else {"subscription_id": subscription}
    page = _call(
        "GET", f"{_functions(state_dir)}/sagas_queries_http/sagas", params={**params, "limit": 100}
    )
    table = Table(title="sagas")
    for column in (
        "saga_id",
        "plan",
        "subscription",
        "status",
        "failed step",
        "reason",
        "started",
        "ended",
    ):
        table.add_column(column, overflow="fold")
    for saga in page["items"]:
        table.add_row(
            saga["saga_id"], saga["definition"], saga["subscription_id"], saga["status"],
            _text(saga.get("failed_step")), _text(saga.get("failure")),
            saga["started_at"], _text(saga.get("ended_at")),
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(page['items'])} saga(s)")


@saga_app.command()
def show(saga_id: str, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Show one saga: its steps, then its log, oldest first."""
    base = f"{_functions(state_dir)}/sagas_queries_http/sagas/{saga_id}"
    saga = _call("GET", base)
    console.print(
        f"[bold]{saga['definition']}[/bold] saga {saga['saga_id']} · subscription "
        f"{saga['subscription_id']} · [bold]{saga['status']}[/bold] · correlation "
        f"{saga['correlation_id']} · deadline {saga['deadline_at']} · "
        f"wakes {_text(saga.get('wake_at'))}"
    )
    if saga.get("failure"):
        console.print(f"failed at {saga.get('failed_step')}: {saga['failure']}")
    steps = Table(title="steps")
    for column in ("step", "status", "command", "sends", "compensation", "sends", "reason"):
        steps.add_column(column, overflow="fold")
    for step in saga["steps"]:
        forward, undo = step.get("forward") or {}, step.get("compensation") or {}
        steps.add_row(
            step["name"], step["status"],
            _text(forward.get("command_id")), _text(forward.get("sends")),
            _text(undo.get("command_id")), _text(step.get("compensation_sends") or None),
            _text(step.get("reason")),
        )  # fmt: skip
    console.print(steps)
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = _call(
            "GET", f"{base}/log", params={"limit": 100, **({"cursor": cursor} if cursor else {})}
        )
        entries.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    log = Table(title="log")
    for column in ("#", "at", "step", "phase", "status", "message", "type", "commands", "reason"):
        log.add_column(column, overflow="fold")
    for entry in entries:
        log.add_row(
            str(entry["seq"]), entry["at"], entry["step"], entry["phase"], entry["status"],
            _text(entry.get("message_id")), _text(entry.get("message_type")),
            ", ".join(entry.get("command_ids") or []) or "-", _text(entry.get("reason")),
        )  # fmt: skip
    console.print(log)


@saga_app.command()
def retry(saga_id: str, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Retry the stuck compensations of a saga (new attempt ids, a fresh budget)."""
    saga = _call("POST", f"{_functions(state_dir)}/sagas_operations_http/sagas/{saga_id}/retry")
    console.print(f"saga {saga_id} is {saga['status']} again")
