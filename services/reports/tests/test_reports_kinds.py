"""Unit tests of the report builders (reports.domain.kinds) and their
printable layouts (reports.domain.layouts) on small data whose numbers are
computed by hand in the comments."""
from __future__ import annotations

import datetime as dt
from datetime import date as D

import pytest

from reports import domain
from reports.domain import kinds, layouts

GENERATED = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)
Q1 = {"id": "q1", "name": "1 четверть", "kind": "quarter", "year_id": "y", "starts_on": D(2026, 9, 1),
      "ends_on": D(2026, 10, 26)}
C5A = {"id": "c5a", "name": "5А", "grade": 5, "letter": "А", "year_id": "y", "class_teacher_id": "ct"}
C5B = {"id": "c5b", "name": "5Б", "grade": 5, "letter": "Б", "year_id": "y", "class_teacher_id": None}
C1A = {"id": "c1a", "name": "1А", "grade": 1, "letter": "А", "year_id": "y", "class_teacher_id": None}
SUBJECTS = [{"id": "m", "name": "Математика", "assigned": True}, {"id": "r", "name": "Русский язык", "assigned": True}]


def mark(student, subject, day, value, weight=1, class_id="c5a", kind="oral"):
    return {"student_id": student, "subject_id": subject, "class_id": class_id, "date": day, "value": value,
            "weight": weight, "kind": kind}


def pupil(sid, name, enrolled_on=D(2026, 9, 1), left_on=None):
    return {"id": sid, "full_name": name, "enrolled_on": enrolled_on, "left_on": left_on}


# R-R5 -----------------------------------------------------------------------------
# 5А, 1 четверть, Математика (m) and Русский язык (r):
#   Алексеева: m 5 (weight 1), 4 (weight 2): (5 + 8) / 3 = 4.33 -> 4; r 5, 5 -> 5.
#              counted {4, 5}: passing, quality, not excellent.
#   Борисов:   m 3, 4 -> 3.50 -> 4 (half up); r 2, 3 -> 2.50 -> 3 (half up).
#              final m = 5 is posted -> counted {5, 3}: passing, exactly one 3.
#   Васильев:  m 2, 2, 3 -> 2.33 -> 2; r 4 -> counted {2, 4}: failing.
#   Гусева:    no marks: without marks only.
# students 4; passing = Алексеева, Борисов = 2/4 = 50.0 %; quality = Алексеева
# = 1/4 = 25.0 %; excellent 0; with one 3: 1; failing 1; without marks 1.
# Basis: a final mark of the period counts -> final_marks; finals posted 1 of
# the 4 x 2 = 8 cells, missing 7, 4 students and 2 subjects with a gap.
CLASS_5A_MARKS = [
    mark("a", "m", D(2026, 9, 2), 5), mark("a", "m", D(2026, 9, 9), 4, weight=2),
    mark("a", "r", D(2026, 9, 3), 5), mark("a", "r", D(2026, 9, 10), 5),
    mark("b", "m", D(2026, 9, 2), 3), mark("b", "m", D(2026, 9, 9), 4),
    mark("b", "r", D(2026, 9, 3), 2), mark("b", "r", D(2026, 9, 10), 3),
    mark("v", "m", D(2026, 9, 2), 2), mark("v", "m", D(2026, 9, 9), 2), mark("v", "m", D(2026, 9, 16), 3),
    mark("v", "r", D(2026, 9, 3), 4),
    mark("a", "m", D(2026, 10, 27), 2),  # after the quarter: not counted
]
CLASS_5A_PUPILS = [pupil("v", "Васильев Олег"), pupil("a", "Алексеева Мария"), pupil("g", "Гусева Яна"),
                   pupil("b", "Борисов Илья")]
CLASS_5A_FINALS = [{"student_id": "b", "subject_id": "m", "value": 5}]


def test_progress_hand_computed_R_R5():
    report = domain.progress_report(school_class=C5A, period=Q1, subjects=SUBJECTS, students=CLASS_5A_PUPILS,
                                    marks=CLASS_5A_MARKS, finals=CLASS_5A_FINALS, generated_at=GENERATED)
    rows = {r["full_name"]: {c["subject_id"]: (c["weighted_average"], c["rounded"], c["final"], c["counted"])
                             for c in r["subjects"]} for r in report["students"]}
    assert rows["Алексеева Мария"] == {"m": (4.33, 4, None, 4), "r": (5.0, 5, None, 5)}
    assert rows["Борисов Илья"] == {"m": (3.5, 4, 5, 5), "r": (2.5, 3, None, 3)}
    assert rows["Васильев Олег"] == {"m": (2.33, 2, None, 2), "r": (4.0, 4, None, 4)}
    assert rows["Гусева Яна"] == {"m": (None, None, None, None), "r": (None, None, None, None)}
    assert report["basis"] == "final_marks"
    assert report["summary"] == {"students": 4, "pass_rate": 50.0, "quality": 25.0, "excellent": 0,
                                 "with_one_3": 1, "failing": 1, "without_marks": 1}
    assert report["finals"] == {"posted": 1, "missing": 7, "students_missing": 4, "subjects_missing": 2}
    doc = layouts.with_document(report, school="Школа №1")["document"]
    assert_document(doc)
    grid = doc["sections"][0]["table"]["rows"]
    assert [(r["student"], r["m"], r["r"]) for r in grid] == [
        ("Алексеева Мария", 4, 5), ("Борисов Илья", 5, 3), ("Васильев Олег", 2, 4), ("Гусева Яна", None, None)]
    assert doc["signatures"] == ["Классный руководитель", "Заместитель директора по УВР"]


