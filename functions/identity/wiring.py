"""How the identity context is put together from its platform (its own database)."""

from __future__ import annotations

from dataclasses import dataclass

from functions.identity.access_tokens import AccessTokens
from functions.identity.accounts import COLLECTIONS, Accounts
from functions.identity.adapters.argon2_passwords import Argon2Passwords
from functions.identity.adapters.google_id_tokens import GoogleIdTokens, http_certificates
from functions.identity.service import Identity
from functions.identity.throttle import COLLECTIONS as THROTTLE_COLLECTIONS
from functions.identity.throttle import LoginThrottle, ThrottlePolicy
from shared.platform import Platform
from shared.service.field_crypto import FieldCipher


@dataclass(frozen=True)
class IdentityWiring:
    platform: Platform
    accounts: Accounts
    identity: Identity


def build(platform: Platform) -> IdentityWiring:
    settings = platform.settings
    passwords = Argon2Passwords(settings.api_password_time_cost, settings.api_password_memory_kib)
    accounts = Accounts(
        store=platform.store,
        passwords=passwords,
        cipher=FieldCipher.from_settings(settings),
        lookup_key=settings.require_hmac_key().encode(),
        clock=platform.clock,
        collections={name: settings.collection(name) for name in COLLECTIONS},
        refresh_seconds=settings.api_refresh_token_seconds,
    )
    identity = Identity(
        accounts=accounts,
        tokens=AccessTokens(
            keyring=settings.jwt_keyring(),
            active_kid=settings.jwt_active_kid,
            lifetime_seconds=settings.api_access_token_seconds,
        ),
        google=GoogleIdTokens(
            audience=settings.google_id_audience,
            fetch=http_certificates(settings.google_id_certs_url),
        ),
        clock=platform.clock,
        throttle=LoginThrottle(
            store=platform.store,
            lookup_key=settings.require_hmac_key().encode(),
            clock=platform.clock,
            collections={name: settings.collection(name) for name in THROTTLE_COLLECTIONS},
            policy=ThrottlePolicy(
                per_subject=settings.identity_login_failures_per_address,
                per_account=settings.identity_login_failures_per_account,
                window_seconds=settings.identity_login_window_seconds,
                cap_seconds=settings.identity_login_backoff_cap_seconds,
                device_seconds=settings.identity_device_token_seconds,
            ),
        ),
    )
    return IdentityWiring(platform=platform, accounts=accounts, identity=identity)
