"""Cursor pagination of list reads (``?limit=&cursor=`` answering
``{items, next_cursor}``).

A list is kept in one stable order given by a sort key per item (a tuple of
strings, numbers or None, ending with the item's id so that no two keys are
equal). The cursor is opaque to clients: the sort key of the last item of
the page, as base64url JSON. The next page is the items whose key is
greater, so an item added or removed meanwhile neither repeats nor skips
another. Bounds are in :mod:`kernel.limits`.

Short lists (a school's years, a class's students) are sorted and cut in
memory by :func:`page`; a long one (a class's lessons) lets the database
apply the cursor (:func:`decode_cursor`, ``LIMIT limit + 1``) and
:func:`cut` the rows it fetched."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Callable, Iterable, TypeVar

from kernel import limits

T = TypeVar("T")


class BadPage(ValueError):
    """A ``limit`` or ``cursor`` that is not one; ``field`` names which."""

    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


def check_limit(limit) -> int:
    """A page size in ``1..LIST_LIMIT_MAX``; None is ``LIST_LIMIT``. A string
    of digits is accepted (a query value passed on unchanged)."""
    if limit is None or limit == "":
        return limits.LIST_LIMIT
    if isinstance(limit, str) and limit.strip().isdigit():
        limit = int(limit.strip())
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= limits.LIST_LIMIT_MAX:
        raise BadPage("limit")
    return limit


def encode_cursor(key: Iterable) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor, size: int | None) -> list | None:
    """The sort key a cursor of :func:`encode_cursor` holds (``size``
    values; any number when None); None for the first page; :class:`BadPage`
    for anything else."""
    if cursor is None or cursor == "":
        return None
    if not isinstance(cursor, str) or len(cursor) > limits.LIST_CURSOR:
        raise BadPage("cursor")
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadPage("cursor") from None
    if not isinstance(key, list) or (size is not None and len(key) != size) or not all(
            v is None or (isinstance(v, (str, int, float)) and not isinstance(v, bool)) for v in key):
        raise BadPage("cursor")
    return key


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
