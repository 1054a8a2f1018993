"""kernel.restore's binders: SQLite's fast ones give exactly what the long
way (the export's converter, then the column type's bind processor) gives."""
from __future__ import annotations

import pytest
from sqlalchemy import Boolean, Column, Date, MetaData, Table
from sqlalchemy.dialects.sqlite import DATETIME
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from kernel.db import UtcDateTime
from kernel.restore import _binder, converter

DIALECT = sqlite_dialect()


def _long_way(column):
    convert = converter(column.type, "sqlite")
    bind = column.type._cached_bind_processor(DIALECT)
    return lambda v: bind(convert(v)) if convert else bind(v)


@pytest.mark.parametrize("kind, values", [
    (DATETIME(), ["2026-09-01T08:00:00+00:00", "2026-09-01T08:07:09.012345+00:00", "2026-09-01T11:00:00+03:00",
                  "2026-09-01T08:00:00", "2026-09-01 08:00:00+00:00", "2026-09-01T08:00:00.5+00:00"]),
    (UtcDateTime(), ["2026-09-01T08:00:00+00:00", "2026-09-01T23:59:59.999999+00:00", "2026-09-01T02:00:00-05:00"]),
    (Date(), ["2026-09-01", "0999-01-31", "20260901"]),
    (Boolean(), [True, False, 1, 0]),
])
def test_sqlite_fast_binders_equal_the_long_way(kind, values):
    column = Table("t", MetaData(), Column("c", kind)).c.c
    fast, slow = _binder(column, DIALECT), _long_way(column)
    assert "_fast_" in fast.__qualname__  # not the long way itself
    for value in values:
        assert fast(value) == slow(value), value


@pytest.mark.parametrize("kind, value", [(DATETIME(), "2026-02-30T08:00:00+00:00"), (Date(), "2026-13-01")])
def test_sqlite_fast_binders_refuse_what_the_long_way_refuses(kind, value):
    column = Table("t", MetaData(), Column("c", kind)).c.c
    with pytest.raises(ValueError):
        _long_way(column)(value)
    with pytest.raises(ValueError):
        _binder(column, DIALECT)(value)
