"""mark_counts: what reports' self-check compares its projection with."""
from __future__ import annotations

import datetime as dt

from journal import store
from kernel.db import new_id


def test_mark_counts_per_class_and_period_without_removed_marks(journal, make):
    # a year of two half-years; 5А: two marks in the first half (one more
    # removed), one in the second; another class of another school: one
    today = dt.date.today()
    first, second = (today - dt.timedelta(days=150), today - dt.timedelta(days=100)), \
        (today - dt.timedelta(days=89), today + dt.timedelta(days=100))
    year = make.year(starts_on=first[0], ends_on=second[1], periods=[first, second])
    klass, subject, teacher, student = make.klass(year), make.subject(), new_id(), new_id()
    early = make.lesson(klass, subject, teacher, first[0] + dt.timedelta(days=3))
    late = make.lesson(klass, subject, teacher, second[0] + dt.timedelta(days=3))
    make.mark(early, student, 5)
    make.mark(early, new_id(), 4)
    make.mark(early, new_id(), 3, removed=True)
    make.mark(late, student, 2)
    other_year = make.year(school_id=new_id())
    other = make.klass(other_year)
    make.mark(make.lesson(other, make.subject(school_id=other_year.school_id), teacher,
                          other_year.starts_on + dt.timedelta(days=1)), student, 5)
    rows = journal.call("mark_counts")
    periods = sorted(make.rows(store.Period, year_id=year.id), key=lambda p: p.starts_on)
    mine = {(r[1], r[2]): r[3] for r in rows if r[0] == year.school_id}
    assert mine == {(klass.id, periods[0].id): 2, (klass.id, periods[1].id): 1}
    assert [r[3] for r in rows if r[0] == other_year.school_id] == [1]