def test_the_date_of_printing_is_local_time_and_generated_at_stays_utc():
    """09:00 UTC is 12:00 in Moscow: the paper says 12:00, the JSON keeps UTC."""
    import io
    from zoneinfo import ZoneInfo

    from pypdf import PdfReader

    from reports.render import render

    report = domain.progress_report(school_class=C5A, period=Q1, subjects=SUBJECTS, students=CLASS_5A_PUPILS,
                                    marks=CLASS_5A_MARKS, finals=CLASS_5A_FINALS, generated_at=GENERATED)
    local = layouts.with_document(report, school="Школа", tz=ZoneInfo("Europe/Moscow"))
    assert local["generated_at"] == "2026-11-02T09:00:00+00:00"
    assert local["document"]["header"]["printed_at"] == "2026-11-02T12:00:00+03:00"
    text = PdfReader(io.BytesIO(render(local, "pdf"))).pages[0].extract_text()
    assert "02.11.2026 12:00" in text and "09:00" not in text
    vladivostok = layouts.with_document(report, school="Школа", tz=ZoneInfo("Asia/Vladivostok"))
    assert vladivostok["document"]["header"]["printed_at"] == "2026-11-02T19:00:00+10:00"


# R-R6 progress sheet ------------------------------------------------------------------
# 5А as above. 5Б: Дмитриев m 5, 5 -> 5; r 5 -> 5; no final marks in 5Б, so
# its basis is current_averages and the sheet's basis is "mixed".
# Cells say where the mark comes from: Борисов m = 5 "final", r = 3 "average".
# School: students 5; passing Алексеева, Борисов, Дмитриев = 3/5 = 60.0 %;
# quality Алексеева, Дмитриев = 2/5 = 40.0 %; excellent Дмитриев = 1;
# with one 3: Борисов = 1; failing Васильев = 1; without marks Гусева = 1.
def sheet_classes():
    return [
        {"class": C5B, "subjects": SUBJECTS, "students": [pupil("d", "Дмитриев Лев")],
         "marks": [mark("d", "m", D(2026, 9, 2), 5, class_id="c5b"), mark("d", "m", D(2026, 9, 9), 5, class_id="c5b"),
                   mark("d", "r", D(2026, 9, 3), 5, class_id="c5b")], "finals": []},
        {"class": C5A, "subjects": SUBJECTS, "students": CLASS_5A_PUPILS, "marks": CLASS_5A_MARKS,
         "finals": CLASS_5A_FINALS},
    ]


def test_progress_sheet_hand_computed_R_R6():
    report = kinds.progress_sheet(period=Q1, classes=sheet_classes(), generated_at=GENERATED)
    assert [c["class"]["name"] for c in report["classes"]] == ["5А", "5Б"]
    assert [c["basis"] for c in report["classes"]] == ["final_marks", "current_averages"]
    assert report["basis"] == "mixed"
    borisov = next(s for s in report["classes"][0]["students"] if s["full_name"] == "Борисов Илья")
    assert [(c["subject_id"], c["mark"], c["source"]) for c in borisov["subjects"]] == [
        ("m", 5, "final"), ("r", 3, "average")]
    assert report["summary"] == {"students": 5, "pass_rate": 60.0, "quality": 40.0, "excellent": 1,
                                 "with_one_3": 1, "failing": 1, "without_marks": 1}
    doc = layouts.with_document(report, school="Школа")["document"]
    assert_document(doc)
    assert doc["orientation"] == "landscape"
    assert doc["sections"][-1]["table"]["totals"]["pass_rate"] == 60.0


def test_progress_sheet_of_a_teacher_keeps_their_subjects():
    # Only m for 5А: Алексеева 4, Борисов 5 (final), Васильев 2, Гусева none:
    # passing 2/4 = 50.0, quality 2/4 = 50.0 (4 and 5), excellent Борисов 1.
    item = sheet_classes()[1]
    report = kinds.progress_sheet(period=Q1, classes=[{**item, "only_subjects": {"m"}}], generated_at=GENERATED)
    [c] = report["classes"]
    assert [s["id"] for s in c["subjects"]] == ["m"]
    assert c["summary"] == {"students": 4, "pass_rate": 50.0, "quality": 50.0, "excellent": 1, "with_one_3": 0,
                            "failing": 1, "without_marks": 1}


