"""Each function gets the secrets its context's code reads, and no other; the functions
that sign URLs are the ones whose code signs.

CLOUD_READS says which key of shared/config.py each context's code reads in the cloud. It
is a table, not a guess: a grep of functions/<context>/ (and of the shared helpers a
context calls) must find exactly those keys, plus the reads LOCAL_ONLY explains, so a new
read of a key fails here until the table and the topology say who gets it.

The field key is also read through the platform (functions/bootstrap.py: the sealer of
messages' personal fields, shared/service/sealed_messages.py) by every context that
publishes or consumes a message declaring personal fields (Message.PERSONAL): the topics
and triggers of the topology say which.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pydantic import SecretStr

import main
from infra.local.topology import (
    CONTEXTS,
    context_of,
    load_topology,
    secret_grants,
    signing_functions,
)
from shared.config import Settings
from shared.domain.messages import Command, Message, registered_messages
from shared.entrypoints.pubsub import consumed_type
from tests.unit.deploy.terraform_files import REPO_ROOT

TOPOLOGY = load_topology()
KEYS = {name for name, f in Settings.model_fields.items() if f.annotation is SecretStr}

# The keys each context's code reads in the cloud.
CLOUD_READS: dict[str, set[str]] = {
    "api": set(),
    # Lookup tokens of emails (HMAC), the access tokens' keyring, sealed emails.
    "identity": {"hmac_key", "jwt_keys", "field_encryption_key"},
    # Pseudonyms and UIDs (HMAC), sealed clinical fields.
    "ingestion": {"hmac_key", "field_encryption_key"},
    # The payment gateway (charges, refunds), sealed client ids and emails.
    "subscriptions": {"payment_api_key", "field_encryption_key"},
    # Sealed expert ids and emails.
    "data_services": {"field_encryption_key"},
    # Webhook signatures, confirmation links, the SMTP relay's login, sealed addresses.
    "notifications": {
        "webhook_secrets",
        "confirmation_keys",
        "smtp_password",
        "field_encryption_key",
    },
    # SubscriptionCreated's sealed client_email (the trigger of the PRO saga).
    "sagas": {"field_encryption_key"},
}
# Reads the grep finds that never happen in the cloud, and why.
LOCAL_ONLY: dict[tuple[str, str], str] = {
    ("identity", "jwt_key"): "jwt_keyring()'s fallback for an empty SALUDTECH_JWT_KEYS",
    ("data_services", "hmac_key"): "wiring.url_signer's local signer; IAM signBlob in the cloud",
}
# Shared helpers that read keys for the context calling them: call -> keys read in the cloud.
HELPERS = {
    r"\bjwt_keyring\(": {"jwt_keys", "jwt_key"},
    r"\bFieldCipher\.from_settings\(": {"field_encryption_key"},
}
# The shared files that read a key themselves (outside shared/config.py): the helpers above.
SHARED_READERS = {"shared/service/field_crypto.py": {"field_encryption_key", "hmac_key"}}


def direct_reads(text: str) -> set[str]:
    """`settings.<key>` or `settings.require_<key>()`."""
    return {key for key in KEYS if re.search(rf"\.(require_)?{key}\b", text)}


def source(path_glob: str) -> dict[str, str]:
    return {
        str(p.relative_to(REPO_ROOT)): p.read_text("utf-8")
        for p in REPO_ROOT.glob(path_glob)
        if "tests" not in p.relative_to(REPO_ROOT).parts
    }


def topic_of(message: type[Message]) -> str:
    """The topic a message travels on: its context's commands or events topic."""
    kind = "commands" if issubclass(message, Command) else "events"
    return f"{message.TYPE.split('.')[2].replace('_', '-')}-{kind}"


@cache
def personal_message_contexts() -> frozenset[str]:
    """The contexts that publish or consume a message with personal fields: its own (its
    doors publish its commands, its processor its events), those whose functions consume
    it, and those that may publish on its topic (`cloud.access.<context>.publishes`)."""
    personal = [m for m in registered_messages().values() if m.PERSONAL]
    found = {m.TYPE.split(".")[2] for m in personal}
    for function in TOPOLOGY.functions.values():
        if consumed_type(getattr(main, function.target, None)) in personal:
            found.add(context_of(function.target))
    topics = {topic_of(m) for m in personal}
    for context, access in TOPOLOGY.cloud.access.items():
        if topics & set(access.publishes):
            found.add(context.replace("-", "_"))
    return frozenset(found)


