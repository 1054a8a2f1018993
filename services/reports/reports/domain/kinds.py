"""The builders of every report kind but ``progress`` (in the package's
``__init__``), pure Python over plain values: dicts with ``datetime.date``
values in, a JSON-able report out. Each report then gets its printable
layout from :mod:`reports.domain.layouts`.

Conventions shared by all builders:

- a class's roster for a span of days: the students enrolled no later than
  its last day and not gone (``left_on``, the first day out) before its
  first day (:func:`on_roster`);
- people are sorted by name (ё with е), classes by grade then letter;
- shares are percent with 1 decimal half up, null when there is no whole.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from fractions import Fraction

from reports.domain import (
    CURRENT_AVERAGES, FINAL_MARKS, _iso, _num, mark_of, name_key, percent, progress_report, progress_summary,
    round_half_up, student_standing, weighted_mean,
)

# What the journal calls written, lab and practical works (R-F2): their
# share of a subject's marks is an R-R9 figure.
WRITTEN_KINDS = frozenset({"written", "lab", "practical", "control", "test"})
# attendance statuses: a missed lesson is excused (with a reason: ill,
# excused) or not (absent); late is present
MISSED = {"absent": "unexcused", "excused": "excused", "ill": "excused"}
MIXED = "mixed"
# the grade whose pupils get no marks and no homework (R-J4)
NO_MARKS_GRADE = 1
LOGIN_ROLES_RU = {
    "admin": "администратор", "director": "директор", "deputy": "заместитель директора",
    "class_teacher": "классный руководитель", "teacher": "учитель", "secretary": "секретарь",
    "news_editor": "редактор новостей", "scheduler": "составитель расписания", "parent": "родитель",
    "student": "ученик",
}


# --- shared helpers ------------------------------------------------------------

def on_roster(enrolment: dict, first: dt.date, last: dt.date) -> bool:
    """Whether the enrolment covers at least one day of ``first..last``."""
    enrolled, left = enrolment.get("enrolled_on"), enrolment.get("left_on")
    return (enrolled is None or enrolled <= last) and (left is None or left > first)


def class_key(c: dict) -> tuple:
    return (c.get("grade") or 0, (c.get("letter") or "").casefold(), c.get("name") or "", c["id"])


def _name(people: dict, person_id: str | None) -> str | None:
    return (people.get(person_id) or {}).get("full_name") if person_id else None


def _pupils(enrolments: list[dict], class_id: str, first: dt.date, last: dt.date, people: dict) -> list[dict]:
    rows = [{"id": e["student_id"], "full_name": _name(people, e["student_id"]),
             "enrolled_on": e.get("enrolled_on"), "left_on": e.get("left_on")}
            for e in enrolments if e["class_id"] == class_id and on_roster(e, first, last)]
    return sorted(rows, key=lambda s: name_key(s["full_name"], s["id"]))


def _span(period: dict) -> dict:
    return {"id": period.get("id"), "name": period.get("name"), "kind": period.get("kind"),
            "starts_on": _iso(period["starts_on"]), "ends_on": _iso(period["ends_on"])}


def _class_ref(c: dict | None) -> dict | None:
    return None if c is None else {"id": c["id"], "name": c.get("name")}


def _mean(values: list[int]) -> float | None:
    return _num(round_half_up(Fraction(sum(values), len(values)))) if values else None


def month_span(month: str) -> tuple[dt.date, dt.date]:
    """``"2026-10"`` -> (1 Oct, 31 Oct)."""
    first = dt.date.fromisoformat(month + "-01")
    nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, nxt - dt.timedelta(days=1)


# --- R-R1 class fill ------------------------------------------------------------

def class_fill(*, classes: list[dict], enrolments: list[dict], people: dict, movements: list[dict],
               period: dict, generated_at: dt.datetime) -> dict:
    """Наполняемость классов: per class the students on the period's first
    day, those who came (admitted or transferred in) and went (transferred
    out, left, graduated) during it, those on its last day by sex; and the
    movements with their order numbers. ``sex_unknown``: those on the last
    day whose sex is not recorded.

    On the first day: enrolled on or before it and not gone by it. Came:
    enrolled after the first day, on or before the last. Went: first day out
    after the period's first day, on or before its last. So ``at_end =
    at_start + came - went`` per class."""
    first, last = period["starts_on"], period["ends_on"]
    transfers_in = {(m["student_id"], m["to_class_id"], m["on"]) for m in movements if m["kind"] == "transferred"}
    names = {c["id"]: c.get("name") for c in classes}
    rows, moves = [], []
    for c in sorted(classes, key=class_key):
        row = {"class_id": c["id"], "class": c.get("name"), "at_start": 0, "admitted": 0, "transferred_in": 0,
               "transferred_out": 0, "left": 0, "graduated": 0, "at_end": 0, "boys": 0, "girls": 0}
        for e in enrolments:
            if e["class_id"] != c["id"]:
                continue
            enrolled, left = e.get("enrolled_on"), e.get("left_on")
            if (enrolled is None or enrolled <= first) and (left is None or left > first):
                row["at_start"] += 1
            if enrolled is not None and first < enrolled <= last:
                transfer = (e["student_id"], c["id"], enrolled) in transfers_in
                row["transferred_in" if transfer else "admitted"] += 1
                if not transfer:
                    moves.append({"date": enrolled, "student_id": e["student_id"],
                                  "student": _name(people, e["student_id"]), "movement": "прибыл",
                                  "from_class": None, "to_class": c.get("name"), "order_no": e.get("order_no")})
            if left is not None and first < left <= last:
                reason = e.get("left_reason") or "left"
                row["transferred_out" if reason == "transferred" else reason if reason in ("left", "graduated")
                    else "left"] += 1
            if (enrolled is None or enrolled <= last) and (left is None or left > last):
                row["at_end"] += 1
                sex = (people.get(e["student_id"]) or {}).get("sex")
                if sex == "male":
                    row["boys"] += 1
                elif sex == "female":
                    row["girls"] += 1
        row["came"] = row["admitted"] + row["transferred_in"]
        row["went"] = row["transferred_out"] + row["left"] + row["graduated"]
        row["sex_unknown"] = row["at_end"] - row["boys"] - row["girls"]
        rows.append(row)
    for m in movements:
        if first <= m["on"] <= last and (m.get("from_class_id") in names or m.get("to_class_id") in names):
            label = {"transferred": "переведён", "left": "выбыл", "graduated": "выпущен"}.get(m["kind"], m["kind"])
            moves.append({"date": m["on"], "student_id": m["student_id"], "student": _name(people, m["student_id"]),
                          "movement": label, "from_class": names.get(m.get("from_class_id")),
                          "to_class": names.get(m.get("to_class_id")), "order_no": m.get("order_no")})
    moves.sort(key=lambda m: (m["date"], name_key(m["student"], m["student_id"])))
    keys = ("at_start", "admitted", "transferred_in", "came", "transferred_out", "left", "graduated", "went",
            "at_end", "boys", "girls", "sex_unknown")
    return {
        "kind": "class-fill", "period": _span(period),
        "classes": rows,
        "totals": {k: sum(r[k] for r in rows) for k in keys},
        "movements": [{**m, "date": _iso(m["date"])} for m in moves],
        "generated_at": _iso(generated_at),
    }


# --- R-R2 final data per student -------------------------------------------------

def student_finals(*, school_class: dict, year: dict, periods: list[dict], subjects: list[dict],
                   enrolments: list[dict], people: dict, finals: list[dict], generated_at: dt.datetime) -> dict:
    """Итоговые данные по обучающимся: each student of the class's year with
    their final marks per subject for every period and the year (null where
    none is posted), and per column the count of each mark."""
    periods = sorted(periods, key=lambda p: p["starts_on"])
    columns = [{"id": p["id"], "name": p.get("name")} for p in periods] + [{"id": year["id"], "name": "Год"}]
    pupils = _pupils(enrolments, school_class["id"], year["starts_on"], year["ends_on"], people)
    on = {p["id"] for p in pupils}
    value = {(f["student_id"], f["subject_id"], f["period_id"]): int(f["value"]) for f in finals
             if f["student_id"] in on}
    shown_ids = {s["id"] for s in subjects if s.get("assigned")} | {k[1] for k in value}
    names = {s["id"]: s.get("name") for s in subjects}
    shown = sorted(({"id": i, "name": names.get(i)} for i in shown_ids), key=lambda s: name_key(s["name"], s["id"]))
    students, counts = [], {c["id"]: Counter() for c in columns}
    for pupil in pupils:
        cells = []
        for subject in shown:
            marks = {c["id"]: value.get((pupil["id"], subject["id"], c["id"])) for c in columns}
            for column_id, mark in marks.items():
                if mark is not None:
                    counts[column_id][mark] += 1
            cells.append({"subject_id": subject["id"], "finals": marks})
        year_marks = [c["finals"][year["id"]] for c in cells if c["finals"][year["id"]] is not None]
        students.append({"id": pupil["id"], "full_name": pupil["full_name"], "subjects": cells,
                         "year_failing": any(m <= 2 for m in year_marks),
                         "left_on": _iso(pupil.get("left_on"))})
    return {
        "kind": "student-finals", "class": _class_ref(school_class),
        "year": {"id": year["id"], "name": year.get("name")},
        "periods": columns, "subjects": shown, "students": students,
        "distribution": [{"period_id": c["id"], **{str(m): counts[c["id"]].get(m, 0) for m in (5, 4, 3, 2)},
                          "missing": len(pupils) * len(shown) - sum(counts[c["id"]].values())} for c in columns],
        "generated_at": _iso(generated_at),
    }


# --- R-R3 attendance, R-R6 attendance sheet ------------------------------------------

def _attendance_cells(pupils, lessons, attendance):
    """{(student, subject): {lessons, missed, excused, unexcused, late}} and
    the lessons by id. A lesson counts for a student on the class's roster
    that day; a subgroup lesson only for those with an entry at it."""
    lesson_of = {lesson["id"]: lesson for lesson in lessons}
    entries = {(a["lesson_id"], a["student_id"]): a["status"] for a in attendance}
    cells: dict = defaultdict(lambda: {"lessons": 0, "missed": 0, "excused": 0, "unexcused": 0, "late": 0})
    for lesson in lessons:
        for pupil in pupils:
            status = entries.get((lesson["id"], pupil["id"]))
            if lesson.get("subgroup_id") and status is None:
                continue
            if not on_roster(pupil, lesson["date"], lesson["date"]):
                continue
            cell = cells[(pupil["id"], lesson["subject_id"])]
            cell["lessons"] += 1
            if status in MISSED:
                cell["missed"] += 1
                cell[MISSED[status]] += 1
            elif status == "late":
                cell["late"] += 1
    return cells, lesson_of


def _week_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def attendance(*, school_class: dict, period: dict, enrolments: list[dict], people: dict, lessons: list[dict],
               attendance: list[dict], corrections: list[dict], generated_at: dt.datetime) -> dict:
    """Отчёт о посещаемости: per student of the class the lessons held, the
    lessons missed (excused: ill or with a reason; unexcused: absent), the
    lates, the share missed; the class's totals; missed lessons by week; and
    how many entries were corrected after they were first recorded (R-J7)."""
    first, last = period["starts_on"], period["ends_on"]
    lessons = [lesson for lesson in lessons if first <= lesson["date"] <= last]
    pupils = _pupils(enrolments, school_class["id"], first, last, people)
    cells, lesson_of = _attendance_cells(pupils, lessons, attendance)
    rows = []
    keys = ("lessons", "missed", "excused", "unexcused", "late")
    for pupil in pupils:
        total = {k: sum(c[k] for (s, _), c in cells.items() if s == pupil["id"]) for k in keys}
        rows.append({"id": pupil["id"], "full_name": pupil["full_name"], **total,
                     "missed_share": percent(total["missed"], total["lessons"])})
    totals = {k: sum(r[k] for r in rows) for k in keys}
    totals["missed_share"] = percent(totals["missed"], totals["lessons"])
    weeks: dict = defaultdict(lambda: {"excused": 0, "unexcused": 0})
    day = _week_of(first)
    while day <= last:
        weeks[day]  # every week of the period, even one without absences
        day += dt.timedelta(days=7)
    on = {p["id"] for p in pupils}
    for a in attendance:
        lesson = lesson_of.get(a["lesson_id"])
        if lesson is not None and a["student_id"] in on and a["status"] in MISSED:
            weeks[_week_of(lesson["date"])][MISSED[a["status"]]] += 1
    in_period = [c for c in corrections if first <= c["date"] <= last and c["student_id"] in on]
    return {
        "kind": "attendance", "class": _class_ref(school_class), "period": _span(period),
        "students": rows, "totals": totals,
        "weeks": [{"week_of": _iso(w), **v} for w, v in sorted(weeks.items())],
        "corrections": len(in_period),
        "generated_at": _iso(generated_at),
    }


def attendance_sheet(*, school_class: dict, period: dict, enrolments: list[dict], people: dict,
                     subjects: list[dict], lessons: list[dict], attendance: list[dict],
                     generated_at: dt.datetime) -> dict:
    """Сводная ведомость посещаемости: students x subjects, each cell the
    lessons missed (of which excused) out of those held; per student and per
    subject totals."""
    first, last = period["starts_on"], period["ends_on"]
    lessons = [lesson for lesson in lessons if first <= lesson["date"] <= last]
    pupils = _pupils(enrolments, school_class["id"], first, last, people)
    cells, _ = _attendance_cells(pupils, lessons, attendance)
    names = {s["id"]: s.get("name") for s in subjects}
    shown_ids = {s["id"] for s in subjects if s.get("assigned")} | {lesson["subject_id"] for lesson in lessons}
    if any(s.get("only") for s in subjects):  # a teacher's own subjects
        shown_ids &= {s["id"] for s in subjects if s.get("only")}
    shown = sorted(({"id": i, "name": names.get(i)} for i in shown_ids), key=lambda s: name_key(s["name"], s["id"]))
    empty = {"lessons": 0, "missed": 0, "excused": 0, "unexcused": 0, "late": 0}
    rows = []
    for pupil in pupils:
        row_cells = [{"subject_id": s["id"], **{k: cells.get((pupil["id"], s["id"]), empty)[k]
                                                for k in ("lessons", "missed", "excused")}} for s in shown]
        rows.append({"id": pupil["id"], "full_name": pupil["full_name"], "subjects": row_cells,
                     "missed": sum(c["missed"] for c in row_cells), "excused": sum(c["excused"] for c in row_cells),
                     "lessons": sum(c["lessons"] for c in row_cells)})
    per_subject = [{"subject_id": s["id"], "missed": sum(r["subjects"][i]["missed"] for r in rows),
                    "excused": sum(r["subjects"][i]["excused"] for r in rows)} for i, s in enumerate(shown)]
    return {
        "kind": "attendance-sheet", "class": _class_ref(school_class), "period": _span(period),
        "subjects": shown, "students": rows, "subject_totals": per_subject,
        "totals": {"missed": sum(r["missed"] for r in rows), "excused": sum(r["excused"] for r in rows),
                   "lessons": sum(r["lessons"] for r in rows)},
        "generated_at": _iso(generated_at),
    }


# --- R-R6 progress sheet -----------------------------------------------------------

def progress_sheet(*, period: dict, classes: list[dict], generated_at: dt.datetime) -> dict:
    """Сводная ведомость успеваемости: for each class (``classes``: ``{class,
    subjects, students, marks or sums, finals}`` as :func:`progress_report`
    takes them) students x subjects, each cell the mark the subject counts with and
    where it comes from: ``final`` (the period's final mark) or ``average``
    (the current weighted average rounded by the school's rule, when no final
    mark is posted); the student's overall average; the class's R-R5
    summary. ``basis`` per class as in R-R5; the sheet's ``basis`` is theirs
    when all classes agree, else ``mixed``."""
    out, all_standings = [], []
    for item in sorted(classes, key=lambda i: class_key(i["class"])):
        report = progress_report(school_class=item["class"], period=period, subjects=item["subjects"],
                                 students=item["students"], marks=item.get("marks", ()), sums=item.get("sums"),
                                 finals=item["finals"], generated_at=generated_at)
        only = item.get("only_subjects")
        shown = [s for s in report["subjects"] if only is None or s["id"] in only]
        keep = {s["id"] for s in shown}
        students, standings = [], []
        for row in report["students"]:
            cells = [{"subject_id": c["subject_id"], "mark": c["counted"],
                      "source": None if c["counted"] is None else "final" if c["final"] is not None else "average",
                      "weighted_average": c["weighted_average"]}
                     for c in row["subjects"] if c["subject_id"] in keep]
            standing = student_standing([c["mark"] for c in cells if c["mark"] is not None])
            standings.append(standing)
            all_standings.append(standing)
            students.append({"id": row["id"], "full_name": row["full_name"], "subjects": cells,
                             "average": row["average"] if only is None else _cells_average(cells)})
        out.append({"class": report["class"], "basis": report["basis"], "finals": report["finals"],
                    "subjects": shown, "students": students, "summary": progress_summary(standings)})
    bases = {c["basis"] for c in out}
    summary = progress_summary(all_standings)
    return {"kind": "progress-sheet", "period": _span(period),
            "basis": bases.pop() if len(bases) == 1 else (MIXED if bases else CURRENT_AVERAGES),
            "classes": out, "summary": summary, "generated_at": _iso(generated_at)}


def _cells_average(cells: list[dict]) -> float | None:
    """The mean of the shown subjects' weighted averages (a teacher's sheet)."""
    values = [Fraction(str(c["weighted_average"])) for c in cells if c["weighted_average"] is not None]
    return _num(round_half_up(sum(values, Fraction(0)) / len(values))) if values else None


# --- R-R4 class teacher's report ----------------------------------------------------

def class_teacher(*, school_class: dict, period: dict, progress: dict, attendance_report: dict, fill: dict,
                  people: dict, generated_at: dt.datetime) -> dict:
    """Отчёт классного руководителя за период: the class's movement (R-R1),
    progress (R-R5 summary with its basis), attendance (R-R3 totals), and the
    lists the paper form asks for: excellent students, students with one 3
    (and the subject), failing students (and the subjects)."""
    names = {s["id"]: s.get("name") for s in progress["subjects"]}
    excellent, one_3, failing = [], [], []
    for row in progress["students"]:
        counted = [(c["subject_id"], c["counted"]) for c in row["subjects"] if c["counted"] is not None]
        if not counted:
            continue
        low = [names.get(s) for s, m in counted if m <= 2]
        threes = [names.get(s) for s, m in counted if m == 3]
        who = {"id": row["id"], "full_name": row["full_name"]}
        if low:
            failing.append({**who, "subjects": low})
        elif all(m == 5 for _, m in counted):
            excellent.append(who)
        elif len(threes) == 1:
            one_3.append({**who, "subjects": threes})
    [fill_row] = fill["classes"] or [{}]
    return {
        "kind": "class-teacher", "class": _class_ref(school_class), "period": _span(period),
        "class_teacher": {"id": school_class.get("class_teacher_id"),
                          "full_name": _name(people, school_class.get("class_teacher_id"))},
        "movement": {k: fill_row.get(k, 0) for k in ("at_start", "came", "went", "at_end", "boys", "girls")},
        "movements": fill["movements"],
        "basis": progress["basis"], "progress": progress["summary"],
        "attendance": attendance_report["totals"], "corrections": attendance_report["corrections"],
        "excellent": excellent, "with_one_3": one_3, "failing": failing,
        "generated_at": _iso(generated_at),
    }


# --- R-R7 journal-keeping monitoring -----------------------------------------------------

def journal_monitoring(*, month: str, classes: list[dict], assignments: list[dict], lessons: list[dict],
                       mark_counts: dict, finals: list[dict], enrolments: list[dict], people: dict,
                       plans: list[dict], periods: dict, parent_links: list[dict], access: list[dict],
                       generated_at: dt.datetime) -> dict:
    """Мониторинг ведения журнала за месяц (R-R7). ``mark_counts``
    ``{(class_id, student_id): marks}`` counts the marks of the month.

    - lessons: recorded in the journal for days of the month; lessons
      transcribed from paper (``imported``) are counted apart and in none of
      the other lesson figures;
    - teachers taking part: of the teachers assigned to the classes, those
      who recorded at least one lesson of the month (a substitute counts for
      the lesson they gave);
    - students with no mark / exactly one mark in the month: of the students
      on the roster of classes that get marks (not grade 1, R-J4);
    - homework: lessons with homework of all lessons, in classes that get
      homework (not grade 1);
    - coverage: per plan (КТП) whose period overlaps the month, the lessons
      of its class and subject from the period's start to the month's end
      against its planned hours;
    - late entries (R-J5): lessons entered after their day (``late``) and of
      those after the allowed 3 days (``overdue``);
    - late final marks (R-F3): final marks posted in the month after the
      allowed days;
    - participation: parents of the students on the roster, and those
      students, who used the system in the month (any request).
    """
    first, last = month_span(month)
    class_of = {c["id"]: c for c in classes}
    in_month = [lesson for lesson in lessons if first <= lesson["date"] <= last and lesson["class_id"] in class_of]
    own = [lesson for lesson in in_month if not lesson.get("imported")]
    imported = [lesson for lesson in in_month if lesson.get("imported")]
    marked_class = {cid for cid, c in class_of.items() if (c.get("grade") or 0) != NO_MARKS_GRADE}
    active_users = {a["user_id"] for a in access if first <= a["day"] <= last and a["actions"] > 0}
    month_marks: Counter = Counter()
    for (class_id, student_id), count in mark_counts.items():
        if class_id in class_of:
            month_marks[student_id] += count

    rows, all_students, all_parents = [], set(), set()
    totals = Counter()
    for cid in sorted(class_of, key=lambda i: class_key(class_of[i])):
        c = class_of[cid]
        pupils = {e["student_id"] for e in enrolments if e["class_id"] == cid and on_roster(e, first, last)}
        parents = {link["parent_id"] for link in parent_links if link["student_id"] in pupils}
        all_students |= pupils
        all_parents |= parents
        lessons_c = [lesson for lesson in own if lesson["class_id"] == cid]
        counts = Counter(month_marks[s] for s in pupils) if cid in marked_class else Counter()
        with_hw = sum(1 for lesson in lessons_c if lesson.get("has_homework"))
        hw_base = len(lessons_c) if cid in marked_class else 0
        planned, given = _coverage([p for p in plans if p["class_id"] == cid], lessons, periods, first, last)
        row = {
            "class_id": cid, "class": c.get("name"), "lessons": len(lessons_c),
            "homework": with_hw if cid in marked_class else None,
            "homework_share": percent(with_hw, hw_base) if cid in marked_class else None,
            "late": sum(1 for lesson in lessons_c if lesson.get("late")),
            "overdue": sum(1 for lesson in lessons_c if lesson.get("overdue")),
            "imported": sum(1 for lesson in imported if lesson["class_id"] == cid),
            "students": len(pupils),
            "no_marks": counts.get(0, 0) if cid in marked_class else None,
            "one_mark": counts.get(1, 0) if cid in marked_class else None,
            "no_marks_share": percent(counts.get(0, 0), len(pupils)) if cid in marked_class else None,
            "one_mark_share": percent(counts.get(1, 0), len(pupils)) if cid in marked_class else None,
            "planned_hours": planned, "given_hours": given, "coverage": percent(given, planned),
            "parents": len(parents), "parents_active": len(parents & active_users),
            "parents_share": percent(len(parents & active_users), len(parents)),
            "students_active": len(pupils & active_users),
            "students_share": percent(len(pupils & active_users), len(pupils)),
        }
        rows.append(row)
        for k in ("lessons", "late", "overdue", "imported", "planned_hours", "given_hours"):
            totals[k] += row[k]
        if cid in marked_class:
            totals["marked_students"] += len(pupils)
            totals["no_marks"] += row["no_marks"]
            totals["one_mark"] += row["one_mark"]
            totals["homework"] += with_hw
            totals["homework_base"] += hw_base

    assigned = {a["teacher_id"] for a in assignments if a["class_id"] in class_of}
    by_teacher: dict = defaultdict(list)
    for lesson in own:
        by_teacher[lesson["teacher_id"]].append(lesson)
    late_finals = [f for f in finals if f.get("late") and f.get("posted_at") is not None
                   and first <= f["posted_at"].date() <= last and f["class_id"] in class_of]
    late_finals_of = Counter(f.get("teacher_id") for f in late_finals)
    teachers = []
    for teacher_id in sorted(assigned | set(by_teacher), key=lambda t: name_key(_name(people, t), t)):
        given = by_teacher.get(teacher_id, [])
        teachers.append({
            "teacher_id": teacher_id, "teacher": _name(people, teacher_id), "assigned": teacher_id in assigned,
            "lessons": len(given), "with_homework": sum(1 for lesson in given if lesson.get("has_homework")),
            "late": sum(1 for lesson in given if lesson.get("late")),
            "overdue": sum(1 for lesson in given if lesson.get("overdue")),
            "late_finals": late_finals_of.get(teacher_id, 0),
        })
    taking_part = len(assigned & set(by_teacher))
    summary = {
        "teachers": len(assigned), "teachers_taking_part": taking_part,
        "teachers_share": percent(taking_part, len(assigned)),
        "students": totals["marked_students"],
        "no_marks": totals["no_marks"], "no_marks_share": percent(totals["no_marks"], totals["marked_students"]),
        "one_mark": totals["one_mark"], "one_mark_share": percent(totals["one_mark"], totals["marked_students"]),
        "lessons": totals["lessons"], "homework": totals["homework"],
        "homework_share": percent(totals["homework"], totals["homework_base"]),
        "planned_hours": totals["planned_hours"], "given_hours": totals["given_hours"],
        "coverage": percent(totals["given_hours"], totals["planned_hours"]),
        "late": totals["late"], "late_share": percent(totals["late"], totals["lessons"]),
        "overdue": totals["overdue"], "late_finals": len(late_finals),
        "parents": len(all_parents), "parents_active": len(all_parents & active_users),
        "parents_share": percent(len(all_parents & active_users), len(all_parents)),
        "students_active": len(all_students & active_users),
        "students_share": percent(len(all_students & active_users), len(all_students)),
        "imported": len(imported),
        "imported_with_homework": sum(1 for lesson in imported if lesson.get("has_homework")),
    }
    return {"kind": "journal-monitoring", "month": month,
            "period": {"starts_on": _iso(first), "ends_on": _iso(last)},
            "summary": summary, "classes": rows, "teachers": teachers, "generated_at": _iso(generated_at)}


def _coverage(plans, lessons, periods, first, last) -> tuple[int, int]:
    """Planned hours of the plans whose period overlaps ``first..last`` and
    the lessons (imported ones too: they were given) of their class and
    subject from the period's start to ``last``."""
    planned = given = 0
    for plan in plans:
        period = periods.get(plan["period_id"])
        if period is None or period["ends_on"] < first or period["starts_on"] > last:
            continue
        until = min(last, period["ends_on"])
        planned += int(plan["hours"])
        given += sum(1 for lesson in lessons if lesson["class_id"] == plan["class_id"]
                     and lesson["subject_id"] == plan["subject_id"]
                     and period["starts_on"] <= lesson["date"] <= until)
    return planned, given


