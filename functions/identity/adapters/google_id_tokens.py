"""Google-issued ID tokens (Identity Platform / Firebase Auth), verified offline against
Google's signing certificates, which are fetched once and kept as long as their
Cache-Control max-age says (Google rotates them every few days, announced in advance).

An unknown `kid` refreshes the certificates at most once a minute, so a flood of forged
tokens cannot turn into a flood of fetches.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests
from cryptography.x509 import load_pem_x509_certificate

from functions.identity.domain import InvalidToken

# (certificates by kid, seconds they may be kept)
CertificateFetch = Callable[[], tuple[dict[str, str], float]]
_MAX_AGE = re.compile(r"max-age=(\d+)")
_MIN_REFETCH_SECONDS = 60.0


def http_certificates(url: str) -> CertificateFetch:
    def fetch() -> tuple[dict[str, str], float]:
        response = requests.get(url, timeout=5)
        response.raise_for_status()
        found = _MAX_AGE.search(response.headers.get("Cache-Control", ""))
        return dict(response.json()), float(found.group(1)) if found else 300.0

    return fetch


@dataclass
class GoogleIdTokens:
    """ports.IdTokenVerifier for Google-issued ID tokens."""

    audience: str
    fetch: CertificateFetch
    monotonic: Callable[[], float] = time.monotonic
    _keys: dict[str, Any] = field(default_factory=dict)
    _fresh_until: float = 0.0
    _fetched_at: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def issuer(self) -> str:
        return f"https://securetoken.google.com/{self.audience}"

    def _key(self, kid: str) -> Any:
        with self._lock:
            now = self.monotonic()
            stale = now >= self._fresh_until
            unknown = kid not in self._keys and now - self._fetched_at >= _MIN_REFETCH_SECONDS
            if stale or unknown:
                try:
                    certificates, max_age = self.fetch()
                except (requests.RequestException, ValueError) as error:
                    raise InvalidToken("certificates unavailable") from error
                self._keys = {
                    k: load_pem_x509_certificate(pem.encode()).public_key()
                    for k, pem in certificates.items()
                }
                self._fetched_at, self._fresh_until = now, now + max_age
            if kid not in self._keys:
                raise InvalidToken("unknown kid")
            return self._keys[kid]

    def verify(self, token: str, now: float) -> dict[str, Any]:
        """The claims of a valid token; InvalidToken otherwise. `now` is epoch seconds."""
        if not self.audience:
            raise InvalidToken("Google sign-in is not configured")
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            if header.get("alg") != "RS256" or not isinstance(kid, str):
                raise InvalidToken("not a Google ID token")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key(kid),
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub"], "verify_exp": False},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(type(error).__name__) from error
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
            raise InvalidToken("expired")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidToken("no subject")
        return claims
