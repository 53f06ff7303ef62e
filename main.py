"""Every Cloud Function entry point of SaludTech, one source tree deployed as N functions.

Each name here is a deploy target (`--entry-point`) and the function one entry of
infra/topology.yaml calls (tests/unit/test_deployment_map.py keeps the two and every
context's handler map in step). One hop to the handler: open the module a name comes from.
"""

from functions.data_services.entrypoints import (
    data_services_assign_expert,
    data_services_cancel_data_service,
    data_services_commands_http,
    data_services_create_data_service,
    data_services_deliver_chunk,
    data_services_finish_data_service,
    data_services_project_image,
    data_services_project_subscription,
    data_services_queries_http,
    data_services_record_dead_letter,
    data_services_register_expert,
    data_services_revoke_chunk,
    data_services_start_data_service,
)
from functions.api.entrypoints import api_http
from functions.ingestion.entrypoints import (
    ingestion_ingest_package_entry,
    ingestion_on_upload,
    ingestion_queries_http,
    ingestion_record_dead_letter,
)
from functions.subscriptions.entrypoints import (
    subscriptions_cancel_subscription,
    subscriptions_change_plan,
    subscriptions_commands_http,
    subscriptions_create_subscription,
    subscriptions_pay_subscription,
    subscriptions_queries_http,
    subscriptions_record_dead_letter,
)

__all__ = [
    "api_http",
    "data_services_assign_expert",
    "data_services_cancel_data_service",
    "data_services_commands_http",
    "data_services_create_data_service",
    "data_services_deliver_chunk",
    "data_services_finish_data_service",
    "data_services_project_image",
    "data_services_project_subscription",
    "data_services_queries_http",
    "data_services_record_dead_letter",
    "data_services_register_expert",
    "data_services_revoke_chunk",
    "data_services_start_data_service",
    "ingestion_ingest_package_entry",
    "ingestion_on_upload",
    "ingestion_queries_http",
    "ingestion_record_dead_letter",
    "subscriptions_cancel_subscription",
    "subscriptions_change_plan",
    "subscriptions_commands_http",
    "subscriptions_create_subscription",
    "subscriptions_pay_subscription",
    "subscriptions_queries_http",
    "subscriptions_record_dead_letter",
]
