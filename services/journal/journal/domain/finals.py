"""Rules of final marks (R-F1..R-F4): the evidence behind a final mark, its
warnings, the 2-day deadline, the subject's emphasis on written works
(R-F2), the forecast and who is at risk. Pure Python: the caller supplies
the marks, the hours, the dates and "today"."""
from __future__ import annotations

import datetime as dt
import re
import statistics
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, Sequence

from sqlalchemy.orm import Session

from kernel.context import CallContext

from journal import errors, store
from journal.domain.common import _invalid, ident, require_mapping
from journal.domain.lessons import MAX_MARK, mark_value


FINAL_DEADLINE_DAYS = 2          # R-F3: entered no later than 2 days after the period ends
HOURS_THRESHOLD = 2              # R-F2: "up to 2 hours a week" uses the lower threshold
DEFAULT_MIN_MARKS_LOW = 3        # R-F2 defaults (school settings)
DEFAULT_MIN_MARKS_HIGH = 5
# Works that R-F2 says "weigh in": written, lab and practical (and control/test work).
WRITTEN_KINDS = frozenset({"written", "lab", "practical", "control", "test"})
YEAR = "year"
# R-F2 "emphasis for Russian, literature, maths, physics, chemistry": a subject
# of one of these names is emphasised unless the school says otherwise
# (POST/PATCH /subjects ``emphasis``). Whole words at the start of the name, so
# "Алгебра и начала анализа" is, "Литературное чтение" and "Физическая
# культура" are not.
EMPHASIS_NAMES = ("русский язык", "литература", "математика", "алгебра", "геометрия", "физика", "химия")
_EMPHASIS_RE = re.compile(r"^(?:" + "|".join(EMPHASIS_NAMES) + r")(?![0-9a-zа-я])")
DEFAULT_MIN_WRITTEN = 1          # written/lab/practical works an emphasised subject needs per period


@dataclass(frozen=True)
class FinalSpec:
    student_id: str
    subject_id: str
    period_id: str
    value: int


def validate_final(data, *, allow_mark_1: bool) -> FinalSpec:
    """Decode ``post_final_mark`` data; ``period_id`` may be a year's id."""
    data = require_mapping(data, "data")
    return FinalSpec(
        student_id=ident(data.get("student_id"), "student_id"),
        subject_id=ident(data.get("subject_id"), "subject_id"),
        period_id=ident(data.get("period_id"), "period_id"),
        value=mark_value(data.get("value"), allow_mark_1=allow_mark_1),
    )


def default_emphasis(name: str) -> bool:
    """Whether a subject of this name is emphasised by default (R-F2)."""
    folded = " ".join(str(name or "").casefold().replace("ё", "е").split())
    return _EMPHASIS_RE.match(folded) is not None


def validate_emphasis(data, *, required: bool = False) -> bool | None:
    """The ``emphasis`` flag of a subject request: a boolean, or None when
    absent (and not required)."""
    data = require_mapping(data, "data")
    value = data.get("emphasis")
    if value is None and not required:
        return None
    if not isinstance(value, bool):
        raise _invalid("emphasis", errors.text("emphasis_boolean"))
    return value


def written_required(emphasis: bool, *, min_written: int = DEFAULT_MIN_WRITTEN) -> int:
    """R-F2: the written, lab or practical works a final mark needs in its
    period: ``min_written`` for an emphasised subject, none for the others
    (for them a lack of such works is only noted, see :func:`warnings`)."""
    return max(0, min_written) if emphasis else 0


def required_marks(hours_per_week: float | None, *, low: int = DEFAULT_MIN_MARKS_LOW,
                   high: int = DEFAULT_MIN_MARKS_HIGH) -> int:
    """R-F2: the fewest current marks that justify a final mark."""
    if hours_per_week is None or hours_per_week <= HOURS_THRESHOLD:
        return low
    return high


