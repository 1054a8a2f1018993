"""kernel.paging: page sizes within kernel.limits, opaque cursors that
round-trip and refuse anything else, and the filtered keyset walk across
chunk boundaries (no item twice, none lost, the cursor only when more
follow)."""
from __future__ import annotations

import pytest

from kernel import limits, paging
from kernel.errors import ValidationError

ROWS = [(f"name{n:03d}", f"id{n:03d}") for n in range(23)]


def fetch(after, n):
    return [r for r in ROWS if after is None or r > after][:n]


def walk(keep, limit, chunk):
    pages, cursor = [], None
    while True:
        after = paging.decode_cursor(cursor, 2)
        page, cursor = paging.collect(fetch, key=lambda r: r, keep=keep, after=after, limit=limit, chunk=chunk)
        pages.append(page)
        if cursor is None:
            return pages


@pytest.mark.parametrize("limit", [1, 2, 5, 7, 23, 100])
@pytest.mark.parametrize("chunk", [1, 3, 7, 200])
def test_collect_walks_every_kept_row_once(limit, chunk):
    keep = lambda r: int(r[1][2:]) % 3 != 0  # noqa: E731
    pages = walk(keep, limit, chunk)
    assert [r for p in pages for r in p] == [r for r in ROWS if keep(r)]
    assert all(len(p) == limit for p in pages[:-1]) and 0 < len(pages[-1]) <= limit


def test_an_exact_last_page_has_no_next_cursor_and_nothing_kept_is_an_empty_page():
    page, cursor = paging.collect(fetch, key=lambda r: r, keep=lambda r: True, after=None, limit=23, chunk=5)
    assert len(page) == 23 and cursor is None
    assert paging.collect(fetch, key=lambda r: r, keep=lambda r: False, after=None, limit=5) == ([], None)


def test_cursors_round_trip_cyrillic_keys():
    key = ("Иванова Алёна", "id-1")
    assert paging.decode_cursor(paging.encode_cursor(key), 2) == key
    assert paging.decode_cursor(None, 2) is None


@pytest.mark.parametrize("cursor", ["", "***", "bm90IGpzb24", "WyJhIl0", "x" * (limits.CURSOR + 1), 5,
                                    paging.encode_cursor(["a", "b", "c"]), "WzEsMl0"])
def test_a_bad_cursor_names_its_field(cursor):
    with pytest.raises(ValidationError) as caught:
        paging.decode_cursor(cursor, 2, "курсор")
    assert caught.value.details["field"] == "cursor" and caught.value.message == "курсор"


def test_limits_and_search_text():
    assert paging.check_limit(None) == limits.LIST_DEFAULT
    assert paging.check_limit("7") == 7 and paging.check_limit(limits.LIST_MAX) == limits.LIST_MAX
    for bad in (0, limits.LIST_MAX + 1, "x", 2.5, True, -1):
        with pytest.raises(ValidationError):
            paging.check_limit(bad)
    assert paging.search_text("  ЁЛКА ") == "елка" and paging.search_text(" ") is None
    assert paging.matches("елкин", "Ёлкина") and paging.matches(None, "x") and not paging.matches("ёж", "Уж")
    with pytest.raises(ValidationError):
        paging.search_text("я" * (limits.LIST_QUERY + 1))
