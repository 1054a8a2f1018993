"""Cursor pagination of list reads (``?limit=&cursor=`` answering
``{items, next_cursor}``).

A list is kept in one stable order given by a sort key per item (a tuple
ending with the item's id, so that no two keys are equal). The cursor is
opaque to clients: the sort key of the last item of the page, as base64url
JSON. The next page is the items whose key is greater, so an item added or
removed meanwhile neither repeats nor skips another. Bounds are in
:mod:`kernel.limits`.

- short lists (a school's years, a class's students) are sorted and cut in
  memory by :func:`page`;
- a long one (a class's lessons) lets the database apply the cursor
  (:func:`decode_cursor`, ``LIMIT limit + 1``) and :func:`cut` the rows;
- a list filtered by a rule in Python (who may write to whom) or by a
  case-insensitive search the database's collation cannot do everywhere
  walks the rows with :func:`collect`.

A bad limit, cursor or search text is :class:`BadPage`, a
:class:`kernel.errors.ValidationError` naming the field; the service may
give its own Russian text."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Callable, Iterable, TypeVar

from kernel import limits
from kernel.errors import ValidationError

T = TypeVar("T")
CHUNK = 200  # rows read per query while filtering in Python


class BadPage(ValidationError, ValueError):
    """A ``limit``, ``cursor`` or ``q`` that is not one; ``field`` names which."""

    def __init__(self, field: str, message: str | None = None, **details):
        super().__init__(message, details={"field": field, **details})
        self.field = field


def check_limit(limit, message: str | None = None) -> int:
    """A page size in ``1..LIST_LIMIT_MAX``; None (or an empty query value)
    is ``LIST_LIMIT``. A string of digits is accepted (a query value passed
    on unchanged)."""
    if limit is None or limit == "":
        return limits.LIST_LIMIT
    if isinstance(limit, str) and limit.strip().isdigit():
        limit = int(limit.strip())
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= limits.LIST_LIMIT_MAX:
        raise BadPage("limit", message, max=limits.LIST_LIMIT_MAX)
    return limit


def encode_cursor(key: Iterable) -> str:
    """The opaque position after the item whose sort key is ``key``."""
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor, size: int | None, message: str | None = None, *, strings: bool = False) -> tuple | None:
    """The sort key a cursor of :func:`encode_cursor` holds (``size``
    values, any number when None; only strings with ``strings``); None for
    the first page (no cursor); :class:`BadPage` for anything else, an
    empty cursor included."""
    if cursor is None:
        return None
    bad = BadPage("cursor", message)
    if not isinstance(cursor, str) or not cursor or len(cursor) > limits.LIST_CURSOR:
        raise bad
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    allowed = (str,) if strings else (str, int, float, type(None))
    if not isinstance(key, list) or (size is not None and len(key) != size) or not all(
            isinstance(v, allowed) and not isinstance(v, bool) for v in key):
        raise bad
    return tuple(key)


def _comparable(key) -> tuple:
    # None sorts first; a value of another type than the cursor's never compares equal
    return tuple((0, "") if v is None else (1, v) if isinstance(v, (int, float)) else (2, v) for v in key)


def page(items: Iterable[T], key: Callable[[T], tuple], *, limit, cursor) -> dict:
    """One page of ``items`` in the order of ``key`` after ``cursor``:
    ``{"items": [...], "next_cursor": str | None}`` (None on the last page).
    Raises :class:`BadPage` for a bad ``limit`` or ``cursor``."""
    limit = check_limit(limit)
    ordered = sorted(items, key=lambda item: _comparable(key(item)))
    # an empty list: a well-formed cursor of any size reads as past its end
    after = decode_cursor(cursor, len(key(ordered[0])) if ordered else None)
    if after is not None:
        floor = _comparable(after)
        ordered = [item for item in ordered if _comparable(key(item)) > floor]
    chunk = ordered[:limit]
    following = encode_cursor(key(chunk[-1])) if len(ordered) > limit else None
    return {"items": chunk, "next_cursor": following}


def cut(rows: list, key: Callable, limit: int) -> dict:
    """The page of a query that already applied the cursor, in the same
    order, and fetched ``limit + 1`` rows: ``{items, next_cursor}``."""
    chunk = rows[:limit]
    return {"items": chunk, "next_cursor": encode_cursor(key(chunk[-1])) if len(rows) > limit else None}


def search_text(q, message: str | None = None) -> str | None:
    """A search text: None or blank means no search; else at most
    ``LIST_QUERY`` characters, folded by :func:`fold`."""
    if q is None:
        return None
    if not isinstance(q, str) or len(q) > limits.LIST_QUERY:
        raise BadPage("q", message, max=limits.LIST_QUERY)
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
