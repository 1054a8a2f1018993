"""Report rules, pure Python over plain values (no broker, no database).

Builders take what the projections hold (dicts with ``datetime.date``
values) and return the JSON-able answer; rendering to PDF/XLSX will take
that answer as its input, so every report kind has one builder here and
any number of renderers elsewhere.

Arithmetic is exact (``fractions.Fraction``) and every shown number is
rounded once, half up (3.5 -> 4, 2.345 -> 2.35), the way a school counts;
Python's ``round`` rounds half to even and would turn 2.5 into 2.
"""
from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal
from fractions import Fraction

from kernel.context import CallContext
from reports.errors import (
    ClassNotFound, NotAllowed, PeriodNotFound, PeriodNotInClassYear, ValidationError, text,
)

# API.md "Reports": the administration, class teachers and teachers; a
# parent or a student (or other staff) is refused even if a gateway bug let
# them through.
STAFF_ROLES = frozenset({"admin", "director", "deputy", "class_teacher", "teacher"})

# A counted subject mark at or below this is a failing one ("неуспевающий").
# Mark 1 exists only by school setting, and it fails too.
FAILING_MARK = 2

# What a progress report's standings are computed from (R-R5): the final
# marks of the period, or, while none is posted, the current weighted
# averages rounded by the school's rule (see :func:`mark_of`).
FINAL_MARKS = "final_marks"
CURRENT_AVERAGES = "current_averages"


# --- call validation -------------------------------------------------------

def require_staff(ctx) -> CallContext:
    """The caller (kernel.context), if they hold at least one staff role;
    FORBIDDEN otherwise."""
    who = CallContext.from_rpc(ctx)
    if not STAFF_ROLES & who.roles:
        raise NotAllowed()
    return who


def require_id(value, field: str) -> str:
    """A well-formed id (uuid string) in canonical form, or VALIDATION_ERROR."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(text("id_required", field=field), details={"field": field})
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ValidationError(text("id_invalid", field=field), details={"field": field}) from None


# --- numbers -----------------------------------------------------------------

def round_half_up(value, places: int = 2) -> Decimal:
    """``value`` (int, Fraction or Decimal, not negative) rounded half up."""
    if isinstance(value, int):
        return ratio_half_up(value, 1, places)
    value = value if isinstance(value, Fraction) else Fraction(value)
    return ratio_half_up(value.numerator, value.denominator, places)


def ratio_half_up(numerator: int, denominator: int, places: int = 2) -> Decimal:
    """``numerator / denominator`` (not negative) rounded half up, in whole
    numbers only: floor(x * 10^places + 1/2) without building a Fraction."""
    scaled = numerator * 10 ** places
    return Decimal((2 * scaled + denominator) // (2 * denominator)).scaleb(-places)


def mark_of(average: Decimal) -> int:
    """The whole mark an average stands for: 3.5 -> 4, 3.49 -> 3.

    The school's rule, the one the journal's forecast of a final mark uses
    too: the weighted average as shown (2 decimals, half up), then half up to
    a whole mark."""
    return int(round_half_up(average, 0))


def percent(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in percent, 1 decimal; None when there is no whole."""
    if whole == 0:
        return None
    return float(round_half_up(Fraction(part * 100, whole), 1))


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def weighted_mean(marks: list[dict]) -> Fraction | None:
    """The exact mean of the marks' ``value`` weighed by ``weight`` (default 1)."""
    if not marks:
        return None
    weights = [int(m.get("weight") or 1) for m in marks]
    return Fraction(sum(int(m["value"]) * w for m, w in zip(marks, weights)), sum(weights))


def subject_result(marks: list[dict]) -> dict:
    """Marks of one student in one subject -> ``{marks, count, average,
    weighted_average, rounded}``.

    ``average`` is the plain mean, ``weighted_average`` weighs each mark by its
    ``weight`` (control works count more); both have 2 decimals. ``rounded``
    is the whole mark of the weighted average *as shown*, so a teacher who
    reads 3.50 sees 4. Without marks the three numbers are None.
    """
    values = [int(m["value"]) for m in marks]
    if not values:
        return {"marks": [], "count": 0, "average": None, "weighted_average": None, "rounded": None}
    weighted = round_half_up(weighted_mean(marks))
    return {
        "marks": values,
        "count": len(values),
        "average": _num(round_half_up(Fraction(sum(values), len(values)))),
        "weighted_average": _num(weighted),
        "rounded": mark_of(weighted),
    }