# R-R6 attendance sheet ----------------------------------------------------------------
# Lessons: L1 m 2 Sep, L2 m 3 Sep, L3 r 4 Sep; students А and Б.
# А: absent at L1 (unexcused), ill at L3 (excused) -> m 1, r 1, total 2, excused 1.
# Б: excused at L2, late at L3 (present) -> m 1, r 0, total 1, excused 1.
# Subject totals m 2, r 1; all 3 missed, 2 excused; 2 students x 3 lessons = 6.
LESSONS = [{"id": "L1", "class_id": "c5a", "subject_id": "m", "date": D(2026, 9, 2)},
           {"id": "L2", "class_id": "c5a", "subject_id": "m", "date": D(2026, 9, 3)},
           {"id": "L3", "class_id": "c5a", "subject_id": "r", "date": D(2026, 9, 4)}]
ATTENDANCE = [{"lesson_id": "L1", "student_id": "a", "status": "absent"},
              {"lesson_id": "L3", "student_id": "a", "status": "ill"},
              {"lesson_id": "L2", "student_id": "b", "status": "excused"},
              {"lesson_id": "L3", "student_id": "b", "status": "late"}]
ENROLMENTS = [{"class_id": "c5a", "student_id": "a", "enrolled_on": D(2026, 9, 1)},
              {"class_id": "c5a", "student_id": "b", "enrolled_on": D(2026, 9, 1)}]
PEOPLE = {"a": {"full_name": "Алексеева Мария", "sex": "female"}, "b": {"full_name": "Борисов Илья", "sex": "male"}}


def test_attendance_sheet_hand_computed_R_R6():
    report = kinds.attendance_sheet(school_class=C5A, period=Q1, enrolments=ENROLMENTS, people=PEOPLE,
                                    subjects=SUBJECTS, lessons=LESSONS, attendance=ATTENDANCE, generated_at=GENERATED)
    cells = {r["full_name"]: [(c["subject_id"], c["missed"], c["excused"]) for c in r["subjects"]]
             for r in report["students"]}
    assert cells == {"Алексеева Мария": [("m", 1, 0), ("r", 1, 1)], "Борисов Илья": [("m", 1, 1), ("r", 0, 0)]}
    assert report["subject_totals"] == [{"subject_id": "m", "missed": 2, "excused": 1},
                                        {"subject_id": "r", "missed": 1, "excused": 1}]
    assert report["totals"] == {"missed": 3, "excused": 2, "lessons": 6}
    doc = layouts.with_document(report, school="Школа")["document"]
    assert_document(doc)
    assert doc["sections"][0]["table"]["totals"] == {"n": None, "student": "Итого", "m": 2, "r": 1, "missed": 3,
                                                     "excused": 2}


def test_attendance_report_R_R3():
    # А: 3 lessons, missed 2 (1 unexcused, 1 excused): 66.7 %; Б: 3 lessons,
    # missed 1 (excused), late 1: 33.3 %. Weeks: 31 Aug (L1..L3) has 1 + 2.
    report = kinds.attendance(school_class=C5A, period=Q1, enrolments=ENROLMENTS, people=PEOPLE, lessons=LESSONS,
                              attendance=ATTENDANCE, corrections=[{"student_id": "a", "date": D(2026, 9, 4)}],
                              generated_at=GENERATED)
    rows = {r["full_name"]: (r["lessons"], r["missed"], r["excused"], r["unexcused"], r["late"], r["missed_share"])
            for r in report["students"]}
    assert rows == {"Алексеева Мария": (3, 2, 1, 1, 0, 66.7), "Борисов Илья": (3, 1, 1, 0, 1, 33.3)}
    assert report["weeks"][0] == {"week_of": "2026-08-31", "excused": 2, "unexcused": 1}
    assert report["corrections"] == 1
    assert_document(layouts.with_document(report, school="Школа")["document"])