def round_half_up(x: float, digits: int = 2) -> float:
    return float(Decimal(str(x)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def evidence(marks: Sequence[tuple[int, int, str]], required: int, *, emphasis: bool = False,
             written_needed: int = 0) -> dict:
    """``marks`` = ``[(value, weight, kind)]`` of the period (not removed);
    ``written_needed`` from :func:`written_required`."""
    count = len(marks)
    if count:
        average = round_half_up(sum(v for v, _, _ in marks) / count)
        weighted = round_half_up(sum(v * w for v, w, _ in marks) / sum(w for _, w, _ in marks))
    else:
        average = weighted = None
    return {"marks_count": count, "required": required, "average": average, "weighted_average": weighted,
            "written_works": sum(1 for _, _, k in marks if k in WRITTEN_KINDS),
            "emphasis": emphasis, "written_required": written_needed}


def is_late(period_ends_on: dt.date, today: dt.date) -> bool:
    """R-F3: later than 2 days after the period's last day."""
    return (today - period_ends_on).days > FINAL_DEADLINE_DAYS


def warnings(value: int, ev: dict, *, late: bool) -> list[dict]:
    """What makes the final mark doubtful (R-F2, R-F3); never a refusal.
    An emphasised subject needs its written works even when the period has
    no marks at all (WRITTEN_WORK_REQUIRED); for other subjects a period of
    oral marks only is noted (NO_WRITTEN_WORK)."""
    codes = []
    if ev["marks_count"] < ev["required"]:
        codes.append("THIN_EVIDENCE")
    if ev.get("written_required"):
        if ev["written_works"] < ev["written_required"]:
            codes.append("WRITTEN_WORK_REQUIRED")
    elif ev["marks_count"] and not ev["written_works"]:
        codes.append("NO_WRITTEN_WORK")
    if ev["weighted_average"] is not None and abs(value - ev["weighted_average"]) >= 1:
        codes.append("FAR_FROM_AVERAGE")
    if late:
        codes.append("LATE")
    return [{"code": c, "message": errors.text(f"final_warning.{c}", **ev)} for c in codes]


def predicted_mark(weighted_average: float | None, *, low: int = 2) -> int | None:
    """The final mark the current marks point to (half up, as teachers round)."""
    if weighted_average is None:
        return None
    return max(low, min(MAX_MARK, int(Decimal(str(weighted_average)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP))))


def confidence(values: Sequence[int], required: int) -> float:
    """0..1: how sure the forecast is. Grows with the number of marks (full
    at the required count) and shrinks with their spread (a population
    standard deviation of 2 points, the widest sensible, gives 0)."""
    if not values:
        return 0.0
    amount = min(1.0, len(values) / max(1, required))
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    steadiness = max(0.0, 1.0 - spread / 2.0)
    # a single mark is weak evidence whatever its value
    return round_half_up(amount * (0.5 + 0.5 * steadiness))


def forecast(marks: Sequence[tuple[int, int, str]], required: int, *, emphasis: bool = False,
             written_needed: int = 0) -> dict:
    """The predicted final mark and its confidence. In an emphasised subject
    whose written works are missing the prediction rests on the wrong kind
    of evidence (R-F2): its confidence is halved."""
    ev = evidence(marks, required, emphasis=emphasis, written_needed=written_needed)
    sure = confidence([v for v, _, _ in marks], required)
    if ev["written_works"] < written_needed:
        sure = round_half_up(sure / 2)
    return {"predicted": predicted_mark(ev["weighted_average"]), "confidence": sure,
            "marks_count": ev["marks_count"], "required": required,
            "weighted_average": ev["weighted_average"], "emphasis": emphasis,
            "written_works": ev["written_works"], "written_required": written_needed}


def risk_reasons(fc: dict) -> list[str]:
    """Why a student's subject is at risk: a forecast of 2, too few marks to
    be graded, or (an emphasised subject) too few written works (R-F2)."""
    reasons = []
    if fc["predicted"] is not None and fc["predicted"] <= 2:
        reasons.append("LOW_FORECAST")
    if fc["marks_count"] < fc["required"]:
        reasons.append("FEW_MARKS")
    if fc.get("written_works", 0) < fc.get("written_required", 0):
        reasons.append("NO_WRITTEN_WORK")
    return reasons


def subject_risks(marks_by_student: dict, student_ids, *, hours_per_week: float | None, emphasis: bool,
                  low: int, high: int, min_written: int) -> dict:
    """R-F4 in one subject: ``student id -> {reasons, **forecast}`` of the
    students at risk. Every student is judged in a subject the class is
    assigned (``hours_per_week`` known); otherwise only those with marks in it.
    ``marks_by_student``: ``student id -> [(value, weight, kind)]``."""
    required = required_marks(hours_per_week, low=low, high=high)
    written = written_required(emphasis, min_written=min_written)
    judged = student_ids if hours_per_week is not None else [s for s in student_ids if s in marks_by_student]
    found = {}
    for student_id in judged:
        fc = forecast(marks_by_student.get(student_id, []), required, emphasis=emphasis, written_needed=written)
        reasons = risk_reasons(fc)
        if reasons:
            found[student_id] = {"reasons": reasons, **fc}
    return found


def group_marks(rows: Iterable[tuple[str, int, int, str]]) -> dict[str, list[tuple[int, int, str]]]:
    """``[(subject_id, value, weight, kind)]`` by subject."""
    out: dict[str, list] = {}
    for subject_id, value, weight, kind in rows:
        out.setdefault(subject_id, []).append((value, weight, kind))
    return out


def period_for(s: Session, actor: CallContext, period_id: str | None, today: dt.date, year_id: str | None = None):
    """The named period (or year), or the period of ``year_id`` (else of
    the school) containing today."""
    if period_id:
        period = store.finals.period_or_year(s, school_id=actor.school_id, period_id=ident(period_id, "period_id"))
        if period is None:
            raise errors.PeriodNotFound(details={"field": "period_id"})
        return period
    period = store.finals.period_on(s, school_id=actor.school_id, day=today, year_id=year_id)
    if period is None:
        raise errors.PeriodNotFound(errors.text("no_current_period"),
                                    details={"field": "period_id"})
    return period
