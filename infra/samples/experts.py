"""The expert registry seeded on the local stack, for the demo, the e2e tests and by hand.
Fictitious people.

    .venv/bin/python -m infra.samples.experts [http://127.0.0.1:8090]

registers them through the data services' HTTP door (RegisterExpert), so they go the way
any expert would: command, function, registry.
"""

from __future__ import annotations

import sys
from typing import Any

import requests

SAMPLE_EXPERTS: list[dict[str, Any]] = [
    {
        "expert_code": "EXP-001",
        "first_names": "Camila",
        "last_names": "Soto Vera",
        "username": "csoto",
        "national_id": "15.111.222-3",
        "email": "csoto@example.com",
        "specialities": ["CHEST", "GENERAL"],
        "capacity": 3,
    },
    {
        "expert_code": "EXP-002",
        "first_names": "Diego",
        "last_names": "Muñoz Lagos",
        "username": "dmunoz",
        "national_id": "16.333.444-5",
        "email": "dmunoz@example.com",
        "specialities": ["CHEST", "ABDOMEN"],
        "capacity": 2,
    },
    {
        "expert_code": "EXP-003",
        "first_names": "Valentina",
        "last_names": "Rojas Pino",
        "username": "vrojas",
        "national_id": "17.555.666-7",
        "email": "vrojas@example.com",
        "specialities": ["NEURO", "HEAD"],
        "capacity": 4,
    },
]


def register_all(functions_url: str) -> list[str]:
    """POST every sample expert; the command ids, in order. The same Idempotency-Key each
    time, so seeding twice registers nobody twice."""
    ids = []
    for expert in SAMPLE_EXPERTS:
        response = requests.post(
            f"{functions_url.rstrip('/')}/data_services_commands_http/experts",
            json=expert,
            headers={"Idempotency-Key": f"seed-{expert['expert_code']}"},
            timeout=60,  # the first request of a cold functions host under load
        )
        response.raise_for_status()
        ids.append(response.json()["command_id"])
    return ids


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8090"
    for command_id in register_all(url):
        print(command_id)