# R-R7 journal monitoring ---------------------------------------------------------------
# October 2026; classes 5А (grade 5) and 1А (grade 1: no marks, no homework).
# Teachers assigned: T1 (5А m), T2 (5А r), T3 (1А reading).
# Lessons in October: L1 5А m T1 5 Oct homework; L2 5А m T1 6 Oct late,
# overdue; L4 1А T3 7 Oct; L5 5А r T2 8 Oct imported from paper (homework, late).
# Plus L0 5А m T1 15 Sep and L9 5А r T2 28 Sep (not in the month).
# - teachers taking part: T1, T3 (T2's only October lesson is imported) = 2/3 = 66.7 %
# - 5А roster in October: S1, S2 and S4 (enrolled 20 Oct); S3 left with
#   first day out 1 Oct is not on it. Marks in October: S1 2, S2 1, S4 0 ->
#   no marks 1/3 = 33.3 %, exactly one 1/3 = 33.3 %; 1А is not counted.
# - homework: 5А's own lessons L1, L2: 1/2 = 50.0 % (1А not counted)
# - coverage: 5А m plan for Q1 (1 Sep..26 Oct) 10 hours; lessons L0, L1, L2
#   = 3/10 = 30.0 %; 5А r plan for Q2 (from 5 Nov) does not overlap October.
# - late entries: L2 = 1 of the 3 own lessons (L1, L2, L4) = 33.3 %, overdue 1
# - late final marks: F1 (late, posted 29 Oct) = 1; F2 late but posted in
#   September and F3 on time are not counted
# - parents: of S1 (P1), S2 (P2), K1 (P4): P1 active in October = 1/3 = 33.3 %
#   (P3, S3's parent, is active but S3 is not on a roster; P2 was active in September)
# - students: S1, S2, S4, K1, K2; S1 and K1 active = 2/5 = 40.0 %
# - imported lessons counted apart: 1, with homework 1
def monitoring_input():
    Q2 = {"id": "q2", "name": "2 четверть", "starts_on": D(2026, 11, 5), "ends_on": D(2026, 12, 28)}

    def lesson(lid, cid, sid, tid, day, homework=False, late=False, overdue=False, imported=False):
        return {"id": lid, "class_id": cid, "subject_id": sid, "teacher_id": tid, "date": day,
                "has_homework": homework, "late": late, "overdue": overdue, "imported": imported}

    def enrol(cid, sid, on=D(2026, 9, 1), left=None):
        return {"class_id": cid, "student_id": sid, "enrolled_on": on, "left_on": left}

    def access(uid, day):
        return {"user_id": uid, "day": day, "actions": 3, "logins": 1}

    return dict(
        month="2026-10", classes=[C5A, C1A],
        assignments=[{"teacher_id": "T1", "class_id": "c5a", "subject_id": "m"},
                     {"teacher_id": "T2", "class_id": "c5a", "subject_id": "r"},
                     {"teacher_id": "T3", "class_id": "c1a", "subject_id": "read"}],
        lessons=[lesson("L0", "c5a", "m", "T1", D(2026, 9, 15)),
                 lesson("L9", "c5a", "r", "T2", D(2026, 9, 28), homework=True),
                 lesson("L1", "c5a", "m", "T1", D(2026, 10, 5), homework=True),
                 lesson("L2", "c5a", "m", "T1", D(2026, 10, 6), late=True, overdue=True),
                 lesson("L4", "c1a", "read", "T3", D(2026, 10, 7)),
                 lesson("L5", "c5a", "r", "T2", D(2026, 10, 8), homework=True, late=True, imported=True)],
        # October's marks per class and student (S1's September mark is not October's)
        mark_counts={("c5a", "S1"): 2, ("c5a", "S2"): 1},
        finals=[{"class_id": "c5a", "teacher_id": "T1", "late": True,
                 "posted_at": dt.datetime(2026, 10, 29, 10, tzinfo=dt.timezone.utc)},
                {"class_id": "c5a", "teacher_id": "T1", "late": True,
                 "posted_at": dt.datetime(2026, 9, 30, 10, tzinfo=dt.timezone.utc)},
                {"class_id": "c5a", "teacher_id": "T2", "late": False,
                 "posted_at": dt.datetime(2026, 10, 28, 10, tzinfo=dt.timezone.utc)}],
        enrolments=[enrol("c5a", "S1"), enrol("c5a", "S2"), enrol("c5a", "S3", left=D(2026, 10, 1)),
                    enrol("c5a", "S4", on=D(2026, 10, 20)), enrol("c1a", "K1"), enrol("c1a", "K2")],
        people={"T1": {"full_name": "Иванова Анна"}, "T2": {"full_name": "Петров Пётр"},
                "T3": {"full_name": "Сидорова Ольга"}},
        plans=[{"class_id": "c5a", "subject_id": "m", "period_id": "q1", "hours": 10},
               {"class_id": "c5a", "subject_id": "r", "period_id": "q2", "hours": 12}],
        periods={"q1": Q1, "q2": Q2},
        parent_links=[{"student_id": "S1", "parent_id": "P1"}, {"student_id": "S2", "parent_id": "P2"},
                      {"student_id": "S3", "parent_id": "P3"}, {"student_id": "K1", "parent_id": "P4"}],
        access=[access("P1", D(2026, 10, 3)), access("P3", D(2026, 10, 3)), access("P2", D(2026, 9, 30)),
                access("S1", D(2026, 10, 10)), access("K1", D(2026, 10, 31))],
        generated_at=GENERATED)