@cache
def grep_reads(context: str) -> frozenset[str]:
    """Every key the code of `context` reads, directly or through a shared helper (the
    field key through the platform's sealer, in the contexts of personal messages)."""
    found: set[str] = set()
    if context in personal_message_contexts():
        found.add("field_encryption_key")
    for text in source(f"functions/{context}/**/*.py").values():
        found |= direct_reads(text)
        for call, keys in HELPERS.items():
            if re.search(call, text):
                found |= keys
    return frozenset(found)


def key_of(env: str) -> str:
    return env.removeprefix("SALUDTECH_").lower()


def test_the_table_is_what_the_code_reads() -> None:
    assert set(CLOUD_READS) == set(CONTEXTS)
    for context in CONTEXTS:
        local = {key for (c, key) in LOCAL_ONLY if c == context}
        assert set(grep_reads(context)) == CLOUD_READS[context] | local, context


def test_no_other_shared_code_reads_a_key() -> None:
    readers = {
        path: reads
        for path, text in source("shared/**/*.py").items()
        if path != "shared/config.py" and (reads := direct_reads(text))
    }
    assert readers == SHARED_READERS


def mounted_keys() -> dict[str, set[str]]:
    envs = {secret_id: spec.env for secret_id, spec in TOPOLOGY.secrets.items()}
    mounted: dict[str, set[str]] = {name: set() for name in TOPOLOGY.functions}
    for function, secret_id in secret_grants(TOPOLOGY):
        mounted[function].add(key_of(envs[secret_id]))
    return mounted


def test_no_function_gets_a_key_its_context_does_not_read() -> None:
    for function, keys in mounted_keys().items():
        context = context_of(TOPOLOGY.functions[function].target)
        assert keys <= CLOUD_READS[context], (function, keys - CLOUD_READS[context])


def test_every_key_a_context_reads_is_mounted_into_its_functions() -> None:
    mounted = mounted_keys()
    secret_of = {key_of(spec.env): spec for spec in TOPOLOGY.secrets.values()}
    for context, keys in CLOUD_READS.items():
        functions = [
            name for name, f in TOPOLOGY.functions.items() if context_of(f.target) == context
        ]
        for key in keys:
            assert key in secret_of, f"{key}: no secret in infra/topology.yaml `secrets:`"
            having = [name for name in functions if key in mounted[name]]
            if secret_of[key].functions:
                # Mounted by function: test_function_settings.py proves the others start.
                assert having, (context, key)
            else:
                assert having == functions, (context, key, set(functions) - set(having))


def test_the_contexts_of_personal_messages_get_the_field_key() -> None:
    # Those that consume SubscriptionCreated (its client_email) among them.
    assert {"subscriptions", "data_services", "sagas", "notifications"} <= (
        personal_message_contexts()
    )
    mounted = mounted_keys()
    for name, function in TOPOLOGY.functions.items():
        if context_of(function.target) in personal_message_contexts():
            assert "field_encryption_key" in mounted[name], name


def test_terraform_mounts_what_the_topology_grants(derived: dict[str, Any]) -> None:
    mounted = {(g["function"], g["secret"]) for g in derived["secret_grants"].values()}
    assert mounted == secret_grants(TOPOLOGY)


def test_the_payment_key_reaches_only_the_functions_that_charge_or_refund() -> None:
    having = {f for f, keys in mounted_keys().items() if "payment_api_key" in keys}
    assert having == {"subscriptions-pay-subscription", "subscriptions-refund-payment"}


# The functions that sign GCS URLs, and what they sign.
SIGNERS = {
    "api": "center uploads (functions/api/uploads.py, IamUploadSigner)",
    "data-services-queries-http": "the files route's links (functions/data_services/files.py)",
}


def test_only_the_functions_that_sign_urls_may_sign_as_themselves(
    derived: dict[str, Any],
) -> None:
    assert signing_functions(TOPOLOGY) == set(SIGNERS)
    assert {n for n, f in derived["functions"].items() if f["signs_urls"]} == set(SIGNERS)
    # The contexts whose code signs through IAM are those of the signers, and no other.
    signing_code = {
        context
        for context in CONTEXTS
        if any("generate_signed_url(" in t for t in source(f"functions/{context}/**/*.py").values())
    }
    assert signing_code == {context_of(TOPOLOGY.functions[n].target) for n in SIGNERS}
