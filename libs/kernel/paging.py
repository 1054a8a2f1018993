"""Cursor pagination of list reads (``?limit=&cursor=`` answering
``{items, next_cursor}``): the page size within :mod:`kernel.limits`, an
opaque cursor holding the sort key of the last item shown, and
:func:`collect`, which pages through rows in their stable order keeping
those a filter accepts (a rule in Python, e.g. who may write to whom, or a
case-insensitive search the database's collation cannot do everywhere).

A bad limit or cursor is a :class:`kernel.errors.ValidationError` naming
the field; the service supplies its Russian text."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Callable, Iterable, Sequence

from kernel import limits
from kernel.errors import ValidationError

CHUNK = 200  # rows read per query while filtering in Python


def check_limit(limit, message: str | None = None) -> int:
    """``limit`` as an int in 1..LIST_MAX (None: LIST_DEFAULT); a string of
    digits is accepted as the gateway may pass the query value through."""
    if limit is None:
        return limits.LIST_DEFAULT
    if isinstance(limit, str) and limit.strip().isdigit():
        limit = int(limit.strip())
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= limits.LIST_MAX:
        raise ValidationError(message, details={"field": "limit", "max": limits.LIST_MAX})
    return limit


def encode_cursor(key: Sequence[str]) -> str:
    """The opaque position after the item whose sort key is ``key``."""
    raw = json.dumps(list(key), ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor, size: int, message: str | None = None) -> tuple | None:
    """The sort key (``size`` strings) of a cursor from :func:`encode_cursor`;
    None for the first page (no cursor)."""
    if cursor is None:
        return None
    bad = ValidationError(message, details={"field": "cursor"})
    if not isinstance(cursor, str) or not cursor or len(cursor) > limits.CURSOR:
        raise bad
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    if not isinstance(key, list) or len(key) != size or not all(isinstance(k, str) for k in key):
        raise bad
    return tuple(key)


def search_text(q, message: str | None = None) -> str | None:
    """A search text: None or blank means no search; else at most
    LIST_QUERY characters, folded by :func:`fold`."""
    if q is None:
        return None
    if not isinstance(q, str) or len(q) > limits.LIST_QUERY:
        raise ValidationError(message, details={"field": "q", "max": limits.LIST_QUERY})
    q = fold(q.strip())
    return q or None


def fold(text: str | None) -> str:
    """Case-insensitive form of a name or login, Cyrillic included (ё as е)."""
    return (text or "").casefold().replace("ё", "е")


def matches(q: str | None, *texts) -> bool:
    """Whether the folded search text ``q`` occurs in any of ``texts``."""
    return q is None or any(q in fold(t) for t in texts)


def collect(fetch: Callable[[tuple | None, int], Iterable], key: Callable[[object], tuple],
            keep: Callable[[object], bool], after: tuple | None, limit: int,
            chunk: int = CHUNK) -> tuple[list, str | None]:
    """One page: ``fetch(after, n)`` reads at most ``n`` rows following the
    sort key ``after`` in a stable order; ``keep`` filters them. Answers the
    page's rows and the cursor of the next page (None at the end)."""
    found: list = []
    while True:
        rows = list(fetch(after, chunk))
        for row in rows:
            if not keep(row):
                continue
            if len(found) == limit:
                return found, encode_cursor(key(found[-1]))
            found.append(row)
        if len(rows) < chunk:
            return found, None
        after = key(rows[-1])