def test_journal_monitoring_hand_computed_R_R7():
    report = kinds.journal_monitoring(**monitoring_input())
    s = report["summary"]
    assert (s["teachers"], s["teachers_taking_part"], s["teachers_share"]) == (3, 2, 66.7)
    assert (s["students"], s["no_marks"], s["no_marks_share"], s["one_mark"], s["one_mark_share"]) == \
        (3, 1, 33.3, 1, 33.3)
    assert (s["lessons"], s["homework"], s["homework_share"]) == (3, 1, 50.0)
    assert (s["planned_hours"], s["given_hours"], s["coverage"]) == (10, 3, 30.0)
    assert (s["late"], s["late_share"], s["overdue"], s["late_finals"]) == (1, 33.3, 1, 1)
    assert (s["parents"], s["parents_active"], s["parents_share"]) == (3, 1, 33.3)
    assert (s["students_active"], s["students_share"]) == (2, 40.0)
    assert (s["imported"], s["imported_with_homework"]) == (1, 1)
    by_class = {r["class"]: r for r in report["classes"]}
    assert [r["class"] for r in report["classes"]] == ["1А", "5А"]
    assert by_class["1А"]["no_marks"] is None and by_class["1А"]["homework_share"] is None
    assert (by_class["5А"]["lessons"], by_class["5А"]["imported"]) == (2, 1)
    teachers = {t["teacher"]: (t["lessons"], t["late"], t["late_finals"]) for t in report["teachers"]}
    assert teachers == {"Иванова Анна": (2, 1, 1), "Петров Пётр": (0, 0, 0), "Сидорова Ольга": (1, 0, 0)}
    doc = layouts.with_document(report, school="Школа")["document"]
    assert_document(doc)
    assert doc["header"]["period"] == "октябрь 2026"


# the other kinds ---------------------------------------------------------------------

def test_class_fill_counts_movement_R_R1():
    # 5А: a, b from 1 Sep (at start 2); c admitted 10 Sep; b transferred out
    # 1 Oct (to 5Б, where the same day is a transfer in, not an admission):
    # 5А at end 2 (a, c), 5Б at end 1 (b). Sexes: a f, c m; b m.
    enrolments = [
        {"class_id": "c5a", "student_id": "a", "enrolled_on": D(2026, 9, 1), "order_no": "1"},
        {"class_id": "c5a", "student_id": "b", "enrolled_on": D(2026, 9, 1), "order_no": "1",
         "left_on": D(2026, 10, 1), "left_reason": "transferred", "left_order_no": "7"},
        {"class_id": "c5a", "student_id": "c", "enrolled_on": D(2026, 9, 10), "order_no": "5-у"},
        {"class_id": "c5b", "student_id": "b", "enrolled_on": D(2026, 10, 1), "order_no": "7"}]
    movements = [{"kind": "transferred", "student_id": "b", "from_class_id": "c5a", "to_class_id": "c5b",
                  "order_no": "7", "on": D(2026, 10, 1)}]
    people = {"a": {"full_name": "А", "sex": "female"}, "b": {"full_name": "Б", "sex": "male"},
              "c": {"full_name": "В", "sex": "male"}}
    report = kinds.class_fill(classes=[C5B, C5A], enrolments=enrolments, people=people, movements=movements,
                              period=Q1, generated_at=GENERATED)
    rows = {r["class"]: (r["at_start"], r["admitted"], r["transferred_in"], r["transferred_out"], r["at_end"],
                         r["boys"], r["girls"]) for r in report["classes"]}
    assert rows == {"5А": (2, 1, 0, 1, 2, 1, 1), "5Б": (0, 0, 1, 0, 1, 1, 0)}
    assert [(m["movement"], m["order_no"]) for m in report["movements"]] == [("прибыл", "5-у"), ("переведён", "7")]
    assert_document(layouts.with_document(report, school="Школа")["document"])


def _fill_of(sexes: dict) -> dict:
    """5А of the given students (id -> sex or None), all there all the quarter."""
    enrolments = [{"class_id": "c5a", "student_id": sid, "enrolled_on": D(2026, 9, 1)} for sid in sexes]
    people = {sid: {"full_name": sid.upper(), "sex": sex} for sid, sex in sexes.items()}
    report = kinds.class_fill(classes=[C5A], enrolments=enrolments, people=people, movements=[], period=Q1,
                              generated_at=GENERATED)
    return layouts.with_document(report, school="Школа")


def test_class_fill_without_sexes_charts_the_count_and_says_so():
    report = _fill_of({"a": None, "b": None, "c": None})
    assert (report["totals"]["boys"], report["totals"]["girls"], report["totals"]["sex_unknown"]) == (0, 0, 3)
    section = report["document"]["sections"][0]
    assert section["chart"]["series"] == [{"name": "Учащихся", "values": [3]}]
    assert section["note"] == "Пол не указан у 3 учащихся из 3; диаграмма по числу учащихся."
    assert "sex_unknown" in [c["key"] for c in section["table"]["columns"]]
    assert_document(report["document"])


