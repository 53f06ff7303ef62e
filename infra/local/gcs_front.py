"""fake-gcs-server behind a thin front that answers what it lacks and forwards the rest.

`gcloud storage cp -r folder gs://bucket/prefix/` asks for the bucket's storage layout
(`GET /storage/v1/b/<bucket>/storageLayout`, to know whether the bucket has a hierarchical
namespace) before it uploads; fake-gcs-server answers 404 and gcloud gives up. The front
answers that call as Cloud Storage does for a flat bucket and forwards every other request
byte for byte, streaming bodies both ways (uploads of hundreds of MB pass through in 64 KiB
chunks, never held in memory).

It also keeps one precondition fake-gcs-server ignores: a DELETE with `ifGenerationMatch`
is answered 412 when the live generation differs, as Cloud Storage does, so functions
delete exactly as they do in the cloud (one request, no look first).

The front starts fake-gcs-server itself, as its child on a loopback port of its own, so both
share the `gcs` part's process group and stop together; it exits when the child does.

The front also relays fake-gcs-server's notifications (`--relay`): fake-gcs-server always
publishes the object's JSON (its custom metadata, the clinical history, included), where the
cloud's notification is configured without payload (terraform: payload_format = "NONE").
fake-gcs-server publishes to a private topic (`<topic>-raw`); the relay pulls each message
and republishes it on the stack's topic as Cloud Storage sends it: no data, and only the
attributes of a NONE notification (bucketId, objectId, objectGeneration, eventType, ...).
It pulls when a write it forwarded may have been notified (the bucket and events of
fake-gcs-server's own `-event.*` flags), and once a second besides.

Run: python -m infra.local.gcs_front --port 4443 [--relay PUBSUB_HOST PROJECT TOPIC]
     -- <fake-gcs-server and its flags, no -port>
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from urllib.parse import parse_qs

import requests

from infra.local.ports import StackPorts

CHUNK = 64 * 1024
UPSTREAM_READY_SECONDS = 30.0
# Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's, not the message's;
# `Expect: 100-continue` is answered by this front itself (BaseHTTPRequestHandler).
_NOT_FORWARDED = frozenset(
    ("connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
     "upgrade", "expect")
)  # fmt: skip
_STORAGE_LAYOUT = re.compile(r"^/storage/v1/b/(?P<bucket>[^/?]+)/storageLayout(?:\?.*)?$")
_OBJECT = re.compile(r"^(?P<object>/storage/v1/b/[^/?]+/o/[^?]+)(?:\?(?P<query>.*))?$")
_NO_BODY_STATUSES = frozenset((204, 304))
# The requests that may set off each of fake-gcs-server's notification events.
_EVENT_METHODS = {
    "finalize": ("POST", "PUT"),  # uploads (simple, multipart, resumable), copies, composes
    "delete": ("DELETE",),
    "metadataUpdate": ("PATCH", "PUT"),
}


def storage_layout(bucket: dict[str, object]) -> dict[str, object]:
    """What Cloud Storage answers for a bucket without a hierarchical namespace."""
    return {
        "kind": "storage#storageLayout",
        "bucket": bucket.get("name"),
        "location": bucket.get("location", "US-CENTRAL1"),
        "locationType": bucket.get("locationType", "region"),
        "hierarchicalNamespace": {"enabled": False},
    }


class _FrontHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive to clients, as fake-gcs-server does
    # An answer leaves in two writes (headers, then body): with Nagle on, the body waits for
    # the client's delayed ACK of the headers, 40 ms on every request.
    disable_nagle_algorithm = True
    upstream_port: int  # set on the subclass built by serve()
    changed: threading.Event | None = None  # set after a write that may be notified
    notified: Notified | None = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        # One upstream connection per client connection: keep-alive on both sides.
        self._upstream: http.client.HTTPConnection | None = None
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: object) -> None:
        pass  # fake-gcs-server logs every request already

    def _connection(self) -> http.client.HTTPConnection:
        if self._upstream is None:
            self._upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port)
            self._upstream.connect()
            # Likewise upstream: http.client sends a request's headers and body apart.
            self._upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._upstream

    def _drop_connection(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def finish(self) -> None:
        self._drop_connection()
        super().finish()

    def _handle(self) -> None:
        layout = _STORAGE_LAYOUT.match(self.path) if self.command == "GET" else None
        if layout is not None:
            self._answer_storage_layout(layout["bucket"])
        elif self.command == "DELETE" and self._generation_mismatch():
            self._answer_precondition_failed()
        else:
            self._forward()

    # http.server dispatches on do_<METHOD>; every method takes the same road.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle  # noqa: N815

    def _answer_storage_layout(self, bucket: str) -> None:
        upstream = self._connection()
        upstream.request("GET", f"/storage/v1/b/{bucket}", headers={"Host": self.headers["Host"]})
        response = upstream.getresponse()
        body = response.read()
        if response.status == 200:
            body = json.dumps(storage_layout(json.loads(body))).encode()
        # An unknown bucket keeps fake-gcs-server's own 404, as Cloud Storage answers one.
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _generation_mismatch(self) -> bool:
        """fake-gcs-server deletes whatever generation is live, ignoring ifGenerationMatch;
        Cloud Storage answers 412 when the live generation differs, which is what lets a
        function delete the upload it read and never a newer one of the same name."""
        target = _OBJECT.match(self.path)
        wanted = parse_qs(target["query"] or "").get("ifGenerationMatch") if target else None
        if target is None or not wanted:
            return False
        upstream = self._connection()
        try:
            upstream.request("GET", target["object"], headers={"Host": self.headers["Host"]})
            response = upstream.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self._drop_connection()
            return False  # the forward answers 502
        if response.status != 200:
            return False  # forwarded: fake-gcs-server answers the 404 itself
        return bool(str(json.loads(body).get("generation")) != wanted[0])

    def _answer_precondition_failed(self) -> None:
        body = json.dumps(
            {"error": {"code": 412, "message": "At least one of the pre-conditions you "
                       "specified did not hold.", "errors": [{"reason": "conditionNotMet"}]}}
        ).encode()  # fmt: skip
        self.send_response(412)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _request_body(self) -> Iterator[bytes] | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._dechunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self._exactly(length) if length else None

    def _exactly(self, length: int) -> Iterator[bytes]:
        while length > 0:
            chunk = self.rfile.read(min(CHUNK, length))
            if not chunk:
                raise ConnectionError("client closed the connection mid-body")
            length -= len(chunk)
            yield chunk

    def _dechunked(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield from self._exactly(size)
            self.rfile.readline()  # the CRLF after each chunk

    def _forward(self) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED}
        body = self._request_body()
        chunked = body is not None and "Content-Length" not in self.headers
        upstream = self._connection()
        try:
            upstream.request(self.command, self.path, body=body, headers=headers,
                             encode_chunked=chunked)  # fmt: skip
            response = upstream.getresponse()
        except (OSError, http.client.HTTPException):
            self._drop_connection()
            self.send_error(502, "fake-gcs-server did not answer")
            return
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _NOT_FORWARDED:
                self.send_header(key, value)
        has_body = self.command != "HEAD" and response.status not in _NO_BODY_STATUSES
        # http.client has decoded a chunked answer; re-chunk it when its length is unknown.
        rechunk = has_body and response.getheader("Content-Length") is None
        if rechunk:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while has_body and (chunk := response.read(CHUNK)):
            if rechunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                self.wfile.write(chunk)
        if rechunk:
            self.wfile.write(b"0\r\n\r\n")
        if response.will_close:
            self._drop_connection()
        if (
            self.changed is not None
            and response.status < 300
            and (self.notified is None or self.notified.may_follow(self.command, self.path))
        ):
            self.changed.set()


@dataclass(frozen=True)
class Notified:
    """Which writes fake-gcs-server notifies, read from its own flags (`-event.list`,
    `-event.bucket`), so the relay is woken only by a write a notification may follow."""

    methods: frozenset[str]
    bucket: str | None  # None: every bucket

    @classmethod
    def from_flags(cls, command: list[str]) -> Notified:
        def flag(name: str) -> str | None:
            return command[command.index(name) + 1] if name in command[:-1] else None

        events = (flag("-event.list") or "finalize").split(",")
        methods = {method for event in events for method in _EVENT_METHODS.get(event, ())}
        return cls(frozenset(methods), flag("-event.bucket"))

    def may_follow(self, method: str, path: str) -> bool:
        # A copy names its destination after the source: "/b/<bucket>/" anywhere will do.
        return method in self.methods and (
            self.bucket is None or f"/b/{self.bucket}/" in path.split("?", 1)[0]
        )


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_upstream(child: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + UPSTREAM_READY_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            sys.exit(f"fake-gcs-server exited with code {child.returncode} before answering")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    sys.exit(f"fake-gcs-server did not listen on {port} within {UPSTREAM_READY_SECONDS:.0f} s")


# What a notification configured with payload_format NONE carries: attributes only.
NOTIFICATION_ATTRIBUTES = frozenset(
    ("bucketId", "objectId", "objectGeneration", "eventType", "eventTime",
     "notificationConfig", "overwroteGeneration", "overwrittenByGeneration")
)  # fmt: skip
RELAY_SUFFIX = "-raw"
# Without a write through the front (fake-gcs-server's own lifecycle events), how often the
# relay looks; after one, fake-gcs-server publishes while or just after it answers, so the
# relay looks again at these delays until something comes.
IDLE_POLL_SECONDS = 1.0
AFTER_WRITE_SECONDS = (0.0, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


def raw_topic(topic: str) -> str:
    """The private topic fake-gcs-server publishes to, which only the relay reads."""
    return f"{topic}{RELAY_SUFFIX}"


def without_payload(message: dict[str, object]) -> dict[str, object]:
    """A fake-gcs-server notification as Cloud Storage sends one without payload."""
    given = message.get("attributes")
    attributes = {
        k: str(v)
        for k, v in (given.items() if isinstance(given, dict) else ())
        if k in NOTIFICATION_ATTRIBUTES
    }
    if "objectGeneration" not in attributes:  # read from the payload before it is dropped
        try:
            raw = base64.b64decode(str(message.get("data") or ""))
            generation = json.loads(raw).get("generation")
        except (ValueError, AttributeError):
            generation = None
        if generation is not None:
            attributes["objectGeneration"] = str(generation)
    return {"attributes": {**attributes, "payloadFormat": "NONE"}}


class NotificationRelay:
    """Pulls `<topic>-raw` and republishes each message without payload on `topic`."""

    def __init__(self, pubsub_host: str, project: str, topic: str) -> None:
        self._base = f"http://{pubsub_host}/v1/projects/{project}"
        self._project, self._topic = project, topic
        self._subscription = f"{raw_topic(topic)}-relay"
        self._http = requests.Session()
        # Set by the front after each write it forwards: the relay pulls then rather than at
        # its next idle poll, so an upload is not up to IDLE_POLL_SECONDS late.
        self.changed = threading.Event()

    def ensure(self) -> None:
        """The raw topic and its subscription (again after the emulator restarted)."""
        raw = raw_topic(self._topic)
        for url, body in (
            (f"{self._base}/topics/{raw}", {}),
            (f"{self._base}/subscriptions/{self._subscription}",
             {"topic": f"projects/{self._project}/topics/{raw}", "ackDeadlineSeconds": 30}),
        ):  # fmt: skip
            answer = self._http.put(url, json=body, timeout=10)
            if answer.status_code not in (200, 409):
                answer.raise_for_status()

    def relay_once(self) -> int:
        # Answered at once: a long pull the client gives up on leaves the messages the
        # emulator handed to it outstanding until their ack deadline (30 s late).
        pulled = self._http.post(
            f"{self._base}/subscriptions/{self._subscription}:pull",
            json={"maxMessages": 100, "returnImmediately": True}, timeout=30,
        )  # fmt: skip
        if pulled.status_code == 404:
            self.ensure()
            return 0
        pulled.raise_for_status()
        received = pulled.json().get("receivedMessages", [])
        if not received:
            return 0
        messages = [without_payload(r["message"]) for r in received]
        published = self._http.post(
            f"{self._base}/topics/{self._topic}:publish", json={"messages": messages}, timeout=30
        )
        published.raise_for_status()
        self._http.post(
            f"{self._base}/subscriptions/{self._subscription}:acknowledge",
            json={"ackIds": [r["ackId"] for r in received]}, timeout=30,
        ).raise_for_status()  # fmt: skip
        return len(received)

    def _after_write(self) -> None:
        for delay in AFTER_WRITE_SECONDS:
            time.sleep(delay)
            if self.relay_once():
                return

    def run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                if self.relay_once():
                    continue
                if self.changed.wait(IDLE_POLL_SECONDS):
                    self.changed.clear()
                    self._after_write()
            except (requests.RequestException, ValueError) as error:
                print(f"gcs_front: notification relay: {error}", file=sys.stderr, flush=True)
                stopping.wait(1.0)


def serve(port: int, upstream_command: list[str], relay: NotificationRelay | None = None) -> int:
    upstream_port = free_loopback_port()
    # stdout/stderr are inherited: fake-gcs-server's lines land in the part's log.
    child = subprocess.Popen([*upstream_command, "-port", str(upstream_port)])
    stopping = threading.Event()

    def on_terminate(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGINT, on_terminate)
    _wait_for_upstream(child, upstream_port)
    if relay is not None:
        try:
            relay.ensure()  # before any upload can be notified
        except requests.RequestException as error:  # the emulator still starting: run retries
            print(f"gcs_front: notification relay: {error}", file=sys.stderr, flush=True)
        threading.Thread(target=relay.run, args=(stopping,), daemon=True).start()
    handler = type(
        "FrontHandler", (_FrontHandler,),
        {
            "upstream_port": upstream_port,
            "changed": relay.changed if relay else None,
            "notified": Notified.from_flags(upstream_command),
        },
    )  # fmt: skip
    # Listening only now: the stack's readiness probe must not pass before the upstream does.
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    while not stopping.is_set() and child.poll() is None:
        stopping.wait(0.2)
    server.shutdown()
    if child.poll() is None:
        child.terminate()
    return child.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    # The stack's port (SALUDTECH_PORT_GCS), as `up` finds it, unless given.
    parser.add_argument("--port", type=int, default=StackPorts.from_environment().gcs)
    parser.add_argument(
        "--relay", nargs=3, metavar=("PUBSUB_HOST", "PROJECT", "TOPIC"),
        help="republish fake-gcs-server's notifications (on TOPIC-raw) on TOPIC, no payload",
    )  # fmt: skip
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- fake-gcs-server ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the fake-gcs-server command after --")
    relay = NotificationRelay(*args.relay) if args.relay else None
    sys.exit(serve(args.port, command, relay))


if __name__ == "__main__":
    main()
