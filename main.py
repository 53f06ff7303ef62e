"""Every Cloud Function entry point of SaludTech, one source tree deployed as N functions.

Each name here is a deploy target (`--entry-point`) and the function a trigger in
infra/topology.yaml calls. One hop to the handler: open the module a name comes from.
"""

from functions.subscriptions.entrypoints import (
    subscriptions_commands_http,
    subscriptions_handle_command,
    subscriptions_queries_http,
)

__all__ = [
    "subscriptions_commands_http",
    "subscriptions_handle_command",
    "subscriptions_queries_http",
]
