"""The local stack's mailbox: a real SMTP server (aiosmtpd) that keeps what it receives.

Functions send email to it over SMTP exactly as they would to a relay; every message is kept
as an .eml file in the stack's state directory, so `python -m infra.local mail` lists them
and `mail show N` prints one. Each start of the sink is a run (the stack names it after its
run's log directory): its messages are numbered on from the last one kept, never reusing a
number, and `runs.jsonl` records where each run's numbers begin, so `mail list` shows this
run's messages (`--all`: every run's). Tests start their own sink on a free port and read it in
memory. It can also answer a chosen SMTP reply (e.g. 451 or 550) to every message, so
tests see what a refusing or troubled server does to deliveries.

Run alone: `python -m infra.local.mail serve --port 8025 --dir .local/mail`.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any

import typer
from aiosmtpd.controller import Controller
from rich.console import Console
from rich.table import Table

HOST = "127.0.0.1"
DEFAULT_PORT = 8025
RUNS_FILE = "runs.jsonl"  # one line per run: {"run", "started", "first"} (its first number)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


@dataclass(frozen=True)
class Run:
    run: str
    started: str
    first: int  # the number of the run's first message; the next run's `first` ends it


def runs(directory: Path) -> list[Run]:
    """The runs recorded in `directory`, oldest first."""
    try:
        lines = (directory / RUNS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            found.append(Run(**json.loads(line)))
        except (ValueError, TypeError):
            continue  # a line cut short by a crash
    return found


def _numbers(directory: Path) -> list[int]:
    return sorted(int(p.stem) for p in directory.glob("*.eml") if p.stem.isdigit())


def run_of(number: int, recorded: list[Run]) -> str:
    """The run a message number belongs to ("-": kept before runs were recorded)."""
    owner = "-"
    for run in recorded:
        if run.first <= number:
            owner = run.run
    return owner


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class _Keeper:
    """The aiosmtpd handler: keep each message (or refuse it, when told to)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.messages: list[EmailMessage] = []
        self.numbers: list[int] = []  # each message's number (its file's, when kept)
        self.received_at: list[float] = []  # time.time() of each message, for latencies
        self.reply: str | None = None  # e.g. "550 5.1.1 no such user": refuse everything
        self.changed = threading.Condition()
        self.next_number = 1

    def begin_run(self, run: str) -> None:
        """Number on from the last message kept, and record where this run begins."""
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        recorded = runs(self.directory)
        kept = _numbers(self.directory)
        self.next_number = max([0, *kept, *(r.first - 1 for r in recorded)]) + 1
        line = {
            "run": run,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "first": self.next_number,
        }
        with (self.directory / RUNS_FILE).open("a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")

    def _keep(self, raw: bytes) -> int:
        """Write the message under the next free number; that number."""
        assert self.directory is not None
        while True:
            number, self.next_number = self.next_number, self.next_number + 1
            try:
                # "x": never over a message kept by anyone (another sink on the directory).
                with (self.directory / f"{number:06d}.eml").open("xb") as kept:
                    kept.write(raw)
            except FileExistsError:
                continue
            return number

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        if self.reply is not None:
            return self.reply
        raw: bytes = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.changed:
            if self.directory is not None:
                number = self._keep(raw)
            else:
                number, self.next_number = self.next_number, self.next_number + 1
            self.messages.append(message)
            self.numbers.append(number)
            self.received_at.append(time.time())
            self.changed.notify_all()
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on 127.0.0.1 that keeps every message it is sent."""

    def __init__(
        self, port: int = 0, directory: Path | None = None, run: str | None = None
    ) -> None:
        self.port = port or free_port()
        self.run = run or new_run_id()  # this start's name in <directory>/runs.jsonl
        self._keeper = _Keeper(directory)
        # `hostname` must be given: aiosmtpd's default resolves the machine's name.
        self._controller = Controller(self._keeper, hostname=HOST, port=self.port)

    def start(self) -> MailSink:
        self._keeper.begin_run(self.run)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self._keeper.changed:
            return list(self._keeper.messages)

    def numbered(self) -> list[tuple[int, EmailMessage]]:
        """(number, message) of this run's messages, oldest first; the number is its file's."""
        with self._keeper.changed:
            return list(zip(self._keeper.numbers, self._keeper.messages, strict=True))

    def arrivals(self) -> list[tuple[float, EmailMessage]]:
        """(time.time() of arrival, message) of every message, oldest first."""
        with self._keeper.changed:
            return list(zip(self._keeper.received_at, self._keeper.messages, strict=True))

    def refuse_with(self, reply: str | None) -> None:
        """Answer `reply` (an SMTP reply line) to every message from now on; None: accept."""
        self._keeper.reply = reply

    def wait_for(self, count: int, timeout: float) -> list[EmailMessage]:
        """The messages once there are `count` (or all there are after `timeout` seconds)."""
        with self._keeper.changed:
            self._keeper.changed.wait_for(lambda: len(self._keeper.messages) >= count, timeout)
            return list(self._keeper.messages)


def stored_messages(directory: Path) -> list[tuple[str, EmailMessage]]:
    """Every message kept in `directory`, of every run, oldest first: (number, message)."""
    found = []
    for path in sorted(directory.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found.append((path.stem, message))
    return found


def run_messages(directory: Path, run: str | None = None) -> list[tuple[str, str, EmailMessage]]:
    """(number, run, message) of one run's kept messages (default: the latest run's), or of
    every run's with run="*"."""
    recorded = runs(directory)
    wanted = run or (recorded[-1].run if recorded else "*")
    found = []
    for number, message in stored_messages(directory):
        owner = run_of(int(number), recorded) if number.isdigit() else "-"
        if wanted in ("*", owner):
            found.append((number, owner, message))
    return found


