"""The self-check: the marks projection against the journal's counts per
class and period, as the last result, a metric and the health detail."""
from __future__ import annotations

from nameko.testing.services import entrypoint_hook, replace_dependencies
from prometheus_client import REGISTRY

from reports import selfcheck


def test_compare_lists_every_class_and_period_that_differs():
    journal = [("s", "c1", "p1", 3), ("s", "c1", "p2", 2), ("s", "c2", "p1", 1)]
    ours = [("s", "c1", "p1", 3), ("s", "c1", "p2", 1), ("s", "c3", "p1", 4)]
    result = selfcheck.compare(journal, ours)
    assert result == {"compared": 4, "differences": 3, "items": [
        {"school_id": "s", "class_id": "c1", "period_id": "p2", "journal": 2, "reports": 1},
        {"school_id": "s", "class_id": "c2", "period_id": "p1", "journal": 1, "reports": 0},
        {"school_id": "s", "class_id": "c3", "period_id": "p1", "journal": 0, "reports": 4}]}


def test_selfcheck_compares_the_projection_with_the_journals_counts(container_factory, rabbit_config, db_url, publish,
                                                                    school):
    """5А in the first quarter: two marks projected; the journal counts three
    (one mark_posted lost): one difference, in the metric and the health."""
    from reports.service import Service

    year = school.year()
    q1 = year["periods"][0]["id"]
    class_id = school.school_class(year["year_id"])
    math = school.subject("Математика")
    student = school.student(class_id, "Алексеева Мария")
    school.mark(class_id, student, math, "2026-09-02", 5)
    school.mark(class_id, student, math, "2026-09-03", 4)

    c = container_factory(Service, {**rabbit_config, "DATABASE_URL": db_url})
    journal = replace_dependencies(c, "journal")
    c.start()
    journal.mark_counts.return_value = [[school.school_id, class_id, q1, 3]]
    with entrypoint_hook(c, "selfcheck") as check:
        result = check()
    assert (result["compared"], result["differences"]) == (1, 1)
    assert result["items"] == [{"school_id": school.school_id, "class_id": class_id, "period_id": q1,
                                "journal": 3, "reports": 2}]
    assert REGISTRY.get_sample_value("reports_selfcheck_differences") == 1
    with entrypoint_hook(c, "health") as health:
        assert health()["detail"]["selfcheck"]["differences"] == 1
    journal.mark_counts.return_value = [[school.school_id, class_id, q1, 2]]
    with entrypoint_hook(c, "selfcheck") as check:
        assert check()["differences"] == 0
    assert REGISTRY.get_sample_value("reports_selfcheck_differences") == 0
