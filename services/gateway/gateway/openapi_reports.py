"""OpenAPI schemas of the reports' JSON answers (``GET /reports/{kind}``,
format=json): one schema per kind with the fields its builder in
services/reports (reports.domain.kinds) returns, all of them required;
``Report`` is the oneOf of them, told apart by ``kind``. Merged into
:mod:`gateway.openapi` by :func:`register`. Dates are ISO strings
(``YYYY-MM-DD``), moments ISO 8601 in UTC; shares are percent 0..100 with
one decimal, null when there is no whole; names are null when unknown."""
from __future__ import annotations

# (schema, kind, what it is) of every kind but progress (gateway.openapi's ProgressReport)
KIND_SCHEMAS = [
    ("ClassFillReport", "class-fill",
     "R-R1 class fill: per class on the first and last day, admitted, transferred, left, by sex; movements"),
    ("StudentFinalsReport", "student-finals", "R-R2 final marks per student, subject and period (and the year)"),
    ("AttendanceReport", "attendance",
     "R-R3 attendance per student: lessons, missed (excused/unexcused), lates, by week"),
    ("ClassTeacherReport", "class-teacher", "R-R4 the class teacher's report for a period"),
    ("ProgressSheetReport", "progress-sheet",
     "R-R6 progress summary sheet: students x subjects, each mark final or by the current average (source)"),
    ("AttendanceSheetReport", "attendance-sheet", "R-R6 attendance summary sheet: students x subjects, lessons missed"),
    ("JournalMonitoringReport", "journal-monitoring", "R-R7 monthly journal-keeping monitoring"),
    ("UserActivityReport", "user-activity", "R-R8 monthly user activity per user, role and class"),
    ("ForecastReport", "forecast",
     "R-R9 per teacher, class and subject: marks, averages against the school's, written works, forecast"),
]


