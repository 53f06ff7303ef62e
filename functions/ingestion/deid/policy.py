"""Decisions both traversals share: the fast path (element tree) and the pydicom path.

Each traversal only reads and writes its own data model; what to do with a value is decided
here, once, so that the two paths cannot drift apart (issue 8, item 6). Rules of the profile
per element live in ``walker`` (``untabled_action``, ``keyword_of``) and ``actions``; the
routing of pixels in ``burned_in``; the pixel step in ``pixel_step``.
"""

from __future__ import annotations

import re

# A Code String (PS3.5 6.2): at most 16 characters of letters, digits, space and underscore.
_CODE_STRING = re.compile(r"^[A-Za-z0-9 _]{1,16}$")


def code_string(text: str, *, upper: bool = False) -> str | None:
    """The value of a CS attribute the result may report (Modality, Body Part), or None.

    A damaged header can make a CS element swallow its neighbours (a corrupted length), so
    a value that is not a valid code string is never reported: it may hold PHI.
    """
    value = text.strip()
    if upper:
        value = value.upper()
    return value if _CODE_STRING.match(value) else None
