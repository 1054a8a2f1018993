"""OpenAPI paths and schemas of :mod:`gateway.api_journal_reads` (API.md
"Reads the portal and scripts need"), merged into :mod:`gateway.openapi`
by :func:`register`: a path that already has a write gains its GET."""
from __future__ import annotations

from kernel import limits

_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_NSTR = {"type": ["string", "null"]}


def register(requests: dict, responses: dict, paths: dict) -> None:
    """Add this module's schemas and paths (called once by gateway.openapi,
    whose helpers are imported here lazily to avoid an import cycle)."""
    from gateway.openapi import API_PREFIX as P, DATE, ID, _op, _open, _path_id, _query

    page = [_query("limit", {"type": "integer", "minimum": 1, "maximum": limits.LIST_LIMIT_MAX,
                             "default": limits.LIST_LIMIT}, "Items per page"),
            _query("cursor", {"type": "string", "minLength": 1, "maxLength": limits.LIST_CURSOR},
                   "next_cursor of the previous page (opaque)")]
    person = _open({"id": _STR, "full_name": _STR})
    named = _open({"id": _STR, "name": _STR})
    nullable_person = {"anyOf": [person, {"type": "null"}]}

    def listing(item: dict, extra: dict | None = None) -> dict:
        return _open({"items": {"type": "array", "items": item}, "next_cursor": _NSTR, **(extra or {})},
                     ["items", "next_cursor", *(extra or {})])

    lesson = {
        "id": _STR, "class_id": _STR, "subject": named, "date": _STR, "topic": _STR, "lesson_type": _STR,
        "work_type": _NSTR, "homework": _NSTR, "subgroup_id": _NSTR, "teacher": person,
        "substitute_for": nullable_person, "entered_at": _STR, "late": _BOOL, "overdue": _BOOL,
        "imported": _BOOL, "recorded_on": _NSTR}
    responses.update({
        "YearList": listing(_open({
            "id": _STR, "name": _STR, "starts_on": _STR, "ends_on": _STR, "closed": _BOOL,
            "periods": {"type": "array", "items": _open({"id": _STR, "name": _STR, "kind": _STR,
                                                         "starts_on": _STR, "ends_on": _STR})}})),
        "SubjectList": listing(_open({"id": _STR, "name": _STR, "emphasis": _BOOL})),
        "ClassList": listing(_open({"id": _STR, "name": _STR, "year_id": _STR, "grade": _INT, "letter": _STR,
                                    "class_teacher": nullable_person, "size": _INT})),
        "ClassStudentList": listing(_open({
            "id": _STR, "full_name": _STR,
            "sex": _NSTR, "birth_date": _NSTR,
            "subgroups": {"type": "array", "items": _open({"id": _STR, "name": _STR, "subject_id": _STR,
                                                           "subject": _STR})},
            "parents": {"type": "array", "items": _open({
                "id": _STR, "full_name": _STR, "consent": _BOOL,
                "consent_signed_on": {"type": ["string", "null"], "pattern": r"^\d{4}-\d{2}-\d{2}$",
                                      "description": "Date signed of the latest decision (given or withdrawn)"}})},
        }, ["id", "full_name", "subgroups"]), {"class": _open({"id": _STR, "name": _STR, "year_id": _STR})}),
        "MyClassList": listing(_open({
            "class": _open({"id": _STR, "name": _STR, "year_id": _STR}), "subject": named,
            "subgroup": {"anyOf": [named, {"type": "null"}]},
            "source": {"enum": ["assignment", "substitution", "timetable"]}})),
        "LessonList": listing(_open(lesson)),
        "LessonDetail": _open({
            **lesson, "class": named,
            "marks": {"type": "array", "items": _open({
                "id": _STR, "student": person, "value": _INT, "kind": _STR, "weight": _INT, "comment": _NSTR,
                "version": _INT, "author_id": _STR, "created_at": _STR})},
            "attendance": {"type": "array", "items": _open({
                "student": person, "status": _STR, "version": _INT, "updated_by": _STR, "updated_at": _STR})}}),
        "AttendanceHistory": listing(_open({
            "lesson": _open({"id": _STR, "date": _STR, "subject": named}), "version": _INT,
            "old": _NSTR, "new": _STR, "by": person, "at": _STR, "reason": _NSTR})),
        "LessonAttendanceHistory": listing(_open({
            "student": person, "version": _INT, "old": _NSTR, "new": _STR, "by": person, "at": _STR,
            "reason": _NSTR})),
        "FinalMarkList": listing(_open({
            "id": _STR, "period": _open({"id": _STR, "name": _STR, "kind": _STR}), "subject": named,
            "value": _INT, "late": _BOOL, "version": _INT, "entered_at": _STR}), {"year_id": _NSTR}),
    })
    reads = {
        f"{P}/years": ("get", _op(
            "list_years", "Учебные годы", "reads", params=page, ok=(200, "YearList", "Newest first"),
            errors=(400, 403), description="Staff. Every school year with its periods; closed: archived by its "
                                           "year-end order (R-S4).")),
        f"{P}/subjects": ("get", _op(
            "list_subjects", "Предметы", "reads", params=page, ok=(200, "SubjectList", "By name"),
            errors=(400, 403), description="Staff. emphasis: R-F2.")),
        f"{P}/classes": ("get", _op(
            "list_classes", "Классы", "reads", params=[_query("year_id", ID, "Only this year's classes"), *page],
            ok=(200, "ClassList", "By year, grade and letter"), errors=(400, 403, 404),
            description="Staff. size: the students in the class today. 404 for a year_id the school does "
                        "not have.")),
        f"{P}/classes/{{id}}/students": ("get", _op(
            "list_class_students", "Ученики класса", "reads", params=[_path_id(description="Class id"), *page],
            ok=(200, "ClassStudentList", "Today's students by name"), errors=(400, 403, 404),
            description="The administration, the class teacher, the class's teachers (anyone else: 404). "
                        "subgroups: R-S5. sex, birth_date and parents (with their consent, R-A4) only for the "
                        "class teacher and the administration.")),
        f"{P}/me/classes": ("get", _op(
            "list_my_classes", "Мои классы", "reads", params=page,
            ok=(200, "MyClassList", "By grade, letter and subject"), errors=(400, 403),
            description="A teacher's classes of open years, one item per class, subject and subgroup; "
                        "source: assignment, substitution (a lesson given in another's place, R-J6) or "
                        "timetable (R-S6), the first that applies.")),
        f"{P}/classes/{{id}}/lessons": ("get", _op(
            "list_class_lessons", "Уроки класса", "reads", params=[
                _path_id(description="Class id"), _query("subject_id", ID, "Only this subject"),
                _query("from", DATE, "First day"), _query("to", DATE, "Last day, inclusive"), *page],
            ok=(200, "LessonList", "By date and entry"), errors=(400, 403, 404),
            description="The administration, the class teacher, the class's teachers (of subject_id when "
                        "given); anyone else 404. Each lesson with who gave it, whom they replaced (R-J6), "
                        "late/overdue (R-J5) and imported (transcribed from the paper journal).")),
        f"{P}/lessons/{{id}}": ("get", _op(
            "get_lesson", "Урок", "reads", params=[_path_id(description="Lesson id")],
            ok=(200, "LessonDetail", "The lesson, its marks (not removed) and attendance"),
            errors=(400, 403, 404),
            description="Who sees the class's lessons, and whoever gave the lesson; anyone else 404.")),
        f"{P}/students/{{id}}/attendance-history": ("get", _op(
            "attendance_history", "История посещаемости ученика", "reads", params=[
                _path_id(description="Student id"), _query("from", DATE, "Lessons from this day"),
                _query("to", DATE, "Lessons to this day, inclusive"), *page],
            ok=(200, "AttendanceHistory", "By lesson date, lesson and version"), errors=(400, 403, 404),
            description="R-J7, the administration. Every version of the student's attendance: who set it "
                        "(by), when (at), the old and new status and the reason.")),
        f"{P}/lessons/{{id}}/attendance-history": ("get", _op(
            "lesson_attendance_history", "История посещаемости урока", "reads", params=[
                _path_id(description="Lesson id"), *page],
            ok=(200, "LessonAttendanceHistory", "By student name, student and version"), errors=(400, 403, 404),
            description="R-J7, the administration. Every version of the lesson's attendance: whose (student), "
                        "who set it (by), when (at), the old and new status and the reason; another school's "
                        "lesson 404.")),
        f"{P}/students/{{id}}/final-marks": ("get", _op(
            "student_final_marks", "Итоговые отметки ученика", "reads", params=[
                _path_id(description="Student id"),
                _query("year_id", ID, "Default: the year of the student's class today, else of their latest"),
                *page],
            ok=(200, "FinalMarkList", "By period (the year last) and subject"), errors=(400, 404),
            description="R-F1. The student, their parents (with consent) and staff, as the diary; anyone "
                        "else 404. The current final mark of each period and subject (a corrected one "
                        "replaces the previous).")),
    }
    for path, (method, op) in reads.items():
        paths.setdefault(path, {})[method] = op
    # the diary carries the year's final marks and the class's timetable (R-F1, R-S6), the
    # forecast its subjects' names: fields added to schemas of gateway.openapi / openapi_journal_marks
    diary = responses["Diary"]
    diary["properties"]["finals"] = {"type": "array", "items": _open({
        "period": _open({"id": _STR, "name": _STR, "kind": _STR}), "subject": named, "value": _INT,
        "late": _BOOL})}
    diary["properties"]["timetable"] = {"type": "array", "items": _open({
        "weekday": _INT, "number": _INT, "subject_id": _STR, "subject": _STR, "teacher_id": _STR,
        "teacher": _STR, "room": _NSTR})}
    diary["required"] = [*diary["required"], "finals", "timetable"]
    forecast = responses["Forecast"]["items"]
    forecast["properties"]["subject"] = {**_STR, "description": "The subject's name"}
