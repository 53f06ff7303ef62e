"""The local cloud mode's IAM (shared/adapters/grants.py), on the grants Terraform computes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.grants import FunctionGrants, TerraformUnavailable, terraform_grants
from infra.local.topology import DEFAULT_TOPOLOGY_PATH
from shared.adapters import grants
from shared.adapters.grants import AccessDenied, Grants
from shared.adapters.http_doors import HttpDoors
from shared.adapters.pubsub_publisher import PubSubPublisher
from shared.domain.errors import PermanentError, TransientError

PREFIX = "proj-dev"


@pytest.fixture(scope="module")
def terraform() -> dict[str, FunctionGrants]:
    try:
        return terraform_grants(DEFAULT_TOPOLOGY_PATH, PREFIX)
    except TerraformUnavailable:
        pytest.skip("terraform is not installed: `make deploy-check` says how to install it")


def granted(terraform: dict[str, FunctionGrants], function: str) -> Grants:
    return Grants.from_json(terraform[function].to_json())


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Installs one function's grants as SALUDTECH_GRANTS, as the cloud mode does."""

    def install(function_grants: FunctionGrants) -> None:
        monkeypatch.setenv(grants.ENV, function_grants.to_json())
        grants.current.cache_clear()

    yield install
    grants.current.cache_clear()


def test_without_grants_nothing_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(grants.ENV, raising=False)
    grants.current.cache_clear()
    grants.check_database("saludtech-anything")
    grants.check_publish("any-topic")
    grants.check_bucket("any-bucket", "delete")
    grants.check_invoke("any-function")


def test_the_api_opens_its_own_database_and_no_other(terraform: Any) -> None:
    api = granted(terraform, "api")
    api.check_database("saludtech-api")
    with pytest.raises(AccessDenied, match="saludtech-identity"):
        api.check_database("saludtech-identity")


def test_the_api_publishes_nothing_and_invokes_only_its_doors(terraform: Any) -> None:
    api = granted(terraform, "api")
    with pytest.raises(AccessDenied, match="subscriptions-commands"):
        api.check_publish("subscriptions-commands")
    api.check_invoke("identity-commands-http")
    api.check_invoke("subscriptions-queries-http")
    with pytest.raises(AccessDenied, match="sagas-tick"):
        api.check_invoke("sagas-tick")


def test_a_bucket_role_allows_what_its_permissions_do(terraform: Any) -> None:
    api = granted(terraform, "api")  # objectCreator on ingest: create, nothing else
    api.check_bucket(f"{PREFIX}-ingest", "create")
    for operation in ("read", "list", "overwrite", "delete"):
        with pytest.raises(AccessDenied, match="objectCreator"):
            api.check_bucket(f"{PREFIX}-ingest", operation)
    with pytest.raises(AccessDenied, match="anonymized"):
        api.check_bucket(f"{PREFIX}-anonymized", "read")
    upload = granted(terraform, "ingestion-on-upload")
    upload.check_bucket(f"{PREFIX}-ingest", "delete")
    upload.check_bucket(f"{PREFIX}-quarantine", "create")


def test_the_read_side_publishes_nothing(terraform: Any) -> None:
    queries = granted(terraform, "subscriptions-queries-http")
    queries.check_database("saludtech-subscriptions")
    with pytest.raises(AccessDenied):
        queries.check_publish("subscriptions-events")
    commands = granted(terraform, "subscriptions-commands-http")
    commands.check_publish("subscriptions-commands")


def test_a_denial_is_neither_permanent_nor_transient() -> None:
    # A PermanentError is acknowledged with a failure event, a TransientError retried
    # quietly: a denial escapes both, loudly, as PermissionDenied does in the cloud.
    assert not issubclass(AccessDenied, (PermanentError, TransientError))


class _Refusing:
    """A client that must never be reached: the guard refuses first."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the client was called ({name})")


def test_the_adapters_ask_before_they_act(terraform: Any, installed: Any) -> None:
    installed(terraform["subscriptions-queries-http"])
    publisher = PubSubPublisher("p", client=_Refusing())
    with pytest.raises(AccessDenied, match="subscriptions-events"):
        publisher.publish("subscriptions-events", [])
    with pytest.raises(AccessDenied, match="sagas-operations-http"):
        HttpDoors("http://127.0.0.1:9/{target}", session=_Refusing()).call(  # type: ignore[arg-type]
            "sagas_operations_http", "GET", "/"
        )


def test_the_firestore_store_refuses_a_database_not_granted(
    terraform: Any, installed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud import firestore

    from shared.adapters.firestore_store import FirestoreDocumentStore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")  # never reached
    installed(terraform["api"])
    store = FirestoreDocumentStore(firestore.Client(project="p", database="saludtech-identity"))
    with pytest.raises(AccessDenied, match="saludtech-identity"):
        store.get("accounts", "a")
