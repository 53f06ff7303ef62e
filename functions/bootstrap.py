"""The composition root: the one place where adapters are chosen and handlers wired.

Entry points ask it for what they need; the cloud adapters are built once per function
instance (on the first request, not at import, so a cold start that serves a query does not
pay for a Pub/Sub client). Unit tests install an in-memory platform with `use()`.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import Any

from functions import subscriptions
from functions.subscriptions import commands
from functions.subscriptions.messages import (
    CancelSubscription,
    ChangePlan,
    CreateSubscription,
    PaySubscription,
    SubscriptionCommandRejected,
)
from functions.subscriptions.payments_sandbox import SandboxPaymentGateway
from functions.subscriptions.ports import PaymentGateway
from functions.subscriptions.unit_of_work import SubscriptionsUnitOfWork
from shared.config import Settings, get_settings
from shared.logging import configure_logging
from shared.processing import MessageProcessor


@dataclass
class Platform:
    """The adapters behind every port, for one environment."""

    settings: Settings
    store: Any  # DocumentStore
    publisher: Any  # EventPublisher and RawPublisher
    payments: PaymentGateway
    _cache: dict[str, Any] = field(default_factory=dict)


def cloud_platform(settings: Settings) -> Platform:
    """Google Cloud, or the emulators when the *_EMULATOR_HOST variables are set."""
    from google.cloud import firestore

    from shared.adapters.firestore_store import FirestoreDocumentStore
    from shared.adapters.pubsub_publisher import PubSubPublisher

    return Platform(
        settings=settings,
        store=FirestoreDocumentStore(firestore.Client(project=settings.project_id)),
        publisher=PubSubPublisher(settings.project_id),
        payments=SandboxPaymentGateway(),
    )


def in_memory_platform(settings: Settings | None = None) -> Platform:
    from shared.adapters.memory_publisher import InMemoryPublisher
    from shared.adapters.memory_store import InMemoryDocumentStore

    return Platform(
        settings=settings or Settings(),
        store=InMemoryDocumentStore(),
        publisher=InMemoryPublisher(),
        payments=SandboxPaymentGateway(),
    )


_platform: Platform | None = None
_lock = threading.Lock()


def platform() -> Platform:
    global _platform
    with _lock:
        if _platform is None:
            settings = get_settings()
            configure_logging(settings.log_level)
            _platform = cloud_platform(settings)
        return _platform


def use(replacement: Platform | None) -> None:
    """Install another platform (tests), or None to go back to the cloud one."""
    global _platform
    with _lock:
        _platform = replacement


# -- subscriptions ---------------------------------------------------------------------------
def subscriptions_processor(p: Platform) -> MessageProcessor[SubscriptionsUnitOfWork]:
    if "subscriptions" not in p._cache:
        collection = p.settings.collection(subscriptions.CONTEXT)
        p._cache["subscriptions"] = MessageProcessor(
            consumer="subscriptions.handle_command",
            source=subscriptions.SOURCE,
            events_topic=subscriptions.EVENTS_TOPIC,
            inbox_collection=p.settings.collection("subscriptions_inbox"),
            store=p.store,
            publisher=p.publisher,
            make_uow=lambda tx: SubscriptionsUnitOfWork(tx, collection),
            handlers={
                CreateSubscription: commands.create_subscription,
                ChangePlan: commands.change_plan,
                CancelSubscription: commands.cancel_subscription,
                PaySubscription: functools.partial(commands.pay_subscription, payments=p.payments),
            },
            rejection=SubscriptionCommandRejected,
            prefetch=lambda envelope: [(collection, envelope.subject)],
        )
    processor: MessageProcessor[SubscriptionsUnitOfWork] = p._cache["subscriptions"]
    return processor


def subscriptions_collection(p: Platform) -> str:
    return p.settings.collection(subscriptions.CONTEXT)