def test_class_fill_with_some_sexes_shows_the_unknown_apart():
    report = _fill_of({"a": "female", "b": "male", "c": None})
    section = report["document"]["sections"][0]
    assert [(s["name"], s["values"]) for s in section["chart"]["series"]] == [
        ("Мальчики", [1]), ("Девочки", [1]), ("Пол не указан", [1])]
    assert section["note"] == "Пол не указан у 1 учащегося из 3."
    known = _fill_of({"a": "female", "b": "male"})["document"]["sections"][0]
    assert known["note"] is None and len(known["chart"]["series"]) == 2
    assert "sex_unknown" not in [c["key"] for c in known["table"]["columns"]]
    assert _fill_of({})["document"]["sections"][0]["chart"] is None


def test_student_finals_and_class_teacher_and_forecast_have_documents():
    year = {"id": "y", "name": "2026/2027", "starts_on": D(2026, 9, 1), "ends_on": D(2027, 5, 31)}
    finals = [{"student_id": "a", "subject_id": "m", "period_id": "q1", "value": 5},
              {"student_id": "a", "subject_id": "m", "period_id": "y", "value": 4}]
    enrol = [{"class_id": "c5a", "student_id": s["id"], "enrolled_on": D(2026, 9, 1)} for s in CLASS_5A_PUPILS]
    people = {s["id"]: {"full_name": s["full_name"]} for s in CLASS_5A_PUPILS}
    report = kinds.student_finals(school_class=C5A, year=year, periods=[Q1], subjects=SUBJECTS, enrolments=enrol,
                                  people=people, finals=finals, generated_at=GENERATED)
    alekseeva = report["students"][0]
    assert alekseeva["subjects"][0]["finals"] == {"q1": 5, "y": 4}
    assert report["distribution"][0] == {"period_id": "q1", "5": 1, "4": 0, "3": 0, "2": 0, "missing": 7}
    assert_document(layouts.with_document(report, school="Школа")["document"])

    progress = domain.progress_report(school_class=C5A, period=Q1, subjects=SUBJECTS, students=CLASS_5A_PUPILS,
                                      marks=CLASS_5A_MARKS, finals=CLASS_5A_FINALS, generated_at=GENERATED)
    att = kinds.attendance(school_class=C5A, period=Q1, enrolments=enrol, people=people, lessons=[], attendance=[],
                           corrections=[], generated_at=GENERATED)
    fill = kinds.class_fill(classes=[C5A], enrolments=enrol, people=people, movements=[], period=Q1,
                            generated_at=GENERATED)
    ct = kinds.class_teacher(school_class=C5A, period=Q1, progress=progress, attendance_report=att, fill=fill,
                             people=people, generated_at=GENERATED)
    assert [f["full_name"] for f in ct["failing"]] == ["Васильев Олег"]
    assert ct["with_one_3"] == [{"id": "b", "full_name": "Борисов Илья", "subjects": ["Русский язык"]}]
    assert ct["movement"]["at_end"] == 4
    assert_document(layouts.with_document(ct, school="Школа")["document"])

    # forecast, Математика in 5А: marks 5 4 3 4 2 2 3 -> 5:1 4:2 3:2 2:2,
    # average 23/7 = 3.29; school (5А and 5Б's 5, 5) 33/9 = 3.67; -0.38.
    # written: none. Forecast: Алексеева 4, Борисов 4, Васильев 2 ->
    # pass rate 2/4 = 50.0, quality 2/4 = 50.0 (Гусева has no marks).
    fc = kinds.forecast(period=Q1, classes=[{"class": C5A, "students": CLASS_5A_PUPILS, "only_subjects": {"m"}}],
                        assignments=[{"teacher_id": "T1", "class_id": "c5a", "subject_id": "m"}],
                        people={"T1": {"full_name": "Иванова Анна"}}, subjects=SUBJECTS, marks=CLASS_5A_MARKS,
                        school_marks=CLASS_5A_MARKS + [mark("d", "m", D(2026, 9, 2), 5, class_id="c5b"),
                                                       mark("d", "m", D(2026, 9, 9), 5, class_id="c5b")],
                        generated_at=GENERATED)
    [row] = fc["rows"]
    assert (row["marks"], row["marks_5"], row["marks_4"], row["marks_3"], row["marks_2"]) == (7, 1, 2, 2, 2)
    assert (row["average"], row["school_average"], row["difference"]) == (3.29, 3.67, -0.38)
    assert (row["forecast_4"], row["forecast_2"], row["forecast_pass_rate"], row["forecast_quality"]) == \
        (2, 1, 50.0, 50.0)
    assert row["teacher"] == "Иванова Анна"
    assert_document(layouts.with_document(fc, school="Школа")["document"])