def sums_result(count: int, sum_values: int, sum_weighted: int, sum_weights: int) -> dict:
    """:func:`subject_result` from the marks' sums (the same numbers, without
    the list of marks): ``count``, the sum of values, of value x weight and
    of weights. Whole-number arithmetic only (a school's sheet has 15,000
    cells): hundredths half up, then the whole mark half up from those."""
    weighted = (200 * sum_weighted + sum_weights) // (2 * sum_weights)  # hundredths, half up
    plain = (200 * sum_values + count) // (2 * count)
    return {"count": count, "average": plain / 100, "weighted_average": weighted / 100,
            "rounded": (2 * weighted + 100) // 200}


def mean_of_ratios(ratios: list[tuple[int, int]]) -> Decimal | None:
    """The mean of ``numerator / denominator`` pairs, exact, 2 decimals half
    up (a student's average of their subjects' weighted means)."""
    if not ratios:
        return None
    numerator, denominator = 0, 1
    for n, d in ratios:
        numerator, denominator = numerator * d + n * denominator, denominator * d
    return ratio_half_up(numerator, denominator * len(ratios))


def student_average(subject_marks: list[list[dict]]) -> Decimal | None:
    """A student's overall average: the mean of their subjects' weighted
    averages (each subject counts once, however many marks it has)."""
    means = [weighted_mean(m) for m in subject_marks if m]
    if not means:
        return None
    return round_half_up(sum(means, Fraction(0)) / len(means))


def counted_mark(final: int | None, rounded: int | None) -> int | None:
    """The mark a subject counts with in a student's standing: its final mark
    when one is posted (a final 2 fails whatever the current marks say),
    otherwise the rounded current weighted average; None when neither."""
    return final if final is not None else rounded


def student_standing(counted: list[int]) -> dict:
    """Which summary counts one student adds to, from their counted subject
    marks (:func:`counted_mark`; subjects with neither a final nor a current
    mark are left out).

    A student with no marks at all is "without marks" and in none of the
    other groups: not attested is neither passing nor excellent.
    """
    if not counted:
        return {"without_marks": True, "passing": False, "quality": False, "excellent": False,
                "with_one_3": False, "failing": False}
    failing = any(m <= FAILING_MARK for m in counted)
    threes = sum(1 for m in counted if m == 3)
    return {
        "without_marks": False,
        "passing": not failing,
        "quality": all(m >= 4 for m in counted),
        "excellent": all(m == 5 for m in counted),
        # "with one 3" is the near-quality group: one 3, the rest 4s and 5s
        "with_one_3": threes == 1 and not failing,
        "failing": failing,
    }


def progress_summary(standings: list[dict]) -> dict:
    """R-R5 class totals from per-student standings.

    Shares are of all students on the roster, those without marks included
    (the school's usual "успеваемость = (5+4+3) / всего учащихся").
    """
    total = len(standings)

    def count(key):
        return sum(1 for s in standings if s[key])

    return {
        "students": total,
        "pass_rate": percent(count("passing"), total),
        "quality": percent(count("quality"), total),
        "excellent": count("excellent"),
        "with_one_3": count("with_one_3"),
        "failing": count("failing"),
        "without_marks": count("without_marks"),
    }


def finals_coverage(rows: list[dict]) -> dict:
    """How far the final marks cover the report's grid (every student on the
    roster x every shown subject): cells with and without a final mark, and
    the students and subjects with at least one cell without."""
    cells = [(row["id"], cell["subject_id"], cell["final"]) for row in rows for cell in row["subjects"]]
    missing = [(student, subject) for student, subject, final in cells if final is None]
    return {
        "posted": len(cells) - len(missing),
        "missing": len(missing),
        "students_missing": len({student for student, _ in missing}),
        "subjects_missing": len({subject for _, subject in missing}),
    }


# --- ordering ----------------------------------------------------------------

def name_key(name: str | None, ident: str = "") -> tuple:
    """Russian alphabetical order: ё sorts with е; unnamed last; ties by id."""
    text = (name or "").casefold().replace("ё", "е")
    return (name is None or name == "", text, ident)


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


# --- the progress report (R-R5) ------------------------------------------------

def check_report_scope(school_class: dict | None, period: dict | None, *, class_id: str,
                       period_id: str) -> None:
    """A class report needs a class and a period of this school (NOT_FOUND
    otherwise: another school's ids are not to be probed) and the period must
    belong to the class's school year."""
    if school_class is None:
        raise ClassNotFound(details={"class_id": class_id})
    if period is None:
        raise PeriodNotFound(details={"period_id": period_id})
    if school_class.get("year_id") and period.get("year_id") != school_class["year_id"]:
        raise PeriodNotInClassYear(details={"class_id": class_id, "period_id": period_id})


def in_period(day: dt.date, period: dict) -> bool:
    """Whether ``day`` lies within the period, both ends included."""
    return period["starts_on"] <= day <= period["ends_on"]


def roster(students: list[dict], period: dict) -> list[dict]:
    """The class's students for ``period``: enrolled no later than its last
    day, and not gone (``left_on``, the first day out) by its first day."""
    return [s for s in students if (s.get("enrolled_on") is None or s["enrolled_on"] <= period["ends_on"])
            and (s.get("left_on") is None or s["left_on"] > period["starts_on"])]


def progress_report(*, school_class: dict, period: dict, subjects: list[dict], students: list[dict],
                    marks: list[dict] = (), finals: list[dict] = (), generated_at: dt.datetime,
                    sums: dict | None = None) -> dict:
    """Итоги успеваемости (R-R5) of one class for one period.

    - ``school_class`` ``{id, name}``; ``period`` ``{id, name, starts_on, ends_on}`` (dates);
    - ``subjects`` ``[{id, name, assigned}]``: a subject is shown when it is
      assigned to the class, has a counted mark or a final mark;
    - ``students`` ``[{id, full_name, enrolled_on}]``: the class's enrolments;
    - ``marks`` ``[{student_id, subject_id, date, value, weight}]`` of the class,
      in the order they were given; only those dated within the period and of
      a student on the roster count;
    - ``finals`` ``[{student_id, subject_id, value}]``: the class's current
      final marks for this very period (for the year: the year's final marks);
      only those of students on the roster count;
    - or, instead of ``marks``, ``sums`` ``{(student_id, subject_id): (count,
      sum of values, sum of value x weight, sum of weights)}`` of the
      period's marks (a school's sheet: the database sums them); the cells
      then carry no list of marks, every number is the same.

    Every student row lists every shown subject (a grid; count 0 where there
    are no marks) and the student's overall ``average`` (see
    :func:`student_average`). Each cell has the subject's ``final`` mark and
    the mark it ``counted`` with (:func:`counted_mark`). The report's
    ``basis`` is ``final_marks`` when any final mark of the period counts,
    else ``current_averages``; ``finals`` says how far the final marks cover
    the grid (:func:`finals_coverage`), so a partly posted period shows.
    """
    pupils = sorted(roster(students, period), key=lambda s: name_key(s.get("full_name"), s["id"]))
    on_roster = {s["id"] for s in pupils}
    if sums is None:
        counted: dict[tuple, list[dict]] = {}
        for mark in sorted(marks, key=lambda m: m["date"]):  # stable: same-day marks keep their order
            if mark["student_id"] in on_roster and in_period(mark["date"], period):
                counted.setdefault((mark["student_id"], mark["subject_id"]), []).append(mark)
        results = {key: subject_result(cell) for key, cell in counted.items()}
        means = {key: (mean.numerator, mean.denominator)
                 for key, mean in ((k, weighted_mean(cell)) for k, cell in counted.items())}
    else:  # the period's marks already summed per student and subject (a school's sheet)
        cells = {key: cell for key, cell in sums.items() if key[0] in on_roster and cell[0]}
        results = {key: sums_result(*cell) for key, cell in cells.items()}
        means = {key: (cell[2], cell[3]) for key, cell in cells.items()}
    final_of = {(f["student_id"], f["subject_id"]): int(f["value"]) for f in finals
                if f["student_id"] in on_roster}
    marked_subjects = {subject_id for _, subject_id in results} | {subject_id for _, subject_id in final_of}
    names = {s["id"]: s.get("name") for s in subjects}
    shown_ids = {s["id"] for s in subjects if s.get("assigned")} | marked_subjects
    shown = sorted(({"id": i, "name": names.get(i)} for i in shown_ids), key=lambda s: name_key(s["name"], s["id"]))
    empty = subject_result([]) if sums is None else {k: v for k, v in subject_result([]).items() if k != "marks"}

    rows, standings = [], []
    for pupil in pupils:
        cells_of = []
        subject_means = []
        for subject in shown:
            key = (pupil["id"], subject["id"])
            result = results.get(key, empty)
            if key in means:
                subject_means.append(means[key])
            final = final_of.get(key)
            cells_of.append({"subject_id": subject["id"], **result, "final": final,
                             "counted": counted_mark(final, result["rounded"])})
        standings.append(student_standing([r["counted"] for r in cells_of if r["counted"] is not None]))
        average = mean_of_ratios(subject_means)
        rows.append({"id": pupil["id"], "full_name": pupil.get("full_name"), "subjects": cells_of,
                     "average": _num(average)})

    return {
        "kind": "progress",
        "class": {"id": school_class["id"], "name": school_class.get("name")},
        "period": {"id": period["id"], "name": period.get("name"),
                   "starts_on": _iso(period["starts_on"]), "ends_on": _iso(period["ends_on"])},
        "basis": FINAL_MARKS if final_of else CURRENT_AVERAGES,
        "finals": finals_coverage(rows),
        "subjects": shown,
        "students": rows,
        "summary": progress_summary(standings),
        "generated_at": _iso(generated_at),
    }