def _difference(value: float | None, base: float | None) -> float | None:
    if value is None or base is None:
        return None
    diff = Fraction(str(value)) - Fraction(str(base))
    return (1 if diff >= 0 else -1) * float(round_half_up(abs(diff)))


# --- R-R8 user activity ------------------------------------------------------------

def user_activity(*, month: str, people: dict, access: list[dict], classes: list[dict], enrolments: list[dict],
                  parent_links: list[dict], class_id: str | None = None, generated_at: dt.datetime) -> dict:
    """Активность пользователей за месяц: per user the days with any request,
    the logins and the requests (actions); per role (a user counts for each
    of their roles) the users, the active ones and their logins and actions;
    per class its students and their parents. With ``class_id`` only that
    class's students and their parents are shown."""
    first, last = month_span(month)
    class_of = {c["id"]: c for c in classes}
    student_class = {e["student_id"]: e["class_id"] for e in enrolments
                     if e["class_id"] in class_of and on_roster(e, first, last)}
    children: dict = defaultdict(set)
    for link in parent_links:
        children[link["parent_id"]].add(link["student_id"])

    def classes_of(user_id: str) -> set:
        found = {student_class[user_id]} if user_id in student_class else set()
        return found | {student_class[s] for s in children.get(user_id, ()) if s in student_class}

    if class_id is not None:
        scope = {u for u in people if classes_of(u) == {class_id} or class_id in classes_of(u)}
    else:
        scope = set(people)
    per_user: dict = defaultdict(lambda: {"days": 0, "logins": 0, "actions": 0})
    for a in access:
        if first <= a["day"] <= last and a["user_id"] in scope:
            u = per_user[a["user_id"]]
            u["days"] += 1
            u["logins"] += a["logins"]
            u["actions"] += a["actions"]
    users = []
    for user_id, counts in per_user.items():
        person = people.get(user_id) or {}
        users.append({"user_id": user_id, "full_name": person.get("full_name"), "roles": list(person.get("roles") or []),
                      "classes": sorted(class_of[c].get("name") or "" for c in classes_of(user_id)), **counts})
    users.sort(key=lambda u: name_key(u["full_name"], u["user_id"]))
    roles: dict = defaultdict(lambda: {"users": 0, "active": 0, "logins": 0, "actions": 0})
    for user_id in scope:
        for role in (people.get(user_id) or {}).get("roles") or []:
            r = roles[role]
            r["users"] += 1
            if user_id in per_user:
                r["active"] += 1
                r["logins"] += per_user[user_id]["logins"]
                r["actions"] += per_user[user_id]["actions"]
    by_class = []
    for cid in sorted(class_of, key=lambda i: class_key(class_of[i])):
        if class_id is not None and cid != class_id:
            continue
        pupils = {s for s, c in student_class.items() if c == cid}
        parents = {p for p, kids in children.items() if kids & pupils}
        active = [u for u in pupils | parents if u in per_user]
        by_class.append({"class_id": cid, "class": class_of[cid].get("name"), "students": len(pupils),
                         "students_active": len(pupils & set(per_user)), "parents": len(parents),
                         "parents_active": len(parents & set(per_user)),
                         "logins": sum(per_user[u]["logins"] for u in active),
                         "actions": sum(per_user[u]["actions"] for u in active)})
    return {"kind": "user-activity", "month": month, "period": {"starts_on": _iso(first), "ends_on": _iso(last)},
            "class": _class_ref(class_of.get(class_id)) if class_id else None,
            "users": users,
            "roles": [{"role": k, "title": LOGIN_ROLES_RU.get(k, k), **v} for k, v in sorted(roles.items())],
            "classes": by_class,
            "totals": {"users": len(scope), "active": len(per_user),
                       "logins": sum(u["logins"] for u in per_user.values()),
                       "actions": sum(u["actions"] for u in per_user.values())},
            "generated_at": _iso(generated_at)}


