"""A client's data services and notifications, and an expert's assignments (the data
services they were assigned)."""

from __future__ import annotations

from functions.api import reads
from functions.api.answers import Page
from functions.api.context_doors import DATA_SERVICES_QUERIES, NOTIFICATIONS_QUERIES
from functions.api.context_views import DataService, Notifications, shown
from functions.api.guard import current
from functions.api.parameters import PageQuery
from functions.api.routing import CLIENT, EXPERT, Routes

routes = Routes("clients", "a client's data services and notifications, an expert's work")


@routes.get("/v1/data-services", Page[DataService], roles=CLIENT, summary="your data services")
def data_services(query: PageQuery) -> Page[DataService]:
    call = current()
    call.resource.append(f"client/{call.principal.scope}/data-services")
    doors = call.wiring.platform.doors
    found = reads.data_services_of(doors, call.principal, query.limit, query.cursor)
    return shown(Page[DataService], found, DATA_SERVICES_QUERIES)


@routes.get(
    "/v1/notifications", Notifications, roles=CLIENT, summary="what you were told, newest first"
)
def notifications(query: PageQuery) -> Notifications:
    call = current()
    call.resource.append(f"client/{call.principal.scope}/notifications")
    doors = call.wiring.platform.doors
    found = reads.notifications_of(doors, call.principal, query.limit, query.cursor)
    return shown(Notifications, found, NOTIFICATIONS_QUERIES)


@routes.get("/v1/assignments", Page[DataService], roles=EXPERT, summary="your assignments")
def assignments(query: PageQuery) -> Page[DataService]:
    call = current()
    call.resource.append(f"expert/{call.principal.scope}/assignments")
    doors = call.wiring.platform.doors
    found = reads.assignments_of(doors, call.principal, query.limit, query.cursor)
    return shown(Page[DataService], found, DATA_SERVICES_QUERIES)
