"""The demo seed's dates and its first/later run (no platform): whatever
the day, the demo has a finished quarter with final marks and a term of
lessons before it; a later `make run` does not claim to seed."""
from __future__ import annotations

import datetime as dt
import json

from localrun.seed import MARKER, finished_quarters, school_days, seed_once, term_bounds, year_bounds

D = dt.date


def demo_dates(today):
    name, starts, ends, periods = year_bounds(today)
    first, last = term_bounds(periods, today)
    inside = [(a, b) for _, a, b in periods]
    days = [d for d in school_days(first, last) if any(a <= d <= b for a, b in inside)] if first else []
    return name, first, last, finished_quarters(periods, today), days


def test_7_december_2026_shows_the_first_quarter_finished():
    """On 2026-12-07 the seed made no final mark: its term was the 2nd quarter alone."""
    assert demo_dates(D(2026, 12, 7))[:4] == ("2026/2027", D(2026, 9, 1), D(2026, 12, 6), ["1 четверть"])


def test_early_september_shows_last_years_fourth_quarter():
    """Before the 1st quarter ends no quarter of the new year is over: the
    demo is last school year, its 4th quarter finished."""
    assert demo_dates(D(2026, 9, 3))[:4] == ("2025/2026", D(2026, 4, 1), D(2026, 5, 31), ["4 четверть"])
    assert demo_dates(D(2026, 10, 27))[:4] == ("2026/2027", D(2026, 9, 1), D(2026, 10, 26), ["1 четверть"])
    assert demo_dates(D(2026, 8, 15))[0] == "2025/2026"  # August: not an empty year that has not begun


def test_every_day_of_three_years_has_final_marks_and_lessons_before_it():
    day = D(2025, 1, 1)
    while day <= D(2027, 12, 31):
        name, first, last, finished, days = demo_dates(day)
        assert finished, day
        assert days and days[-1] < day and last < day, day
        _, starts, ends, periods = year_bounds(day)
        assert starts < day and first >= starts and last <= ends, day
        quarter = dict((n, (a, b)) for n, a, b in periods)[finished[-1]]
        assert first <= quarter[0] and quarter[1] < day, day  # the whole finished quarter is in the term
        day += dt.timedelta(days=1)


def test_only_the_first_run_seeds_and_says_so(tmp_path):
    calls, said = [], []

    def fake_seed(base_url, admin_login, admin_password, today=None):
        calls.append(today)
        return {"users": [{"login": "director", "id": "u1", "role": "director"}], "password": "p"}

    first = seed_once(tmp_path, "http://x", "admin", "pw", say=said.append, today=D(2026, 12, 7),
                      seed_school=fake_seed)
    assert calls == [D(2026, 12, 7)] and said == ["seeding the demo school (first run only, a few minutes)..."]
    assert json.loads((tmp_path / MARKER).read_text()) == first
    said.clear()
    again = seed_once(tmp_path, "http://x", "admin", "pw", say=said.append, seed_school=fake_seed)
    assert again == first and len(calls) == 1
    assert not any("seeding" in line for line in said)
    assert said == [f"the demo school was seeded on an earlier run ({tmp_path / MARKER})"]
