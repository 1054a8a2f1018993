"""The demo seed (`make run`) on its own fresh platform (its fixed logins and
subject names would collide with the other e2e files' school): a term of
lessons with attendance, marks, late entries, corrections with history and
the finished quarter's final marks, all through the public API, and every
seeded login with its id."""
from __future__ import annotations

import datetime as dt
import random

import pytest

from localrun.client import Api
from localrun.seed import (DEMO_PASSWORD, STAFF, STUDENTS_1A, STUDENTS_5A, format_logins, plan_term,
                           school_days, seed, term_bounds)

pytestmark = pytest.mark.e2e


def test_term_bounds_show_a_full_term():
    periods = [("1", dt.date(2026, 9, 1), dt.date(2026, 10, 26)), ("2", dt.date(2026, 11, 5), dt.date(2026, 12, 28))]
    # from the start of the finished quarter to yesterday
    assert term_bounds(periods, dt.date(2026, 11, 10)) == (dt.date(2026, 9, 1), dt.date(2026, 11, 9))
    assert term_bounds(periods, dt.date(2026, 12, 20)) == (dt.date(2026, 9, 1), dt.date(2026, 12, 19))
    assert term_bounds(periods, dt.date(2026, 11, 1)) == (dt.date(2026, 9, 1), dt.date(2026, 10, 31))
    assert term_bounds(periods, dt.date(2027, 1, 5)) == (dt.date(2026, 11, 5), dt.date(2026, 12, 28))
    assert term_bounds(periods, dt.date(2026, 10, 1)) == (None, None)


def test_the_paper_term_is_mostly_on_time_some_late_a_few_overdue():
    days = list(school_days(dt.date(2026, 9, 1), dt.date(2026, 10, 26)))
    plan = plan_term(days, random.Random(1), {"Математика": "m", "Русский язык": "r", "Литература": "l",
                                              "Физическая культура": "f"}, {"id": "5a"}, {"id": "1a"},
                     {"smirnova": "t1", "kuznetsov": "t2", "popov": "t3", "volkova": "t4"})
    lags = [(dt.date.fromisoformat(b["recorded_on"]) - dt.date.fromisoformat(b["date"])).days for _, b in plan]
    assert min(lags) == 0 and all(b["teacher_id"] for _, b in plan)
    on_time, late, overdue = (sum(1 for x in lags if x == 0), sum(1 for x in lags if 0 < x <= 3),
                              sum(1 for x in lags if x > 3))
    assert on_time > 0.7 * len(plan) and 0 < overdue < late


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from localrun.launcher import throwaway_platform

    with throwaway_platform(tmp_path_factory.mktemp("seed"), "seed", timeout=120) as plat:
        env = plat.env
        # 7 December of last school year (always in the past, so every lesson may take
        # marks), five weeks into the 2nd quarter: the 1st quarter is the finished one.
        real = dt.date.today()
        start_year = (real.year if real.month >= 8 else real.year - 1) - 1
        today = dt.date(start_year, 12, 7)
        result = seed(plat.url, env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"], today=today,
                      rng=random.Random(7), max_days=8)
        yield plat, result, today


def test_demo_seed_makes_a_realistic_school(seeded):
    plat, result, today = seeded
    assert result["lessons"] > 20 and result["marks"] > 40
    assert result["corrected"] == 4 and result["removed"] == 1 and result["finals"] == 8
    assert Api(plat.url).login("deputy", DEMO_PASSWORD).get("/journal/verify")["ok"] is True
    teacher = Api(plat.url).login("smirnova", DEMO_PASSWORD)
    quarter = result["periods"]["1 четверть"]
    grid = teacher.get(f"/classes/{result['classes']['5А']}/journal?subject_id={result['subjects']['Математика']}"
                       f"&period_id={quarter}")
    assert len(grid["finals"]) == 8 and all(f["late"] for f in grid["finals"])
    # the term was kept on paper and transcribed (imported, late only where the paper entry was); the last
    # school days are entered by the teachers now, after the day: a realistic mix (R-J5)
    term = teacher.get(f"/classes/{result['classes']['5А']}/journal?subject_id={result['subjects']['Математика']}"
                       f"&period_id={result['year_id']}")["lessons"]
    assert 0 < result["imported"] < result["lessons"]
    assert any(not lesson["late"] for lesson in term) and any(lesson["late"] for lesson in term)
    assert term[-1]["late"] and term[-1]["overdue"]  # entered now by the teacher, for a past year's day
    year = teacher.get(f"/classes/{result['classes']['5А']}/journal?subject_id={result['subjects']['Математика']}"
                       f"&period_id={result['year_id']}")
    assert any(lesson["topic"].startswith("Контрольная работа") for lesson in year["lessons"])
    assert year["attendance"] and year["marks"]
    parent = Api(plat.url).login("parent.ivanov.petr", DEMO_PASSWORD)
    child = parent.get("/me")["children"][0]["id"]
    end = dt.date.fromisoformat(result["term"][1])
    diary = parent.get(f"/students/{child}/diary?from={(end - dt.timedelta(days=20)).isoformat()}&to={end.isoformat()}")
    assert sum(len(d["lessons"]) for d in diary["days"]) >= 10
    # without dates: this week has no lesson (the demo's year is a past one), so the diary opens on
    # the latest week that has them, and says so
    default = parent.get(f"/students/{child}/diary")
    monday = end - dt.timedelta(days=end.weekday())
    assert (default["from"], default["to"]) == (monday.isoformat(), (monday + dt.timedelta(days=6)).isoformat())
    last_school_day = max(d for d in school_days(monday, end))
    assert default["days"] and default["days"][-1]["date"] == last_school_day.isoformat()
    assert parent.get(f"/students/{child}/forecast?period_id={result['periods']['2 четверть']}")


def test_every_seeded_login_is_kept_with_its_id_and_printed(seeded):
    """`make run` printed only seven logins (not the 1А class teacher), and
    demo-seed.json kept no ids."""
    plat, result, _ = seeded
    admin_login = plat.env["EJOURNAL_ADMIN_LOGIN"]
    expected = {admin_login} | {login for login, *_ in STAFF}
    for login, *_ in STUDENTS_5A + STUDENTS_1A:
        expected |= {login, "parent." + login}
    users = {u["login"]: u for u in result["users"]}
    assert set(users) == expected
    admin = Api(plat.url).login(admin_login, plat.env["EJOURNAL_ADMIN_PASSWORD"])
    for login in ("volkova", "gusev.artem", "parent.gusev.artem", admin_login):
        assert admin.get(f"/users/{users[login]['id']}")["login"] == login
    printed = format_logins(result, admin_login, plat.env["EJOURNAL_ADMIN_PASSWORD"])
    rows = {line.split()[0]: line for line in printed.splitlines()[2:]}
    assert set(rows) == expected - {admin_login}
    assert "class teacher of 1А" in rows["volkova"] and "student of 1А" in rows["gusev.artem"]
    assert "parent of gusev.artem" in rows["parent.gusev.artem"]
