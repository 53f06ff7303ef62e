"""What a username may be, and the two forms identity keeps of it: pure Python, no I/O.

A username is stored and looked up in its canonical form: NFKC (a full-width ADMIN and
compatibility characters become plain ones) then casefold (case-insensitive beyond ASCII).
For an ASCII name that is exactly the `lower()` accounts were keyed by before, so existing
accounts keep logging in with no migration.

The canonical form must be 3 to 64 characters: letters of one script, ASCII digits and
`. _ -`, starting with a letter or a digit. One script refuses a Cyrillic a slipped into
`admin`; a name wholly in another script (a Cyrillic one that reads `ace`) is still
possible, so each account also holds its `skeleton` (every letter mapped to the Latin one
it looks like, after UTS #39): no two accounts share one, so the Cyrillic `ace` and the
Latin one cannot both exist. The table is the small set of letters that pass the rules
above and pass for a Latin one; no confusables library is kept.
"""

from __future__ import annotations

import unicodedata

from shared.domain.errors import PermanentError

MIN_USERNAME_LENGTH, MAX_USERNAME_LENGTH = 3, 64
_PUNCTUATION = frozenset("._-")
_DIGITS = frozenset("0123456789")

# Lowercase letters of other scripts, and Latin letters outside a-z, that read as an a-z
# letter in common fonts (from UTS #39 confusables; the ones an allowed name can hold).
# Written escaped: the table is of letters a reader cannot tell apart.
_LOOKS_LATIN = str.maketrans(
    {
        # Cyrillic
        "\u0430": "a", "\u0441": "c", "\u0501": "d", "\u0435": "e", "\u04bb": "h",
        "\u0456": "i", "\u0458": "j", "\u04cf": "l", "\u043e": "o", "\u0440": "p",
        "\u051b": "q", "\u0455": "s", "\u0475": "v", "\u051d": "w", "\u0445": "x",
        "\u0443": "y", "\u04af": "y",
        # Greek
        "\u03b1": "a", "\u03b9": "i", "\u03ba": "k", "\u03bd": "v", "\u03bf": "o",
        "\u03c1": "p", "\u03c5": "u", "\u03b3": "y",
        # Latin beyond a-z
        "\u0131": "i", "\u0269": "i", "\u0251": "a", "\u0261": "g",
    }
)  # fmt: skip


def canonical(typed: str) -> str:
    """The form a username is stored, keyed and compared in (also for a login)."""
    return unicodedata.normalize("NFKC", typed).casefold()


def _script(letter: str) -> str:
    """The script a letter belongs to, from its Unicode name (`LATIN SMALL LETTER A`,
    `CYRILLIC SMALL LETTER A`): the first word, which is the script for letters."""
    return unicodedata.name(letter, "UNKNOWN").split(" ", 1)[0]


def ensure_username_allowed(typed: str, field_name: str = "username") -> str:
    """The canonical form of a username a new account may take; PermanentError
    `invalid_username` (naming the rule, never the value) otherwise."""
    name = canonical(typed)
    if not MIN_USERNAME_LENGTH <= len(name) <= MAX_USERNAME_LENGTH:
        raise PermanentError(
            "invalid_username",
            f"{MIN_USERNAME_LENGTH} to {MAX_USERNAME_LENGTH} characters",
            field=field_name,
        )
    scripts = set()
    for char in name:
        if char in _DIGITS or char in _PUNCTUATION:
            continue
        if not unicodedata.category(char).startswith("L"):
            raise PermanentError(
                "invalid_username", "letters, digits and . _ - only", field=field_name
            )
        scripts.add(_script(char))
    if len(scripts) > 1:
        raise PermanentError(
            "invalid_username", "letters of a single script only", field=field_name
        )
    if name[0] in _PUNCTUATION:
        raise PermanentError(
            "invalid_username", "starts with a letter or a digit", field=field_name
        )
    return name


def skeleton(name: str) -> str:
    """What a canonical username looks like: two names with the same skeleton cannot be
    told apart on a screen, so only one account may hold it. Every allowed ASCII name is
    its own skeleton."""
    # Decomposed first, so that a mark on a look-alike (a Cyrillic a with diaeresis) lands
    # on its Latin letter.
    decomposed = unicodedata.normalize("NFD", name).translate(_LOOKS_LATIN)
    return unicodedata.normalize("NFC", decomposed)
