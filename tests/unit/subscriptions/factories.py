"""Builders of valid subscriptions commands, so each test states only what it varies."""

from __future__ import annotations

import uuid
from typing import Any

from functions.subscriptions.messages import ClientData, CreateSubscription
from infra.samples.clients import SAMPLE_CLIENT

CLIENT: dict[str, Any] = SAMPLE_CLIENT


def client_data(**changes: Any) -> ClientData:
    return ClientData(**{**CLIENT, **changes})


def create_command(
    plan: str = "PRO", subscription_id: str = "", **client: Any
) -> CreateSubscription:
    return CreateSubscription(
        subscription_id=subscription_id or str(uuid.uuid4()),
        client=client_data(**client),
        plan=plan,
    )
