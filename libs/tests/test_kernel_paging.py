"""kernel.paging: the cursor pages every list read answers (``{items,
next_cursor}``): stable order, opaque cursor, bounds of kernel.limits."""
from __future__ import annotations

import pytest

from kernel import limits, paging
from kernel.errors import ValidationError


def key(item):
    return (item["name"], item["id"])


ITEMS = [{"name": n, "id": str(i)} for i, n in enumerate(["в", "а", "б", "а"])]


def walk(items, limit):
    out, cursor = [], None
    while True:
        page = paging.page(items, key, limit=limit, cursor=cursor)
        out += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, limits.LIST_LIMIT_MAX])
def test_pages_of_any_size_give_every_item_once_in_order(limit):
    assert walk(ITEMS, limit) == sorted(ITEMS, key=key)


def test_last_page_exactly_full_has_no_next_cursor():
    assert paging.page(ITEMS, key, limit=4, cursor=None)["next_cursor"] is None
    assert paging.page([], key, limit=None, cursor=None) == {"items": [], "next_cursor": None}


def test_an_item_added_between_pages_neither_repeats_nor_skips():
    first = paging.page(ITEMS, key, limit=2, cursor=None)
    more = ITEMS + [{"name": "а", "id": "9"}, {"name": "я", "id": "8"}]  # one before the cursor, one after
    rest = paging.page(more, key, limit=10, cursor=first["next_cursor"])
    assert [i["id"] for i in first["items"]] == ["1", "3"]
    assert [i["id"] for i in rest["items"]] == ["9", "2", "0", "8"]


def test_numbers_and_none_in_keys():
    rows = [{"n": None, "id": "a"}, {"n": 2, "id": "b"}, {"n": 10, "id": "c"}]
    def k(r):
        return (r["n"], r["id"])
    assert [r["id"] for r in paging.page(rows, k, limit=5, cursor=None)["items"]] == ["a", "b", "c"]
    first = paging.page(rows, k, limit=1, cursor=None)
    assert [r["id"] for r in paging.page(rows, k, limit=5, cursor=first["next_cursor"])["items"]] == ["b", "c"]


@pytest.mark.parametrize("limit", [0, -1, limits.LIST_LIMIT_MAX + 1, "x", True, 1.5])
def test_a_bad_limit(limit):
    with pytest.raises(paging.BadPage) as exc:
        paging.page(ITEMS, key, limit=limit, cursor=None)
    assert exc.value.field == "limit"


@pytest.mark.parametrize("cursor", ["!!", "bm90IGpzb24", paging.encode_cursor(["a"]), paging.encode_cursor([True, "1"]),
                                    paging.encode_cursor([{"a": 1}, "1"]), "x" * (limits.LIST_CURSOR + 1), 5])
def test_a_bad_cursor(cursor):
    with pytest.raises(paging.BadPage) as exc:
        paging.page(ITEMS, key, limit=2, cursor=cursor)
    assert exc.value.field == "cursor"


def test_the_default_limit_and_digits_from_a_query():
    many = [{"name": f"{i:03}", "id": str(i)} for i in range(limits.LIST_LIMIT + 5)]
    assert len(paging.page(many, key, limit=None, cursor=None)["items"]) == limits.LIST_LIMIT
    assert len(paging.page(many, key, limit="3", cursor=None)["items"]) == 3


# filtered keyset walks, cursors of strings only, search text
ROWS = [(f"name{n:03d}", f"id{n:03d}") for n in range(23)]


def fetch(after, n):
    return [r for r in ROWS if after is None or r > after][:n]


def walk_collect(keep, limit, chunk):
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
    pages = walk_collect(keep, limit, chunk)
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


@pytest.mark.parametrize("cursor", ["", "***", "bm90IGpzb24", "WyJhIl0", "x" * (limits.LIST_CURSOR + 1), 5,
                                    paging.encode_cursor(["a", "b", "c"]), "WzEsMl0"])
def test_a_bad_cursor_names_its_field(cursor):
    with pytest.raises(ValidationError) as caught:
        paging.decode_cursor(cursor, 2, "курсор", strings=True)
    assert caught.value.details["field"] == "cursor" and caught.value.message == "курсор"


def test_limits_and_search_text():
    assert paging.check_limit(None) == limits.LIST_LIMIT
    assert paging.check_limit("7") == 7 and paging.check_limit(limits.LIST_LIMIT_MAX) == limits.LIST_LIMIT_MAX
    for bad in (0, limits.LIST_LIMIT_MAX + 1, "x", 2.5, True, -1):
        with pytest.raises(ValidationError):
            paging.check_limit(bad)
    assert paging.search_text("  ЁЛКА ") == "елка" and paging.search_text(" ") is None
    assert paging.matches("елкин", "Ёлкина") and paging.matches(None, "x") and not paging.matches("ёж", "Уж")
    with pytest.raises(ValidationError):
        paging.search_text("я" * (limits.LIST_QUERY + 1))
