"""One process that serves every function of the topology at /<target>/.

In the cloud each function is its own service; locally one functions-framework process per
function would cost about 100 MiB each, so this host mounts one functions-framework app per
target under its path (werkzeug's DispatcherMiddleware) and serves them all, threaded.

`functions_framework.create_app` is called once per target with the signature type the
topology implies (http trigger -> http, Pub/Sub or GCS trigger -> cloudevent). Passing it
explicitly matters: create_app records the first signature type it resolves in
os.environ[FUNCTION_SIGNATURE_TYPE] and would apply it to every later undecorated target.
A decorator on the function (@functions_framework.cloud_event) still takes precedence.
Each call re-executes the source module, which mirrors the cloud, where every function has
its own copy of the module's globals.

Run: python -m infra.local.functions_host --port 8090 [--source main.py] [--topology ...]

With `--target T` it serves that one function at / instead, as the cloud does: the cloud
mode (`up --cloud-mode`) runs one such process per function, behind infra/local/router.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import functions_framework
from functions_framework.exceptions import FunctionsFrameworkException
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request, Response

from infra.local.ports import StackPorts
from infra.local.topology import DEFAULT_TOPOLOGY_PATH, REPO_ROOT, Topology, load_topology
from infra.local.wsgi_server import serve

DEFAULT_SOURCE = REPO_ROOT / "main.py"

log = logging.getLogger("functions_host")

WsgiApp = Any  # werkzeug's WSGI callables are untyped at this boundary


def build_apps(topology: Topology, source: Path) -> tuple[dict[str, WsgiApp], dict[str, str]]:
    """One app per target the source defines; the second dict says why others were skipped."""
    apps: dict[str, WsgiApp] = {}
    skipped: dict[str, str] = {}
    if not source.exists():
        return apps, {
            f.target: f"source {source} does not exist" for f in topology.functions.values()
        }
    for name, function in topology.functions.items():
        if function.target in apps:
            continue  # two functions may share an entry point
        try:
            apps[function.target] = functions_framework.create_app(  # type: ignore[no-untyped-call]
                target=function.target,
                source=str(source),
                signature_type=function.signature_type,
            )
        except FunctionsFrameworkException as error:
            # The target is not written yet: serve the others and say so.
            skipped[function.target] = f"{name}: {error}"
        except Exception as error:  # a broken source must not hide the working targets
            log.exception("loading %s from %s failed", function.target, source)
            skipped[function.target] = f"{name}: {type(error).__name__}: {error}"
    return apps, skipped


def _index_app(targets: Iterable[str], skipped: dict[str, str], source: Path) -> WsgiApp:
    body = json.dumps(
        {"source": str(source), "targets": sorted(targets), "skipped": skipped}
    ).encode()

    @Request.application
    def index(request: Request) -> Response:
        # Readiness probe and a map of what is served; any other path is an unknown target.
        status = 200 if request.path in ("/", "") else 404
        return Response(body, status=status, content_type="application/json")

    return index


def create_host_app(topology: Topology, source: Path) -> tuple[WsgiApp, list[str]]:
    apps, skipped = build_apps(topology, source)
    for target, reason in skipped.items():
        log.warning("not serving %s: %s", target, reason)
    mounts = {f"/{target}": app for target, app in apps.items()}
    return DispatcherMiddleware(_index_app(apps, skipped, source), mounts), sorted(apps)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    # The stack's port (SALUDTECH_PORT_FUNCTIONS), as `up` finds it, unless given.
    parser.add_argument("--port", type=int, default=StackPorts.from_environment().functions)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY_PATH)
    parser.add_argument("--target", help="serve only this entry point, at /")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s"
    )
    source = args.source.resolve()
    # Let main.py import the project's packages the way the cloud's source upload does.
    sys.path.insert(0, str(source.parent))
    topology = load_topology(args.topology)
    if args.target:
        kinds = {f.target: f.signature_type for f in topology.functions.values()}
        app = functions_framework.create_app(  # type: ignore[no-untyped-call]
            target=args.target, source=str(source), signature_type=kinds[args.target]
        )
        targets = [args.target]
    else:
        app, targets = create_host_app(topology, source)
    log.info("serving %s from %s on %s:%s", targets, source, args.host, args.port)
    serve(args.host, args.port, app)


if __name__ == "__main__":
    main()
