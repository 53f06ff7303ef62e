"""Short-lived access tokens: HS256 JWTs with a `kid`, signed and checked by identity only
(the api asks POST /tokens/verify; no other function holds the keys).

The keyring comes from settings (Secret Manager in the cloud): tokens are signed with the
active kid and verified with whichever listed kid they name, so a key rotation adds the new
key, switches the active kid, and removes the old one after the access-token lifetime;
no token in flight is refused and nothing restarts at a given moment.

A token names its account (`sub`) and the account's token version (`ver`) when it was
issued, nothing more that matters: the role and the scope a request acts with are the
account's, read on every check (service.Identity.verify). A token signed with a leaked key
and edited to claim another role gets the access of the account it names, no more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import jwt

from functions.identity.domain import InvalidToken, Principal

# The names tokens were issued under before identity was a context of its own: kept, so the
# tokens in flight when it moved stayed valid (and the public api is still their audience).
ISSUER = "saludtech-api"
AUDIENCE = "saludtech-api"
_ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "sub", "aud", "iss", "ver"]


@dataclass(frozen=True)
class TokenSubject:
    """What a valid access token says: whose it is and under which token version it was
    issued. Not who may do what: that is the account's, read on every check."""

    user_id: str
    token_version: int


@dataclass(frozen=True)
class AccessTokens:
    keyring: dict[str, str]
    active_kid: str
    lifetime_seconds: int

    def issue(self, principal: Principal, now: datetime) -> str:
        issued = int(now.timestamp())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": principal.user_id,
            "iat": issued,
            "exp": issued + self.lifetime_seconds,
            "jti": uuid.uuid4().hex,
            "ver": principal.token_version,
        }
        return jwt.encode(
            claims,
            self.keyring[self.active_kid],
            algorithm=_ALGORITHM,
            headers={"kid": self.active_kid},
        )

    def verify(self, token: str, now: datetime) -> TokenSubject:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if not isinstance(kid, str) or kid not in self.keyring:
                raise InvalidToken("unknown kid")
            claims = jwt.decode(
                token,
                self.keyring[kid],
                algorithms=[_ALGORITHM],  # never "none", never what the header asks for
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": _REQUIRED, "verify_exp": False},
                leeway=0,
            )
            if claims["exp"] <= now.timestamp():  # our clock, not the library's
                raise InvalidToken("expired")
            subject, version = claims["sub"], claims["ver"]
            if not isinstance(subject, str) or not subject:
                raise InvalidToken("subject")
            if not isinstance(version, int) or isinstance(version, bool):
                raise InvalidToken("version")
            # Any `role` or `scope` claim (tokens issued before, or a forger's) is ignored.
            return TokenSubject(user_id=subject, token_version=version)
        except (jwt.PyJWTError, KeyError, ValueError, TypeError) as error:
            raise InvalidToken(type(error).__name__) from error
