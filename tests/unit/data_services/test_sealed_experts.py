"""An expert's national id and email are sealed at rest (security finding 6). The registry
shows neither (nor their sealed forms); the notifications contacts door opens the email;
the aggregate reads them back, so registering the expert again still works."""

from __future__ import annotations

from typing import Any

from functions.bootstrap import InMemoryPlatform
from functions.data_services import queries
from functions.data_services.messages import NAMES, ExpertRegistered
from functions.data_services.unit_of_work import DataServicesUnitOfWork
from infra.samples.experts import SAMPLE_EXPERTS
from tests.unit.data_services.factories import register_command
from tests.unit.data_services.flow import send, the_wiring

EXPERT = SAMPLE_EXPERTS[0]
CODE, NATIONAL_ID, EMAIL = EXPERT["expert_code"], "15.111.222-3", EXPERT["email"]


def test_nothing_stored_holds_the_experts_id_or_email(platform: InMemoryPlatform) -> None:
    send(register_command())
    text = repr(platform.store._docs)
    assert CODE in text
    assert NATIONAL_ID not in text and EMAIL not in text
    stored = platform.store.get(the_wiring().collections.experts, CODE)
    assert stored is not None and {"national_id_sealed", "email_sealed"} <= set(stored)


def test_the_registry_hides_them_and_the_contacts_door_opens_the_email(
    platform: InMemoryPlatform,
) -> None:
    send(register_command())
    w = the_wiring()
    store, collections = platform.store, w.collections
    shown = queries.get_expert(store, collections, CODE)
    page = queries.experts_page(store, collections, limit=10, cursor=None)["items"]
    for view in (shown, *page):
        assert view is not None and view["first_names"] == EXPERT["first_names"]
        assert not {"national_id", "email", "national_id_sealed", "email_sealed"} & set(view)
    assert queries.expert_contact(store, collections, CODE) == {
        "expert_code": CODE,
        "email": EMAIL,
        "retired": False,
    }


def test_the_expert_reads_back_and_registers_again(platform: InMemoryPlatform) -> None:
    send(register_command())
    send(register_command(capacity=4, email="camila.soto@example.com"))
    w = the_wiring()
    # The update was decided on the expert as read back (its sealed fields opened).
    assert platform.publisher.types(NAMES.events_topic).count(ExpertRegistered.TYPE) == 2

    def load(tx: Any) -> tuple[str, str, int]:
        expert = DataServicesUnitOfWork(tx, w.collections).experts.get(CODE)
        assert expert is not None
        return expert.national_id, expert.email, expert.capacity

    assert platform.store.run_in_transaction(load) == (
        "15.111.222-3",
        "camila.soto@example.com",
        4,
    )
    contact = queries.expert_contact(platform.store, w.collections, CODE)
    assert contact is not None and contact["email"] == "camila.soto@example.com"