def test_user_activity_R_R8():
    # October: P1 (parent of S1 in 5А) 2 days, 2 logins, 6 actions; S1 1 day;
    # the teacher T1 1 day. Roles: parent 1 user active, student 1, teacher 1.
    people = {"P1": {"full_name": "Родитель", "roles": ["parent"]}, "S1": {"full_name": "Ученик", "roles": ["student"]},
              "T1": {"full_name": "Учитель", "roles": ["teacher"]}}
    access = [{"user_id": "P1", "day": D(2026, 10, 1), "actions": 3, "logins": 1},
              {"user_id": "P1", "day": D(2026, 10, 2), "actions": 3, "logins": 1},
              {"user_id": "S1", "day": D(2026, 10, 2), "actions": 5, "logins": 1},
              {"user_id": "T1", "day": D(2026, 10, 2), "actions": 9, "logins": 0},
              {"user_id": "T1", "day": D(2026, 11, 2), "actions": 9, "logins": 1}]
    args = dict(month="2026-10", people=people, access=access, classes=[C5A],
                enrolments=[{"class_id": "c5a", "student_id": "S1", "enrolled_on": D(2026, 9, 1)}],
                parent_links=[{"student_id": "S1", "parent_id": "P1"}], generated_at=GENERATED)
    report = kinds.user_activity(**args)
    assert {u["full_name"]: (u["days"], u["logins"], u["actions"], u["classes"]) for u in report["users"]} == {
        "Родитель": (2, 2, 6, ["5А"]), "Ученик": (1, 1, 5, ["5А"]), "Учитель": (1, 0, 9, [])}
    assert report["classes"] == [{"class_id": "c5a", "class": "5А", "students": 1, "students_active": 1,
                                  "parents": 1, "parents_active": 1, "logins": 3, "actions": 11}]
    assert report["totals"] == {"users": 3, "active": 3, "logins": 3, "actions": 20}
    of_class = kinds.user_activity(**args, class_id="c5a")
    assert {u["full_name"] for u in of_class["users"]} == {"Родитель", "Ученик"}
    assert_document(layouts.with_document(report, school="Школа")["document"])



def test_parents_activity_R_A6_one_week_of_a_class():
    # week of Wed 2026-10-07: Mon 10-05 .. Sun 10-11. On 5А's roster: S1, S2
    # (children of P1), S3 (of P2, who never came), S4 left on 10-05 (the
    # first day out: off the roster, so P4 is not shown); S5 is in 5Б (P5).
    people = {"P1": {"full_name": "Яковлева Анна"}, "P2": {"full_name": "Борисов Олег"},
              "P4": {"full_name": "Гусев Иван"}, "P5": {"full_name": "Петров Пётр"},
              "S1": {"full_name": "Яковлев Илья"}, "S2": {"full_name": "Яковлева Ева"},
              "S3": {"full_name": "Борисова Вера"}, "S4": {"full_name": "Гусев Лев"}}
    enrolments = [{"class_id": "c5a", "student_id": s, "enrolled_on": D(2026, 9, 1)} for s in ("S1", "S2", "S3")]
    enrolments += [{"class_id": "c5a", "student_id": "S4", "enrolled_on": D(2026, 9, 1), "left_on": D(2026, 10, 5)},
                   {"class_id": "c5b", "student_id": "S5", "enrolled_on": D(2026, 9, 1)}]
    links = [{"student_id": "S1", "parent_id": "P1"}, {"student_id": "S2", "parent_id": "P1"},
             {"student_id": "S3", "parent_id": "P2"}, {"student_id": "S4", "parent_id": "P4"},
             {"student_id": "S5", "parent_id": "P5"}]
    # P1: Mon 1 login 4 actions, Thu 0 logins 2 actions (Sunday before and
    # Monday after ignored); P5 is another class's parent
    access = [{"user_id": "P1", "day": D(2026, 10, 5), "logins": 1, "actions": 4},
              {"user_id": "P1", "day": D(2026, 10, 8), "logins": 0, "actions": 2},
              {"user_id": "P1", "day": D(2026, 10, 4), "logins": 5, "actions": 50},
              {"user_id": "P1", "day": D(2026, 10, 12), "logins": 5, "actions": 50},
              {"user_id": "P5", "day": D(2026, 10, 6), "logins": 1, "actions": 1},
              {"user_id": "S1", "day": D(2026, 10, 6), "logins": 1, "actions": 1}]
    got = kinds.parents_activity(school_class=C5A, week=D(2026, 10, 7), enrolments=enrolments,
                                 parent_links=links, people=people, access=access)
    assert got["class"] == {"id": "c5a", "name": "5А"}
    assert got["week"] == {"starts_on": "2026-10-05", "ends_on": "2026-10-11"}
    assert got["parents"] == [
        {"parent_id": "P2", "full_name": "Борисов Олег", "children": [{"id": "S3", "full_name": "Борисова Вера"}],
         "days_active": 0, "logins": 0, "actions": 0, "last_seen": None},
        {"parent_id": "P1", "full_name": "Яковлева Анна",
         "children": [{"id": "S1", "full_name": "Яковлев Илья"}, {"id": "S2", "full_name": "Яковлева Ева"}],
         "days_active": 2, "logins": 1, "actions": 6, "last_seen": "2026-10-08"}]
    assert got["totals"] == {"parents": 2, "active": 1}
    # a Sunday and a Monday fall in their own ISO weeks
    assert kinds.week_span(D(2026, 10, 11)) == (D(2026, 10, 5), D(2026, 10, 11))
    assert kinds.week_span(D(2026, 10, 12)) == (D(2026, 10, 12), D(2026, 10, 18))
    # a class with no parents linked: empty, not an error
    empty = kinds.parents_activity(school_class=C5B, week=D(2026, 10, 7), enrolments=[], parent_links=links,
                                   people=people, access=access)
    assert empty["parents"] == [] and empty["totals"] == {"parents": 0, "active": 0}

