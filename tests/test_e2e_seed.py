"""The demo seed (`make run`) on its own fresh platform (its fixed logins and
subject names would collide with the other e2e files' school): a term of
lessons with attendance, marks, late entries, corrections with history and
final marks, all through the public API."""
from __future__ import annotations

import datetime as dt
import random

import pytest

from localrun.client import Api
from localrun.seed import DEMO_PASSWORD, seed, term_bounds

pytestmark = pytest.mark.e2e


def test_term_bounds_show_a_full_term():
    periods = [("1", dt.date(2026, 9, 1), dt.date(2026, 10, 26)), ("2", dt.date(2026, 11, 5), dt.date(2026, 12, 28))]
    assert term_bounds(periods, dt.date(2026, 11, 10)) == (dt.date(2026, 9, 1), dt.date(2026, 11, 9))
    assert term_bounds(periods, dt.date(2026, 12, 20)) == (dt.date(2026, 11, 5), dt.date(2026, 12, 19))
    assert term_bounds(periods, dt.date(2026, 11, 1)) == (dt.date(2026, 9, 1), dt.date(2026, 10, 26))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from localrun.launcher import throwaway_platform

    with throwaway_platform(tmp_path_factory.mktemp("seed"), "seed", timeout=120) as plat:
        env = plat.env
        # A day of last school year whose quarter has just begun (always in the past, so every
        # lesson may take marks): the seed then shows the whole previous quarter.
        real = dt.date.today()
        start_year = (real.year if real.month >= 8 else real.year - 1) - 1
        today = dt.date(start_year, 11, 12)
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
    assert grid["lessons"] and all(lesson["late"] for lesson in grid["lessons"])  # entered after the day (R-J5)
    assert any(lesson["topic"].startswith("Контрольная работа") for lesson in grid["lessons"])
    assert len(grid["finals"]) == 8 and all(f["late"] for f in grid["finals"])
    assert grid["attendance"] and grid["marks"]
    parent = Api(plat.url).login("parent.ivanov.petr", DEMO_PASSWORD)
    child = parent.get("/me")["children"][0]["id"]
    end = dt.date.fromisoformat(result["term"][1])
    diary = parent.get(f"/students/{child}/diary?from={(end - dt.timedelta(days=20)).isoformat()}&to={end.isoformat()}")
    assert sum(len(d["lessons"]) for d in diary["days"]) >= 10
    assert parent.get(f"/students/{child}/forecast?period_id={quarter}")
