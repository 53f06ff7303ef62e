"""The cloud mode's front: one port, `/<target>/...`, one functions-framework process each.

In `up --cloud-mode` every function runs in its own process, on its own port, with only what
Terraform gives it. This router keeps the local URL shape (`<functions_url>/<target>/...`,
the door URL template, the bridge, the scheduler) and plays Cloud Run's part in front of
each function: a public function (cloud.public_functions) answers anyone; any other one
only a request with an ID token for its URL (shared/adapters/local_id_tokens.py) whose
caller is granted `roles/run.invoker` on it, or that the platform (push subscriptions, the
scheduler: the bridge) signed. Anything else is refused 403, as Cloud Run refuses it.

Run: python -m infra.local.router --port 8090 --routes routes.json
(SALUDTECH_LOCAL_ID_TOKEN_KEY from the env; routes.json: see `write_routes`.)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from werkzeug.wrappers import Request, Response

from infra.local.ports import StackPorts
from infra.local.wsgi_server import serve
from shared.adapters.local_id_tokens import KEY_ENV, PLATFORM_SUBJECT, InvalidIdToken, verify

log = logging.getLogger("router")
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailers", "transfer-encoding", "upgrade", "content-length",
}  # fmt: skip
TIMEOUT_SECONDS = (3.05, 600.0)  # the longest ack deadline a pushed function gets


@dataclass(frozen=True)
class Route:
    function: str
    target: str
    port: int
    public: bool
    service_account: str
    invokes: frozenset[str]


def write_routes(path: Path, routes: list[Route]) -> None:
    path.write_text(
        json.dumps([{**r.__dict__, "invokes": sorted(r.invokes)} for r in routes], indent=1),
        encoding="utf-8",
    )


def read_routes(path: Path) -> list[Route]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [Route(**{**r, "invokes": frozenset(r["invokes"])}) for r in raw]


class Router:
    def __init__(self, routes: list[Route], key: bytes, public_url: str) -> None:
        self._by_target = {r.target: r for r in routes}
        self._by_account = {r.service_account: r for r in routes}
        self._key = key
        self._public_url = public_url.rstrip("/")
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.mount("http://", HTTPAdapter(pool_maxsize=64))

    def refusal(self, route: Route, authorization: str) -> str | None:
        """Why Cloud Run would refuse this request to `route`, or None."""
        if route.public:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "no ID token"
        audience = f"{self._public_url}/{route.target}"
        try:
            subject = verify(self._key, token, audience)
        except InvalidIdToken as error:
            return f"invalid ID token: {error}"
        if subject == PLATFORM_SUBJECT:
            return None
        caller = self._by_account.get(subject)
        if caller is None or route.function not in caller.invokes:
            return f"{subject} holds no invoker role on {route.function}"
        return None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        target, _, rest = request.path.lstrip("/").partition("/")
        if not target:
            body = json.dumps({"targets": sorted(self._by_target)})
            return Response(body, content_type="application/json")(environ, start_response)
        route = self._by_target.get(target)
        if route is None:
            return Response("no such function", status=404)(environ, start_response)
        refused = self.refusal(route, request.headers.get("Authorization", ""))
        if refused is not None:
            log.warning("403 %s %s: %s", request.method, request.path, refused)
            return Response(f"Forbidden: {refused}", status=403)(environ, start_response)
        return self._forward(route, rest, request)(environ, start_response)

    def _forward(self, route: Route, rest: str, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        query = request.query_string.decode("latin-1")
        url = f"http://127.0.0.1:{route.port}/{rest}" + (f"?{query}" if query else "")
        try:
            answer = self._session.request(
                request.method, url, data=request.get_data(), headers=headers,
                stream=True, timeout=TIMEOUT_SECONDS, allow_redirects=False,
            )  # fmt: skip
        except requests.RequestException as error:
            log.warning("%s did not answer: %s", route.function, error)
            return Response(f"{route.function} is unavailable", status=503)

        def body() -> Iterator[bytes]:
            try:
                yield from answer.raw.stream(64 * 1024, decode_content=False)
            finally:
                answer.close()

        kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP]
        return Response(body(), status=answer.status_code, headers=kept)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    # The stack's port (SALUDTECH_PORT_FUNCTIONS), as `up` finds it, unless given.
    parser.add_argument("--port", type=int, default=StackPorts.from_environment().functions)
    parser.add_argument("--routes", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s"
    )
    public_url = f"http://127.0.0.1:{args.port}"
    router = Router(read_routes(args.routes), os.environ[KEY_ENV].encode(), public_url)
    log.info("routing %s", public_url)
    serve("127.0.0.1", args.port, router)


if __name__ == "__main__":
    main()