def week_span(day: dt.date) -> tuple[dt.date, dt.date]:
    """The ISO week (Monday..Sunday) that holds ``day``."""
    first = day - dt.timedelta(days=day.weekday())
    return first, first + dt.timedelta(days=6)


def parents_activity(*, school_class: dict, week: dt.date, enrolments: list[dict], parent_links: list[dict],
                     people: dict, access: list[dict]) -> dict:
    """Which parents of a class used the system in the ISO week of ``week``
    (R-A6, the class teacher's weekly view): every parent linked to a
    student on the class's roster that week, once however many of their
    children are in it, with those children, the days with any request,
    the logins, the requests (actions) and the last such day (None: none
    that week); sorted by name. Access rows outside the week are ignored."""
    first, last = week_span(week)
    pupils = {e["student_id"] for e in enrolments
              if e["class_id"] == school_class["id"] and on_roster(e, first, last)}
    children: dict = defaultdict(set)
    for link in parent_links:
        if link["student_id"] in pupils:
            children[link["parent_id"]].add(link["student_id"])
    days: dict = defaultdict(set)
    counts: dict = defaultdict(lambda: [0, 0])
    for a in access:
        if a["user_id"] in children and first <= a["day"] <= last:
            days[a["user_id"]].add(a["day"])
            counts[a["user_id"]][0] += a["logins"]
            counts[a["user_id"]][1] += a["actions"]
    parents = []
    for parent_id, kids in children.items():
        seen = days.get(parent_id, set())
        kids_rows = sorted(({"id": k, "full_name": _name(people, k)} for k in kids),
                           key=lambda k: name_key(k["full_name"], k["id"]))
        logins, actions = counts[parent_id] if parent_id in counts else (0, 0)
        parents.append({"parent_id": parent_id, "full_name": _name(people, parent_id), "children": kids_rows,
                        "days_active": len(seen), "logins": logins, "actions": actions,
                        "last_seen": _iso(max(seen)) if seen else None})
    parents.sort(key=lambda p: name_key(p["full_name"], p["parent_id"]))
    return {"class": _class_ref(school_class), "week": {"starts_on": _iso(first), "ends_on": _iso(last)},
            "parents": parents,
            "totals": {"parents": len(parents), "active": sum(1 for p in parents if p["days_active"])}}


