"""How the subscriptions context is put together from the shared platform."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from functions.subscriptions.domain import PaymentResult, RefundResult
from functions.subscriptions.handlers import HANDLERS, Dependencies
from functions.subscriptions.messages import NAMES
from functions.subscriptions.ports import Charge, PaymentGateway, Refund
from functions.subscriptions.unit_of_work import (
    COLLECTION,
    SubscriptionsUnitOfWork,
    client_fields,
)
from shared.platform import Platform
from shared.service.command_log import CommandLog
from shared.service.field_crypto import SealedFields
from shared.service.processing import MessageProcessor, processor_handlers


@dataclass(frozen=True)
class SubscriptionsWiring:
    platform: Platform
    processor: MessageProcessor[SubscriptionsUnitOfWork, Dependencies]
    commands: CommandLog
    collection: str
    client: SealedFields  # how the client's personal fields are sealed at rest


def payment_gateway(platform: Platform) -> PaymentGateway:
    """The gateway the settings name. The sandbox answers by card token and never charges
    anyone: Settings refuses it in the cloud."""
    settings = platform.settings
    if settings.payment_gateway == "stripe":
        from functions.subscriptions.adapters.stripe_payments import StripePaymentGateway

        return StripePaymentGateway(
            api_key=settings.require_payment_api_key(),
            base_url=settings.payment_api_url,
        )
    from functions.subscriptions.adapters.sandbox_payments import SandboxPaymentGateway

    return SandboxPaymentGateway()


class GatewayOnFirstUse:
    """The payment gateway, built at the first charge or refund: only the functions that
    charge or refund are given the provider's key (infra/topology.yaml `secrets:`), and the
    other subscriptions functions share this wiring without ever needing it."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._gateway: PaymentGateway | None = None
        self._lock = threading.Lock()

    @property
    def gateway(self) -> PaymentGateway:
        """The gateway itself, built now if it was not yet."""
        with self._lock:
            if self._gateway is None:
                self._gateway = payment_gateway(self._platform)
            return self._gateway

    def charge(self, charge: Charge) -> PaymentResult:
        return self.gateway.charge(charge)

    def refund(self, refund: Refund) -> RefundResult:
        return self.gateway.refund(refund)


def build(platform: Platform) -> SubscriptionsWiring:
    settings = platform.settings
    collection = settings.collection(COLLECTION)
    inbox = settings.collection(f"{NAMES.name}_inbox")
    client = client_fields(settings)
    processor = MessageProcessor(
        consumer=NAMES.name,
        context=NAMES,
        inbox_collection=inbox,
        store=platform.store,
        publisher=platform.publisher,
        make_uow=lambda tx: SubscriptionsUnitOfWork(tx, client, collection),
        handlers=processor_handlers(HANDLERS),
        deps=Dependencies(clock=platform.clock, payments=GatewayOnFirstUse(platform)),
        clock=platform.clock,
        prefetch=lambda envelope: [(collection, envelope.subject)],
        # SubscriptionCreated carries the client's email: its inbox copies are sealed.
        outbox_cipher=client.cipher,
    )
    return SubscriptionsWiring(
        platform=platform,
        processor=processor,
        commands=CommandLog(
            store=platform.store,
            collection=settings.collection(f"{NAMES.name}_commands"),
            inbox_collection=inbox,
            dead_letters=platform.dead_letters,
            clock=platform.clock,
        ),
        collection=collection,
        client=client,
    )
