"""`infra.local saga list|show|retry` against the sagas' HTTP functions (in memory)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from rich.console import Console
from typer.testing import CliRunner

from infra.local import saga_cli
from tests.unit.sagas.test_http import client
from tests.unit.sagas.world import World, saga


class _Answer:
    def __init__(self, response: Any) -> None:
        self.status_code = response.status_code
        self.headers = dict(response.headers)
        self._body = response.get_json()

    def json(self) -> Any:
        return self._body


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI's HTTP calls answered by the functions themselves."""

    def request(method: str, url: str, **kwargs: Any) -> _Answer:
        parts = urlsplit(url)
        target, _, path = parts.path.lstrip("/").partition("/")
        test_client = client(target)
        return _Answer(
            test_client.open(f"/{path}", method=method, query_string=kwargs.get("params"))
        )

    monkeypatch.setattr(saga_cli, "_functions", lambda state_dir: "http://functions")
    monkeypatch.setattr(saga_cli, "console", Console(width=400, highlight=False))
    monkeypatch.setattr("infra.local.saga_cli.requests.request", request)
    return CliRunner()


def test_list_show_and_retry_a_stuck_saga(world: World, cli: CliRunner) -> None:
    world.faults["AssignExpert"] = "rejected"
    world.faults["RefundPayment"] = "rejected"
    world.create_subscription("sub-1")
    world.pay("sub-1")
    world.run()
    for _ in range(4):
        world.tick(minutes=3)
        world.run()
    saga_id = saga(world, "sub-1")["saga_id"]

    listed = cli.invoke(saga_cli.saga_app, ["list", "--status", "STUCK"])
    assert listed.exit_code == 0 and saga_id in listed.output and "1 saga(s)" in listed.output
    shown = cli.invoke(saga_cli.saga_app, ["show", saga_id])
    assert shown.exit_code == 0
    assert "STUCK" in shown.output and "stuck:refused" in shown.output
    world.faults.pop("RefundPayment")
    retried = cli.invoke(saga_cli.saga_app, ["retry", saga_id])
    assert retried.exit_code == 0 and "COMPENSATING" in retried.output
    again = cli.invoke(saga_cli.saga_app, ["retry", "no-such-saga"])
    assert again.exit_code == 1


def test_list_needs_one_filter(cli: CliRunner) -> None:
    assert cli.invoke(saga_cli.saga_app, ["list"]).exit_code == 2
