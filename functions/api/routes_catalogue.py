"""Before buying: what the catalogue holds for a buyer's criteria, and the quote of a
dataset on a plan. Both are counts that identify no one, under the minimum cell size that
data services applies (functions/data_services/catalogue_counts.py says how, and what it
does not prevent); the api passes them on and never sees a record of the catalogue."""

from __future__ import annotations

from functions.api import reads
from functions.api.context_doors import DATA_SERVICES_QUERIES
from functions.api.context_views import Quote, shown
from functions.api.guard import current
from functions.api.parameters import CatalogueCountsQuery
from functions.api.routing import CLIENT, Routes
from functions.data_services.messages import CatalogueCountsView, DatasetQuoteRequest

routes = Routes("catalogue", "what the catalogue holds, and what a dataset would cost")


@routes.get(
    "/v1/catalogue/counts", CatalogueCountsView, roles=CLIENT,
    summary="images, studies and patients for your criteria (small counts suppressed)",
)  # fmt: skip
def catalogue_counts(query: CatalogueCountsQuery) -> CatalogueCountsView:
    call = current()
    call.resource.append("catalogue/counts")
    doors = call.wiring.platform.doors
    found = reads.catalogue_counts(doors, query.model_dump(exclude_none=True))
    return shown(CatalogueCountsView, found, DATA_SERVICES_QUERIES)


@routes.post(
    "/v1/quotes", 200, Quote, roles=CLIENT, refused=(422,),
    summary="what a dataset would hold on a plan, and the plan's price",
)  # fmt: skip
def quote(body: DatasetQuoteRequest) -> Quote:
    # A POST for its body (the criteria), not a change: nothing is recorded but the audit
    # entry. It counts against the commands' rate limit, the tighter one, since each quote
    # is a count over the catalogue a buyer chooses the criteria of.
    call = current()
    call.resource.append("quotes")
    doors = call.wiring.platform.doors
    quoted = reads.dataset_quote(doors, body.model_dump(mode="json"))
    price = reads.plan_price(doors, str(quoted["plan"]))
    return shown(Quote, {**quoted, "price": price}, DATA_SERVICES_QUERIES)
