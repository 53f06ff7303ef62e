"""The keys a Dataflow worker reads from Secret Manager.

A deployed function gets its keys mounted as environment variables (infra/topology.yaml
`secrets:`); a Dataflow worker has no such mount, and a key passed as a pipeline option would
show in the job's options to anyone who can view the job. So the options name the secret
version, and each worker reads it with its own service account (roles/secretmanager.
secretAccessor on those two secrets only: docs/backfill.md). Through the REST API, with the
google-auth the Google clients already bring, rather than one more client library.
"""

from __future__ import annotations

import base64

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
ENDPOINT = "https://secretmanager.googleapis.com/v1"


class SecretUnavailable(RuntimeError):
    """The secret could not be read (names the secret, never its value)."""


def secret_version(name: str) -> str:
    """`projects/<p>/secrets/<s>` means its latest version."""
    name = name.strip().strip("/")
    if not name.startswith("projects/") or "/secrets/" not in name:
        raise ValueError("a secret is named projects/<project>/secrets/<secret>[/versions/<v>]")
    return name if "/versions/" in name else f"{name}/versions/latest"


def access_secret(name: str) -> str:
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    version = secret_version(name)
    credentials, _ = google.auth.default(scopes=[SCOPE])
    session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
    response = session.get(f"{ENDPOINT}/{version}:access", timeout=30)
    if response.status_code != 200:
        raise SecretUnavailable(f"{version}: HTTP {response.status_code}")
    data = response.json()["payload"]["data"]
    return base64.b64decode(data).decode().strip()