# the document shape ------------------------------------------------------------------

def assert_document(doc: dict) -> None:
    """The one shape every renderer reads (services/reports/README.md)."""
    assert set(doc) == {"title", "subtitle", "orientation", "header", "sections", "signatures"}
    assert isinstance(doc["title"], str) and doc["title"]
    assert doc["orientation"] in ("portrait", "landscape")
    assert set(doc["header"]) == {"school", "class", "period", "printed_at"}
    dt.datetime.fromisoformat(doc["header"]["printed_at"])
    assert doc["sections"] and all(set(s) == {"title", "table", "chart", "note"} for s in doc["sections"])
    for s in doc["sections"]:
        if s["table"] is not None:
            keys = [c["key"] for c in s["table"]["columns"]]
            assert len(keys) == len(set(keys))
            assert all(c["type"] in ("text", "int", "number", "percent", "date") for c in s["table"]["columns"])
            assert all(list(r) == keys for r in s["table"]["rows"])
            for c in s["table"]["columns"]:
                for r in s["table"]["rows"]:
                    value = r[c["key"]]
                    if value is not None and c["type"] in ("int", "number", "percent"):
                        assert isinstance(value, (int, float)) and not isinstance(value, bool), (c, value)
                    if value is not None and c["type"] == "percent":
                        assert 0 <= value <= 100
                    if value is not None and c["type"] == "date":
                        dt.date.fromisoformat(value)
        if s["chart"] is not None:
            assert s["chart"]["type"] == "bar"
            assert all(len(x["values"]) == len(s["chart"]["labels"]) for x in s["chart"]["series"])
    assert all(isinstance(x, str) for x in doc["signatures"])


@pytest.mark.parametrize("kind", sorted(layouts.LAYOUTS))
def test_every_kind_has_a_layout(kind):
    assert kind in layouts.LAYOUTS


def test_progress_from_the_marks_sums_is_the_same_report():
    """A school's sheet gets its marks summed by the database: the same
    numbers as from the marks themselves (only the lists of marks go)."""
    sums: dict = {}
    for m in CLASS_5A_MARKS:
        if Q1["starts_on"] <= m["date"] <= Q1["ends_on"]:
            c, v, vw, w = sums.get((m["student_id"], m["subject_id"]), (0, 0, 0, 0))
            sums[(m["student_id"], m["subject_id"])] = (c + 1, v + m["value"], vw + m["value"] * m["weight"],
                                                        w + m["weight"])
    args = dict(school_class=C5A, period=Q1, subjects=SUBJECTS, students=CLASS_5A_PUPILS, finals=CLASS_5A_FINALS,
                generated_at=GENERATED)
    from_marks = domain.progress_report(marks=CLASS_5A_MARKS, **args)
    from_sums = domain.progress_report(sums=sums, **args)
    for row in from_marks["students"]:
        for cell in row["subjects"]:
            del cell["marks"]
    assert from_sums == from_marks


def test_sums_give_the_numbers_of_the_marks_themselves():
    """The whole-number path of a school's sheet against the exact one, on
    20,000 random cells (values 1..5, weights 1..5, 1..30 marks)."""
    import random
    rnd = random.Random(15)
    for _ in range(20000):
        marks = [{"value": rnd.randint(1, 5), "weight": rnd.randint(1, 5)} for _ in range(rnd.randint(1, 30))]
        exact = domain.subject_result(marks)
        del exact["marks"]
        assert domain.sums_result(len(marks), sum(m["value"] for m in marks),
                                  sum(m["value"] * m["weight"] for m in marks),
                                  sum(m["weight"] for m in marks)) == exact