# -- command line ----------------------------------------------------------------------------
mail_app = typer.Typer(help="The local mailbox: what the functions sent by email.")
_console = Console(highlight=False)
Directory = Annotated[Path, typer.Option("--dir", help="Where the sink keeps its .eml files.")]
# Where the local stack keeps its mailbox (beside stack.json in the state directory).
_DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".local" / "mail"


@mail_app.command("list")
def list_messages(
    directory: Directory = _DEFAULT_DIR,
    every_run: Annotated[
        bool, typer.Option("--all", help="Every run's messages, not only the latest run's.")
    ] = False,
    run: Annotated[str | None, typer.Option(help="One run's messages (see --all).")] = None,
) -> None:
    """This run's messages (the latest start of the mailbox), oldest first."""
    recorded = runs(directory)
    chosen = "*" if every_run else run
    listed = run_messages(directory, chosen)
    table = (
        Table("n", "run", "to", "subject", "date")
        if chosen == "*"
        else Table("n", "to", "subject", "date")
    )
    for number, owner, message in listed:
        cells = [str(message["To"]), str(message["Subject"]), str(message["Date"])]
        table.add_row(number.lstrip("0"), *([owner] if chosen == "*" else []), *cells)
    _console.print(table)
    if chosen == "*":
        _console.print(
            f"{len(listed)} messages of {len(recorded)} runs in {directory}", soft_wrap=True
        )
    else:
        named = chosen or (recorded[-1].run if recorded else None)
        started = {r.run: r.started for r in recorded}.get(named or "", "")
        others = len(stored_messages(directory)) - len(listed) if directory.exists() else 0
        where = f"run {named} (started {started})" if named else "no run recorded"
        _console.print(
            f"{len(listed)} messages of {where}; {others} of other runs (--all lists them)",
            soft_wrap=True,
        )


@mail_app.command("show")
def show(number: int, directory: Directory = _DEFAULT_DIR) -> None:
    """One message, headers and text."""
    path = directory / f"{number:06d}.eml"
    if not path.exists():
        _console.print(f"no message {number} in {directory}")
        raise typer.Exit(1)
    _console.print(path.read_text(errors="replace"))


def mailbox_page(sink: MailSink, port: int) -> ThreadingHTTPServer:
    """The mailbox as a page on 127.0.0.1:`port` (`/`: newest first, `/<n>`: one message);
    `/` is also what the local stack's ready check asks."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            messages = dict(sink.numbered())  # this run's, by their numbers
            number = self.path.strip("/")
            if number.isdigit() and int(number) in messages:
                body = f"<pre>{html.escape(messages[int(number)].as_string())}</pre>"
            else:
                rows = "".join(
                    f'<tr><td><a href="/{n}">{n}</a></td><td>{html.escape(str(m["To"]))}</td>'
                    f"<td>{html.escape(str(m['Subject']))}</td><td>{html.escape(str(m['Date']))}</td></tr>"
                    for n, m in reversed(messages.items())
                )
                title = f"Local mailbox, run {html.escape(sink.run)} ({len(messages)})"
                body = f"<h1>{title}</h1><table>{rows}</table>"
            raw = f"<!doctype html><meta charset=utf-8><title>mailbox</title>{body}".encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@mail_app.command("serve")
def serve(
    port: Annotated[
        int | None, typer.Option(help="The SMTP port; default: the stack's (SALUDTECH_PORT_SMTP).")
    ] = None,
    directory: Directory = _DEFAULT_DIR,
    http_port: Annotated[int, typer.Option(help="Serve the mailbox page here (0: no page).")] = 0,
    run: Annotated[
        str | None, typer.Option(help="This run's name (default: the time it starts).")
    ] = None,
) -> None:
    """Run the sink in the foreground until interrupted."""
    from infra.local.ports import StackPorts

    sink = MailSink(port or StackPorts.from_environment().smtp, directory, run).start()
    page = mailbox_page(sink, http_port) if http_port else None
    where = f", page on http://{HOST}:{http_port}/" if page else ""
    _console.print(f"SMTP sink on {HOST}:{sink.port}, keeping messages in {directory}{where}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        if page is not None:
            page.shutdown()
        sink.stop()


if __name__ == "__main__":
    mail_app()