def register(requests: dict, responses: dict, paths: dict) -> None:
    """Add the report schemas (called once by gateway.openapi, whose helpers
    are imported here lazily to avoid an import cycle)."""
    from gateway.openapi import DATE, ID, P, _op, _open, _path_id, _query, _ref

    def ints(*names: str) -> dict:
        return {n: INT for n in names}

    def shares(*names: str) -> dict:
        return {n: SHARE for n in names}

    def array(item: dict) -> dict:
        return {"type": "array", "items": item}

    STR, INT = {"type": "string"}, {"type": "integer"}
    TEXT, NUMBER = {"type": ["string", "null"]}, {"type": ["number", "null"]}
    SHARE = {"type": ["number", "null"], "description": "percent 0..100, null when there is no whole"}
    ISO_DAY = {"type": "string", "description": "YYYY-MM-DD"}
    MARK = {"type": ["integer", "null"]}
    named = _open({"id": STR, "name": TEXT})
    person = _open({"id": STR, "full_name": TEXT})
    span = _open({"id": TEXT, "name": TEXT, "kind": TEXT, "starts_on": ISO_DAY, "ends_on": ISO_DAY})
    month_span = _open({"starts_on": ISO_DAY, "ends_on": ISO_DAY})
    month = {"type": "string", "pattern": r"^\d{4}-\d{2}$", "description": "YYYY-MM"}
    basis = {"enum": ["final_marks", "current_averages"]}
    progress_summary = _open({"students": INT, "pass_rate": SHARE, "quality": SHARE,
                              **ints("excellent", "with_one_3", "failing", "without_marks")})
    fill_counts = ("at_start", "admitted", "transferred_in", "came", "transferred_out", "left", "graduated", "went",
                   "at_end", "boys", "girls", "sex_unknown")
    movement = _open({"date": ISO_DAY, "student_id": STR, "student": TEXT,
                      "movement": {"type": "string", "description": "прибыл, переведён, выбыл, выпущен"},
                      "from_class": TEXT, "to_class": TEXT, "order_no": TEXT})
    attendance_totals = _open({**ints("lessons", "missed", "excused", "unexcused", "late"), "missed_share": SHARE})

    fields = {
        "class-fill": {
            "period": span,
            "classes": array(_open({"class_id": STR, "class": TEXT, **ints(*fill_counts)})),
            "totals": _open(ints(*fill_counts)),
            "movements": array(movement)},
        "student-finals": {
            "class": named, "year": named,
            "periods": array({**named, "description": "the periods by date, then the year (name Год)"}),
            "subjects": array(named),
            "students": array(_open({
                "id": STR, "full_name": TEXT,
                "subjects": array(_open({"subject_id": STR, "finals": {
                    "type": "object", "additionalProperties": MARK,
                    "description": "period id (or the year's id) -> the final mark, null when none is posted"}})),
                "year_failing": {"type": "boolean"}, "left_on": {"type": ["string", "null"]}})),
            "distribution": array(_open({"period_id": STR, **ints("5", "4", "3", "2", "missing")}))},
        "attendance": {
            "class": named, "period": span,
            "students": array(_open({"id": STR, "full_name": TEXT,
                                     **attendance_totals["properties"]})),
            "totals": attendance_totals,
            "weeks": array(_open({"week_of": {**ISO_DAY, "description": "the week's Monday"},
                                  **ints("excused", "unexcused")})),
            "corrections": {**INT, "description": "attendance entries corrected after they were first recorded"}},
        "class-teacher": {
            "class": named, "period": span, "class_teacher": _open({"id": TEXT, "full_name": TEXT}),
            "movement": _open(ints("at_start", "came", "went", "at_end", "boys", "girls")),
            "movements": array(movement), "basis": basis, "progress": progress_summary,
            "attendance": attendance_totals, "corrections": INT,
            "excellent": array(person),
            "with_one_3": array(_open({**person["properties"], "subjects": array(TEXT)})),
            "failing": array(_open({**person["properties"], "subjects": array(TEXT)}))},
        "progress-sheet": {
            "period": span,
            "basis": {"enum": ["final_marks", "current_averages", "mixed"],
                      "description": "the classes' basis when they agree, else mixed"},
            "classes": array(_open({
                "class": named, "basis": basis,
                "finals": _open(ints("posted", "missing", "students_missing", "subjects_missing")),
                "subjects": array(named),
                "students": array(_open({
                    "id": STR, "full_name": TEXT, "average": NUMBER,
                    "subjects": array(_open({"subject_id": STR, "mark": MARK,
                                             "source": {"enum": ["final", "average", None]},
                                             "weighted_average": NUMBER}))})),
                "summary": progress_summary})),
            "summary": progress_summary},
        "attendance-sheet": {
            "class": named, "period": span, "subjects": array(named),
            "students": array(_open({"id": STR, "full_name": TEXT,
                                     "subjects": array(_open({"subject_id": STR,
                                                              **ints("lessons", "missed", "excused")})),
                                     **ints("missed", "excused", "lessons")})),
            "subject_totals": array(_open({"subject_id": STR, **ints("missed", "excused")})),
            "totals": _open(ints("missed", "excused", "lessons"))},
        "journal-monitoring": {
            "month": month, "period": month_span,
            "summary": _open({
                **ints("teachers", "teachers_taking_part"), **shares("teachers_share"),
                **ints("students", "no_marks"), **shares("no_marks_share"), **ints("one_mark"),
                **shares("one_mark_share"), **ints("lessons", "homework"), **shares("homework_share"),
                **ints("planned_hours", "given_hours"), **shares("coverage"), **ints("late"),
                **shares("late_share"), **ints("overdue", "late_finals", "parents", "parents_active"),
                **shares("parents_share"), **ints("students_active"), **shares("students_share"),
                **ints("imported", "imported_with_homework")}),
            "classes": array(_open({
                "class_id": STR, "class": TEXT, "lessons": INT,
                "homework": {"type": ["integer", "null"], "description": "null in a class without marks (grade 1)"},
                **shares("homework_share"), **ints("late", "overdue", "imported", "students"),
                "no_marks": {"type": ["integer", "null"]}, "one_mark": {"type": ["integer", "null"]},
                **shares("no_marks_share", "one_mark_share"), **ints("planned_hours", "given_hours"),
                **shares("coverage"), **ints("parents", "parents_active"), **shares("parents_share"),
                "students_active": INT, **shares("students_share")})),
            "teachers": array(_open({"teacher_id": STR, "teacher": TEXT, "assigned": {"type": "boolean"},
                                     **ints("lessons", "with_homework", "late", "overdue", "late_finals")}))},
        "user-activity": {
            "month": month, "period": month_span,
            "class": {"anyOf": [{"type": "null"}, named], "description": "the class asked for, or null: the school"},
            "users": array(_open({"user_id": STR, "full_name": TEXT, "roles": array(STR), "classes": array(STR),
                                  **ints("days", "logins", "actions")})),
            "roles": array(_open({"role": STR, "title": STR, **ints("users", "active", "logins", "actions")})),
            "classes": array(_open({"class_id": STR, "class": TEXT,
                                    **ints("students", "students_active", "parents", "parents_active", "logins",
                                           "actions")})),
            "totals": _open(ints("users", "active", "logins", "actions"))},
        "forecast": {
            "period": span,
            "rows": array(_open({
                "class_id": STR, "class": TEXT, "subject_id": STR, "subject": TEXT, "teacher_ids": array(STR),
                "teacher": TEXT, **ints("marks", "marks_5", "marks_4", "marks_3", "marks_2"),
                "average": NUMBER, "school_average": NUMBER,
                "difference": {**NUMBER, "description": "average - school_average"},
                "written_share": SHARE, **ints("students", "forecast_students", "forecast_5", "forecast_4",
                                               "forecast_3", "forecast_2"),
                **shares("forecast_pass_rate", "forecast_quality")}))},
    }
    for name, kind, text in KIND_SCHEMAS:
        responses[name] = {**_open({"kind": {"const": kind}, **fields[kind],
                                    "generated_at": {"type": "string", "description": "ISO 8601, UTC"},
                                    "document": _ref("ReportDocument")}), "description": text}
    responses["ParentsActivity"] = {**_open({
        "class": named, "week": _open({"starts_on": {**ISO_DAY, "description": "the week's Monday"},
                                       "ends_on": {**ISO_DAY, "description": "the week's Sunday"}}),
        "parents": array(_open({
            "parent_id": STR, "full_name": TEXT,
            "children": array({**person, "description": "their children on the class's roster that week"}),
            "days_active": {**INT, "description": "days (UTC) with any request"},
            "logins": INT, "actions": {**INT, "description": "requests"},
            "last_seen": {"type": ["string", "null"], "description": "YYYY-MM-DD; null: not seen that week"}})),
        "totals": _open({"parents": INT, "active": {**INT, "description": "parents seen that week"}})}),
        "description": "R-A6: the parents of a class and their use of the system in one ISO week, by name"}
    paths[f"{P}/classes/{{id}}/parents-activity"] = {"get": _op(
        "get_parents_activity", "Активность родителей класса за неделю", "reports",
        params=[_path_id(description="Class id"),
                _query("week", DATE, "Any day of the ISO week (Monday..Sunday); default: this week in the "
                                     "school's time zone")],
        ok=(200, "ParentsActivity", "Every parent of a student on the class's roster that week"),
        errors=(400, 403, 404),
        description="R-A6: the class teacher of the class and the administration; anyone else gets 404. "
                    "Each parent once, however many of their children are in the class; a parent who did "
                    "not come has zeros and last_seen null.")}
    responses["Report"] = {
        "oneOf": [_ref("ProgressReport")] + [_ref(name) for name, *_ in KIND_SCHEMAS],
        "description": "Any report kind as JSON (format=json), told apart by `kind`; rules per kind in "
                       "services/reports/README.md."}
