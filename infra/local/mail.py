"""The local stack's mailbox: a real SMTP server (aiosmtpd) that keeps what it receives.

Functions send email to it over SMTP exactly as they would to a relay; every message is kept
as an .eml file in the stack's state directory, so `python -m infra.local mail` lists them
and `mail show N` prints one. Tests start their own sink on a free port and read it in
memory. It can also answer a chosen SMTP reply (e.g. 451 or 550) to every message, so
tests see what a refusing or troubled server does to deliveries.

Run alone: `python -m infra.local.mail serve --port 8025 --dir .local/mail`.
"""

from __future__ import annotations

import email
import email.policy
import html
import socket
import threading
import time
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class _Keeper:
    """The aiosmtpd handler: keep each message (or refuse it, when told to)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.messages: list[EmailMessage] = []
        self.received_at: list[float] = []  # time.time() of each message, for latencies
        self.reply: str | None = None  # e.g. "550 5.1.1 no such user": refuse everything
        self.changed = threading.Condition()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        if self.reply is not None:
            return self.reply
        raw: bytes = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.changed:
            self.messages.append(message)
            self.received_at.append(time.time())
            if self.directory is not None:
                (self.directory / f"{len(self.messages):06d}.eml").write_bytes(raw)
            self.changed.notify_all()
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on 127.0.0.1 that keeps every message it is sent."""

    def __init__(self, port: int = 0, directory: Path | None = None) -> None:
        self.port = port or free_port()
        self._keeper = _Keeper(directory)
        # `hostname` must be given: aiosmtpd's default resolves the machine's name.
        self._controller = Controller(self._keeper, hostname=HOST, port=self.port)

    def start(self) -> MailSink:
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
    found = []
    for path in sorted(directory.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found.append((path.stem, message))
    return found


# -- command line ----------------------------------------------------------------------------
mail_app = typer.Typer(help="The local mailbox: what the functions sent by email.")
_console = Console(highlight=False)
Directory = Annotated[Path, typer.Option("--dir", help="Where the sink keeps its .eml files.")]
# Where the local stack keeps its mailbox (beside stack.json in the state directory).
_DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".local" / "mail"


@mail_app.command("list")
def list_messages(directory: Directory = _DEFAULT_DIR) -> None:
    """Every message received, oldest first."""
    table = Table("n", "to", "subject", "date")
    for number, message in stored_messages(directory):
        table.add_row(number.lstrip("0"), str(message["To"]), str(message["Subject"]),
                      str(message["Date"]))  # fmt: skip
    _console.print(table)


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
            messages = sink.messages
            number = self.path.strip("/")
            if number.isdigit() and 0 < int(number) <= len(messages):
                body = f"<pre>{html.escape(messages[int(number) - 1].as_string())}</pre>"
            else:
                rows = "".join(
                    f'<tr><td><a href="/{n}">{n}</a></td><td>{html.escape(str(m["To"]))}</td>'
                    f"<td>{html.escape(str(m['Subject']))}</td><td>{html.escape(str(m['Date']))}</td></tr>"
                    for n, m in reversed(list(enumerate(messages, start=1)))
                )
                body = f"<h1>Local mailbox ({len(messages)})</h1><table>{rows}</table>"
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
    port: int = DEFAULT_PORT,
    directory: Directory = _DEFAULT_DIR,
    http_port: Annotated[int, typer.Option(help="Serve the mailbox page here (0: no page).")] = 0,
) -> None:
    """Run the sink in the foreground until interrupted."""
    sink = MailSink(port, directory).start()
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
