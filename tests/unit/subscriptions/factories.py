"""Builders of valid subscriptions commands, so each test states only what it varies."""

from __future__ import annotations

import uuid
from typing import Any

from functions.subscriptions.messages import ClientData, CreateSubscription

CLIENT: dict[str, Any] = {
    "code": "0001",
    "first_names": "Pablo",
    "last_names": "Pérez Prieto",
    "username": "pperez",
    "rut": "12.345.678-5",
    "national_id": "123457890",
    "email": "pperez@domain.com",
}


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
