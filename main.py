"""Every Cloud Function entry point of SaludTech, one source tree deployed as N functions.

Each name here is a deploy target (`--entry-point`) and the function a trigger in
infra/topology.yaml calls. One hop to the handler: open the module a name comes from.
"""

from functions.ingestion.entrypoints import (
    ingestion_ingest_package_entry,
    ingestion_on_upload,
    ingestion_queries_http,
)
from functions.subscriptions.entrypoints import (
    subscriptions_commands_http,
    subscriptions_handle_command,
    subscriptions_queries_http,
)

__all__ = [
    "ingestion_ingest_package_entry",
    "ingestion_on_upload",
    "ingestion_queries_http",
    "subscriptions_commands_http",
    "subscriptions_handle_command",
    "subscriptions_queries_http",
]
