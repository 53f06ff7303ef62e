"""Pub/Sub subscription filters on message attributes, evaluated by the local bridge.

The Pub/Sub emulator accepts a subscription filter but ignores it (still so in 0.8.20: a
filtered subscription is handed every message), so the bridge applies the
filter itself: a message that does not match is acknowledged without delivery, as Pub/Sub
does. Supported grammar (the attribute part of Pub/Sub's filter language):

    attributes.KEY = "v" | attributes.KEY != "v" | attributes:KEY
    hasPrefix(attributes.KEY, "p") | NOT e | -e | e AND e | e OR e | ( e )

KEY is a bare name ([A-Za-z0-9_-]) or a quoted string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Predicate = Callable[[Mapping[str, str]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<op>!=|=|:|\(|\)|,|\.|-)
    | (?P<word>[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*)
    )""",
    re.VERBOSE,
)


class FilterSyntaxError(ValueError):
    """The filter text is not in the supported grammar."""


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterSyntaxError(f"unexpected text at {position}: {text[position:]!r}")
        tokens.append(match.group(match.lastgroup or "word"))
        position = match.end()
    return tokens


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda attrs: a(attrs) or b(attrs)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda attrs: a(attrs) and b(attrs)


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self._tokens = tokens
        self._index = 0
        self._separator = ""

    def _peek(self) -> str | None:
        return self._tokens[self._index] if self._index < len(self._tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if token is None or (expected is not None and token != expected):
            raise FilterSyntaxError(f"expected {expected or 'more input'}, got {token!r}")
        self._index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self._or()
        if self._peek() is not None:
            raise FilterSyntaxError(f"unexpected {self._peek()!r}")
        return predicate

    def _or(self) -> Predicate:
        left = self._and()
        while self._peek() == "OR":
            self._take()
            left = _either(left, self._and())
        return left

    def _and(self) -> Predicate:
        left = self._not()
        while self._peek() == "AND":
            self._take()
            left = _both(left, self._not())
        return left

    def _not(self) -> Predicate:
        if self._peek() in ("NOT", "-"):
            self._take()
            inner = self._not()
            return lambda attrs: not inner(attrs)
        return self._atom()

    def _key(self) -> str:
        self._take("attributes")
        separator = self._take()
        if separator not in (".", ":"):
            raise FilterSyntaxError("expected attributes.KEY or attributes:KEY")
        key = _unquote(self._take())
        self._separator = separator
        return key

    def _atom(self) -> Predicate:
        token = self._peek()
        if token == "(":  # noqa: S105 (a parser token, not a password)
            self._take()
            inner = self._or()
            self._take(")")
            return inner
        if token == "hasPrefix":  # noqa: S105
            self._take()
            self._take("(")
            key = self._key()
            self._take(",")
            prefix = _unquote(self._take())
            self._take(")")
            return lambda attrs: attrs.get(key, None) is not None and attrs[key].startswith(prefix)
        key = self._key()
        if self._separator == ":":
            return lambda attrs: key in attrs
        operator = self._take()
        value = _unquote(self._take())
        if operator == "=":
            return lambda attrs: attrs.get(key) == value
        if operator == "!=":
            return lambda attrs: attrs.get(key) != value
        raise FilterSyntaxError(f"unsupported operator {operator!r}")


@dataclass(frozen=True)
class AttributeFilter:
    text: str
    _predicate: Predicate

    @classmethod
    def parse(cls, text: str) -> AttributeFilter:
        return cls(text, _Parser(_tokenize(text)).parse())

    def matches(self, attributes: Mapping[str, str]) -> bool:
        return self._predicate(attributes)
