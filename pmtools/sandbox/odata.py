"""The slice of OData query syntax that Karbon's list endpoints accept.

``$filter``: ``Prop eq 'text'``, ``contains(Prop, 'text')``, joined by ``and``, optionally in
parentheses; string literals double an apostrophe (``'O''Brien'``); comparisons are
case-insensitive. ``ne``, ``or``, ``not``, ``startswith`` and friends are refused, as Karbon
refuses them. ``$orderby``: ``FullName`` or ``LastModifiedDateTime``, optionally `` desc``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_TOP = 100
ALLOWED_OPTIONS = frozenset({"$filter", "$orderby", "$top", "$skip"})
ORDERABLE = ("FullName", "LastModifiedDateTime")

# numbers and date literals (``8``, ``2021-04-27T00:00:00Z``) are tokens too, so that a refused
# function or operator around them gets Karbon's refusal rather than a syntax error
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'(?:[^']|'')*')|(?P<lp>\()|(?P<rp>\))|(?P<comma>,)
                         |(?P<num>-?[0-9][0-9A-Za-z:.+-]*)
                         |(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<other>\S))""",
    re.VERBOSE,
)


class QueryError(ValueError):
    """A query Karbon would refuse with 400 / 4002; the message is Karbon's wording."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``eq`` or ``contains`` test on a property."""

    prop: str
    op: str  # "eq" | "contains"
    value: str

    def test(self, row: dict[str, Any]) -> bool:
        """True when ``row`` satisfies the condition (case-insensitive)."""
        have = row.get(self.prop)
        if have is None:
            return False
        have, want = str(have).casefold(), self.value.casefold()
        return have == want if self.op == "eq" else want in have


# OData's names for operators, as Karbon's (ASP.NET OData) refusals word them
OPERATOR_NAMES = {
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
    "or": "Or",
    "not": "Not",
    "has": "Has",
    "eq": "Equal",
    "and": "And",
}


def option_refused(option: str) -> str:
    """Karbon's refusal of a query option, e.g. "Query option 'Select' is not allowed. …"."""
    return (
        f"Query option '{option.lstrip('$').capitalize()}' is not allowed. To allow it, "
        "set the 'AllowedQueryOptions' property on EnableQueryAttribute or "
        "QueryValidationSettings."
    )


def operator_refused(op: str) -> str:
    """Karbon's refusal of a logical operator, e.g. "Logical operator 'NotEqual' is not …"."""
    name = OPERATOR_NAMES.get(op.lower(), op)
    return (
        f"Logical operator '{name}' is not allowed. To allow it, set the "
        "'AllowedLogicalOperators' property on EnableQueryAttribute or "
        "QueryValidationSettings."
    )


def quote(text: str) -> str:
    """An OData string literal: apostrophes doubled, in single quotes."""
    return "'" + text.replace("'", "''") + "'"


def unquote(literal: str) -> str:
    """The inverse of :func:`quote`."""
    return literal[1:-1].replace("''", "'")


def parse_filter(text: str, properties: tuple[str, ...], dto: str) -> list[Condition]:
    """Parse a ``$filter`` into conditions that must all hold; raises QueryError."""
    tokens = _tokenize(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(kind: str | None = None) -> tuple[str, str]:
        nonlocal pos
        token = peek()
        if token is None or (kind is not None and token[0] != kind):
            raise QueryError(f"Syntax error in $filter at position {pos}: {text!r}")
        pos += 1
        return token

    def check_prop(name: str) -> str:
        if name not in properties:
            raise QueryError(f"Could not find a property named '{name}' on type '{dto}'.")
        return name

    def term() -> list[Condition]:
        token = take()
        if token[0] == "lp":
            inner = conjunction()
            take("rp")
            return inner
        if token[0] != "word":
            raise QueryError(f"Syntax error in $filter: {text!r}")
        word = token[1]
        nxt = peek()
        if nxt is not None and nxt[0] == "lp":  # a function call
            if word != "contains":
                raise QueryError(
                    f"Function '{word}' is not allowed. To allow it, set the "
                    "'AllowedFunctions' property on EnableQueryAttribute or "
                    "QueryValidationSettings."
                )
            take("lp")
            prop = check_prop(take("word")[1])
            take("comma")
            value = unquote(take("str")[1])
            take("rp")
            return [Condition(prop, "contains", value)]
        prop = check_prop(word)
        op = take("word")[1]
        if op != "eq":
            raise QueryError(operator_refused(op))
        return [Condition(prop, "eq", unquote(take("str")[1]))]

    def conjunction() -> list[Condition]:
        found = term()
        while (token := peek()) is not None and token[0] == "word":
            if token[1] != "and":
                raise QueryError(operator_refused(token[1]))
            take()
            found += term()
        return found

    conditions = conjunction()
    if pos != len(tokens):
        raise QueryError(f"Syntax error in $filter: {text!r}")
    return conditions


def parse_orderby(text: str | None) -> tuple[str | None, bool]:
    """``(property, descending)`` from ``$orderby``; ``(None, False)`` for the default."""
    if text is None or not text.strip():
        return None, False
    parts = text.split()
    prop = parts[0]
    if (
        prop not in ORDERABLE
        or len(parts) > 2
        or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc"))
    ):
        raise QueryError(f"The property '{prop}' cannot be used in the $orderby query option.")
    return prop, len(parts) == 2 and parts[1].lower() == "desc"


def parse_paging(top: str | None, skip: str | None) -> tuple[int, int]:
    """``($top, $skip)`` with Karbon's limit of 100 rows a page."""
    page = _whole(top, "$top", MAX_TOP)
    if page > MAX_TOP:
        raise QueryError(
            f"The limit of '{MAX_TOP}' for Top query has been exceeded. "
            f"The value from the incoming request is '{page}'."
        )
    return page, _whole(skip, "$skip", 0)


def sort_rows(
    rows: list[dict[str, Any]], prop: str | None, desc: bool, key_field: str
) -> list[dict[str, Any]]:
    """Rows in ``$orderby`` order, ties (and the default) by key, so pages are stable."""
    key: Callable[[dict[str, Any]], Any]
    if prop == "FullName":
        key = lambda r: (r["FullName"].casefold(), r[key_field])  # noqa: E731
    elif prop == "LastModifiedDateTime":
        key = lambda r: (r["LastModifiedDateTime"], r[key_field])  # noqa: E731
    else:
        key = lambda r: r[key_field]  # noqa: E731
    return sorted(rows, key=key, reverse=desc)


def _whole(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"The query parameter '{name}' must be a whole number.") from None
    if value < 0:
        raise QueryError(f"The query parameter '{name}' must not be negative.")
    return value


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup == "other":
            raise QueryError(f"Syntax error in $filter at position {pos}: {text!r}")
        tokens.append((match.lastgroup or "", match.group(match.lastgroup or 0)))
        pos = match.end()
    return tokens
