"""Where a webhook may go (a guard against server-side request forgery).

A recipient registers a URL, and our servers POST to it: without this guard, a URL naming
the metadata server (169.254.169.254), a loopback or private address would make us read or
poke at our own network. So a URL is refused (with a reason code, never the URL) when:

- its scheme is not https (plain http only where `allow_http`, i.e. not in the cloud), it
  carries a user name or password, or it does not parse;
- its host is, or resolves to, an address that is loopback, private, link-local,
  multicast, reserved, unspecified or otherwise not global (IPv4; IPv6; IPv4-mapped,
  6to4, Teredo and NAT64 IPv6 by the IPv4 address inside; hosts written as decimal, octal
  or hex numbers as the C resolver reads them). Every address the name resolves to is
  checked, and the send connects to the address that was checked (no second lookup a DNS
  rebinding could answer differently); redirects are never followed.

`allow_private` lifts the address check for the local stack's receivers on 127.0.0.1
(SALUDTECH_WEBHOOK_ALLOW_PRIVATE, which Settings refuses in the cloud).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# What inet_aton reads as an IPv4 address: 1 to 4 parts, each decimal, octal (0...) or hex.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$")


class UrlRefused(Exception):
    """A URL we will not send to; `reason` is a code (webhook_address_private, ...)."""

    def __init__(self, reason: str, *, permanent: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to `address`, speak to `host` (Host header, TLS name)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_refusal(address: IpAddress) -> str | None:
    """Why we never send to `address` (a reason code), or None when it is a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if address.teredo is not None:
            inner = address.teredo[1]
        if address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return address_refusal(inner)
    for reason, hit in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link_local", address.is_link_local),  # 169.254.169.254: the metadata server
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not_global", not address.is_global),
    ):
        if hit:
            return f"webhook_address_{reason}"
    return None


def literal_address(host: str) -> IpAddress | None:
    """The address a host names by itself: an IP literal, or a number the C resolver reads
    as one (2130706433, 0177.0.0.1, 0x7f.1 are all 127.0.0.1)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            raise UrlRefused("webhook_url_invalid") from None
    return None


@dataclass(frozen=True)
class WebhookGuard:
    allow_http: bool = False
    allow_private: bool = False
    resolver: Resolver = system_resolver

    def parse(self, url: str) -> tuple[str, str, int, str]:
        """(scheme, host, port, path) of a URL we may send to, before any lookup."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise UrlRefused("webhook_url_invalid") from None
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            raise UrlRefused("webhook_url_invalid")
        if scheme == "http" and not self.allow_http:
            raise UrlRefused("webhook_url_not_https")
        if parts.username is not None or parts.password is not None:
            raise UrlRefused("webhook_url_userinfo")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise UrlRefused("webhook_url_invalid")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return scheme, host, port or (443 if scheme == "https" else 80), path

    def check_literal(self, url: str) -> None:
        """What can be judged without a lookup (a registration inside a transaction)."""
        _, host, _, _ = self.parse(url)
        literal = literal_address(host)
        if literal is not None and not self.allow_private:
            reason = address_refusal(literal)
            if reason is not None:
                raise UrlRefused(reason)

    def resolve(self, url: str) -> Target:
        """The checked target of a URL: every address its host resolves to is allowed."""
        scheme, host, port, path = self.parse(url)
        literal = literal_address(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = self.resolver(host, port)
            except (OSError, UnicodeError):
                raise UrlRefused("webhook_unresolvable", permanent=False) from None
            if not addresses:
                raise UrlRefused("webhook_unresolvable", permanent=False)
        checked: list[IpAddress] = []
        for text in addresses:
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                raise UrlRefused("webhook_unresolvable", permanent=False) from None
            reason = None if self.allow_private else address_refusal(address)
            if reason is not None:
                raise UrlRefused(reason)  # one bad address is enough: we might get it
            checked.append(address)
        return Target(scheme, host, port, path, str(checked[0]))