# --- R-R9 teachers' analytics and forecast ---------------------------------------------

def predicted_mark(weighted_average) -> int | None:
    """R-F4: the final mark the current weighted average points to, the
    journal's rule (2 decimals half up, then half up; a 1 is raised to 2)."""
    if weighted_average is None:
        return None
    return max(2, min(5, mark_of(round_half_up(weighted_average))))


def forecast(*, period: dict, classes: list[dict], assignments: list[dict], people: dict, subjects: list[dict],
             marks: list[dict], school_marks: list[dict], generated_at: dt.datetime) -> dict:
    """Аналитика учителя и прогноз (R-R9, R-F4): per teacher, class and
    subject of ``classes`` (``{class, students}``; ``assignments`` say who
    teaches what, ``only_subjects`` on a class keeps a teacher's own) the
    distribution of the period's marks, their average against the school's
    average in the subject (all classes of ``school_marks``), the share of
    written works (R-F2 kinds), and the forecast of the final marks: each
    student's predicted mark (:func:`predicted_mark`) counted by value, with
    the pass rate and quality they would give (of the students on the
    roster)."""
    first, last = period["starts_on"], period["ends_on"]
    names = {s["id"]: s.get("name") for s in subjects}
    school_values: dict = defaultdict(list)
    for m in school_marks:
        if first <= m["date"] <= last:
            school_values[m["subject_id"]].append(int(m["value"]))
    marks_of_class: dict = defaultdict(list)
    for m in marks:
        marks_of_class[m["class_id"]].append(m)
    rows = []
    for item in sorted(classes, key=lambda i: class_key(i["class"])):
        c = item["class"]
        pupils = [s for s in item["students"] if on_roster(s, first, last)]
        on = {s["id"] for s in pupils}
        by_subject: dict = defaultdict(list)
        for m in marks_of_class.get(c["id"], ()):
            if m["student_id"] in on and first <= m["date"] <= last:
                by_subject[m["subject_id"]].append(m)
        teachers_of: dict = defaultdict(set)
        for a in assignments:
            if a["class_id"] == c["id"]:
                teachers_of[a["subject_id"]].add(a["teacher_id"])
        subject_ids = set(teachers_of) | set(by_subject)
        if item.get("only_subjects") is not None:
            subject_ids &= set(item["only_subjects"])
        for subject_id in subject_ids:
            subject_marks = by_subject.get(subject_id, [])
            values = [int(m["value"]) for m in subject_marks]
            dist = Counter(min(max(v, 2), 5) for v in values)
            per_student: dict = defaultdict(list)
            for m in subject_marks:
                per_student[m["student_id"]].append(m)
            predicted = Counter(predicted_mark(weighted_mean(ms)) for ms in per_student.values())
            average, school_average = _mean(values), _mean(school_values.get(subject_id, []))
            teacher_names = sorted(_name(people, t) or "" for t in teachers_of.get(subject_id, ()))
            rows.append({
                "class_id": c["id"], "class": c.get("name"), "subject_id": subject_id, "subject": names.get(subject_id),
                "teacher_ids": sorted(teachers_of.get(subject_id, ())), "teacher": ", ".join(n for n in teacher_names if n) or None,
                "marks": len(values), **{f"marks_{v}": dist.get(v, 0) for v in (5, 4, 3, 2)},
                "average": average, "school_average": school_average,
                "difference": _difference(average, school_average),
                "written_share": percent(sum(1 for m in subject_marks if m.get("kind") in WRITTEN_KINDS), len(values)),
                "students": len(pupils), "forecast_students": len(per_student),
                **{f"forecast_{v}": predicted.get(v, 0) for v in (5, 4, 3, 2)},
                "forecast_pass_rate": percent(sum(predicted.get(v, 0) for v in (3, 4, 5)), len(pupils)),
                "forecast_quality": percent(predicted.get(4, 0) + predicted.get(5, 0), len(pupils)),
            })
    class_by_id = {i["class"]["id"]: i["class"] for i in classes}
    rows.sort(key=lambda r: (name_key(r["teacher"], ""), class_key(class_by_id[r["class_id"]]),
                             name_key(r["subject"], r["subject_id"])))
    return {"kind": "forecast", "period": _span(period), "rows": rows, "generated_at": _iso(generated_at)}


__all__ = ["class_fill", "student_finals", "attendance", "attendance_sheet", "progress_sheet", "class_teacher",
           "journal_monitoring", "user_activity", "forecast", "FINAL_MARKS", "CURRENT_AVERAGES", "MIXED"]
