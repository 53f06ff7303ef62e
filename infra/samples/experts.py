"""The expert registry seeded on the local stack, for the demo, the e2e tests and by hand.
Fictitious people.

`python -m infra.local up` registers them once the stack is ready (a PRO purchase needs a
free expert, or its saga refunds it `no_expert_available`); by hand:

    .venv/bin/python -m infra.samples.experts [FUNCTIONS_URL] [--state-dir .local]

FUNCTIONS_URL defaults to the local stack's (its stack.json, else the ports `up` would use:
SALUDTECH_PORT_FUNCTIONS). They go through the data services' HTTP door (RegisterExpert) the
way any expert would: command, function, registry. An expert already in the registry is left
alone, so seeding again (a restart with --persist) registers nobody twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import requests
import typer

SAMPLE_EXPERTS: list[dict[str, Any]] = [
    {
        "expert_code": "EXP-001",
        "first_names": "Camila",
        "last_names": "Soto Vera",
        "username": "csoto",
        "national_id": "15.111.222-3",
        "email": "csoto@example.com",
        "specialities": ["CHEST", "GENERAL"],
        "capacity": 3,
    },
    {
        "expert_code": "EXP-002",
        "first_names": "Diego",
        "last_names": "Muñoz Lagos",
        "username": "dmunoz",
        "national_id": "16.333.444-5",
        "email": "dmunoz@example.com",
        "specialities": ["CHEST", "ABDOMEN"],
        "capacity": 2,
    },
    {
        "expert_code": "EXP-003",
        "first_names": "Valentina",
        "last_names": "Rojas Pino",
        "username": "vrojas",
        "national_id": "17.555.666-7",
        "email": "vrojas@example.com",
        "specialities": ["NEURO", "HEAD"],
        "capacity": 4,
    },
]
COMMANDS_DOOR = "data_services_commands_http"
QUERIES_DOOR = "data_services_queries_http"


# The headers a request to a door needs (the cloud mode's ID token for it), by target.
Credentials = Callable[[str], dict[str, str]]


def _anonymous(target: str) -> dict[str, str]:
    return {}


class SeedError(RuntimeError):
    """A sample expert did not reach the registry (refused, or not within the wait)."""


def register_all(functions_url: str) -> list[str]:
    """POST every sample expert; the command ids, in order. The same Idempotency-Key each
    time, so seeding twice registers nobody twice."""
    return [_register(functions_url, expert) for expert in SAMPLE_EXPERTS]


def _register(
    functions_url: str, expert: dict[str, Any], credentials: Credentials = _anonymous
) -> str:
    response = requests.post(
        f"{functions_url.rstrip('/')}/{COMMANDS_DOOR}/experts",
        json=expert,
        headers={
            "Idempotency-Key": f"seed-{expert['expert_code']}",
            **credentials(COMMANDS_DOOR),
        },
        timeout=60,  # the first request of a cold functions host under load
    )
    response.raise_for_status()
    return str(response.json()["command_id"])


def _registered(functions_url: str, code: str, credentials: Credentials = _anonymous) -> bool:
    url = f"{functions_url.rstrip('/')}/{QUERIES_DOOR}/experts/{code}"
    answer = requests.get(url, headers=credentials(QUERIES_DOOR), timeout=30)
    if answer.status_code not in (200, 404):
        answer.raise_for_status()
        raise SeedError(f"GET {url} answered {answer.status_code}")
    return answer.status_code == 200


def seed(
    functions_url: str, timeout: float = 60.0, credentials: Credentials = _anonymous
) -> dict[str, str]:
    """Register the sample experts the registry lacks and wait until it has every one.

    Returns each expert's code with what happened: "registered" now, or "already" there.
    Raises SeedError when one is refused or still missing after `timeout` seconds.
    `credentials` gives the headers a door needs (the cloud mode's private doors want the
    deployer's ID token).
    """
    base = functions_url.rstrip("/")
    outcome: dict[str, str] = {}
    pending: dict[str, str] = {}  # code -> command id
    for expert in SAMPLE_EXPERTS:
        code = expert["expert_code"]
        if _registered(base, code, credentials):
            outcome[code] = "already"
        else:
            pending[code] = _register(base, expert, credentials)
            outcome[code] = "registered"
    deadline = time.monotonic() + timeout
    while pending:
        for code, command_id in list(pending.items()):
            if _registered(base, code, credentials):
                del pending[code]
                continue
            status = requests.get(
                f"{base}/{QUERIES_DOOR}/commands/{command_id}",
                headers=credentials(QUERIES_DOOR),
                timeout=30,
            )
            answer = status.json() if status.ok else {}
            if answer.get("status") == "rejected":
                raise SeedError(f"expert {code} refused: {answer.get('reason')}")
        if pending and time.monotonic() > deadline:
            raise SeedError(
                f"experts {', '.join(pending)} not in the registry after {timeout:.0f} s"
            )
        if pending:
            time.sleep(0.2)
    return outcome


def _default_state_dir() -> Path:
    from infra.local.stack import DEFAULT_STATE_DIR

    return DEFAULT_STATE_DIR


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    functions_url: Annotated[
        str | None,
        typer.Argument(help="The functions host (or router); default: the local stack's."),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="The stack's state directory (its stack.json); default .local."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the registry.")] = 60.0,
) -> None:
    """Register the sample experts (those not registered yet) and wait until they are."""
    from infra.local.ports import stack_ports

    url = functions_url or stack_ports(state_dir or _default_state_dir()).url("functions")
    try:
        outcome = seed(url, timeout)
    except (requests.RequestException, SeedError) as error:
        typer.echo(f"sample experts not registered at {url}: {error}", err=True)
        raise typer.Exit(1) from None
    for code, what in outcome.items():
        typer.echo(f"{code} {what}")


if __name__ == "__main__":
    app()
