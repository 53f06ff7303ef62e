"""What the platform takes as an email address, for every context that stores one (accounts,
clients, experts): one rule, so an address one context accepts is not refused by another."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
# RFC 5321's limit on a path; the contracts cap the field at this length too.
MAX_EMAIL_LENGTH = 254


def is_email(value: str) -> bool:
    """Whether `value` looks like a deliverable address: a local part and a dotted domain
    of plain ASCII (no display name, no quoting, no blanks, not even a trailing newline)."""
    return len(value) <= MAX_EMAIL_LENGTH and _EMAIL.fullmatch(value) is not None
