"""saludtech-gateway: `run` the gateway, or read its `status`.

    saludtech-gateway run --config gateway.toml
    saludtech-gateway status --config gateway.toml [--json]

`--help` and `status` change nothing (status reads the status file and counts the spool
without opening it, so it neither recovers nor creates anything).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from gateway import status as status_file
from gateway.config import ConfigError, GatewayConfig, load
from gateway.spool import Spool

app = typer.Typer(
    help="The SaludTech edge gateway: a DICOM C-STORE receiver beside the PACS that spools "
    "every instance to disk and uploads it to the platform (docs/gateway.md).",
    no_args_is_help=True,
    add_completion=False,
)
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="the gateway's TOML file", dir_okay=False)
]
# Libraries that log identifiers or credentials below WARNING: pynetdicom (UIDs, and at
# DEBUG every element of a dataset), urllib3 (request lines: a signed URL is a credential).
QUIET_LOGGERS = ("pynetdicom", "urllib3")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )  # fmt: skip
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _config(path: Path) -> GatewayConfig:
    try:
        return load(path)
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def run(config: ConfigOption) -> None:
    """Receive from the PACS and upload to the platform until SIGTERM or Ctrl-C."""
    from gateway.runner import Gateway  # pynetdicom is loaded only to run

    settings = _config(config)
    configure_logging(settings.log_level)
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        gateway = Gateway(settings).start()
    except (ConfigError, OSError) as exc:
        typer.echo(f"cannot start: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        while not done.wait(1.0):
            pass
    finally:
        gateway.stop()


@app.command()
def status(
    config: ConfigOption,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Queue depth, sent, failed attempts and the last error of the gateway."""
    settings = _config(config)
    values = status_file.read(settings.status_file)
    # Counted from the spool itself, so the queue is right even when the gateway is down.
    queue = Spool(settings.spool_dir, salt=b"").depth()
    now = time.time()
    if as_json:
        running = status_file.is_running(values, now)
        answer = {**(values or {}), "running": running,
                  "queue_instances": queue[0], "queue_bytes": queue[1]}  # fmt: skip
        typer.echo(json.dumps(answer, sort_keys=True))
    else:
        typer.echo(status_file.render(values, queue, now))


if __name__ == "__main__":
    app()
