"""OpenAPI paths and schemas of the journal's corrections, attendance,
final marks, forecasts and the tamper check. Merged into
:mod:`gateway.openapi` (its PATHS and schema tables) when that module loads.

Every write here accepts ``Idempotency-Key`` (API.md): a retry with the same
key returns the first result and changes nothing; the same key with another
body is 409 IDEMPOTENCY_KEY_REUSED."""
from __future__ import annotations

from kernel import limits

from gateway.openapi import API_PREFIX, ID, _closed, _nullable, _op, _open, _path_id, _query

P = API_PREFIX
REASON = {"type": "string", "minLength": 1, "maxLength": limits.REASON}
STATUSES = ["present", "absent", "excused", "ill", "late"]

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._:-]{8,100}$"},
    "description": "A uuid per user action: a retry returns the first result and changes nothing.",
}

REQUEST_SCHEMAS = {
    "CorrectMarkRequest": _closed({
        "value": {"type": ["integer", "string"]},
        "kind": {"type": "string", "maxLength": 20},
        "weight": {"type": "integer"},
        "comment": _nullable({"type": "string", "maxLength": limits.MARK_COMMENT}),
        "reason": REASON,
    }, ["reason"], "R-J7: the reason is required; the old value stays in the history."),
    "RemoveMarkRequest": _closed({"reason": REASON}, ["reason"]),
    "AttendanceRequest": _closed({
        "entries": {"type": "array", "minItems": 1, "maxItems": limits.ATTENDANCE_ENTRIES, "items": _closed({
            "student_id": ID, "status": {"enum": STATUSES}}, ["student_id", "status"])},
        "reason": _nullable(REASON),
    }, ["entries"], "R-J2. Changing an existing entry is a correction: reason required (R-J7)."),
    "FinalMarkRequest": _closed({
        "student_id": ID, "subject_id": ID,
        "period_id": {**ID, "description": "A period's id, or the year's id for the year mark"},
        "value": {"type": ["integer", "string"]},
    }, ["student_id", "subject_id", "period_id", "value"]),
}

_VERSION = _open({
    "version": {"type": "integer"}, "value": {"type": "integer"}, "kind": {"type": "string"},
    "weight": {"type": "integer"}, "comment": {"type": ["string", "null"]}, "removed": {"type": "boolean"},
    "by": {"type": "string"}, "at": {"type": "string"}, "reason": {"type": ["string", "null"]},
    "hash": {"type": "string"},
    "by_name": {"type": ["string", "null"], "description": "Who made the version (in GET /marks/{id}/history)"}},
    ["version", "value", "by", "at", "reason"])
_EVIDENCE = _open({"marks_count": {"type": "integer"}, "required": {"type": "integer"},
                   "average": {"type": ["number", "null"]}, "weighted_average": {"type": ["number", "null"]},
                   "written_works": {"type": "integer"}, "emphasis": {"type": "boolean"},
                   "written_required": {"type": "integer",
                                        "description": "Written/lab/practical works the subject needs (R-F2)"}},
                  ["marks_count", "required", "average", "weighted_average"])

RESPONSE_SCHEMAS = {
    "MarkChange": _open({"id": {"type": "string"}, "value": {"type": "integer"}, "version": {"type": "integer"},
                         "old": {"type": "object"}, "removed": {"type": "boolean"}},
                        ["id", "value", "version", "old"]),
    "MarkHistory": {"type": "array", "items": _VERSION,
                    "description": "Oldest first. Header X-Chain-Verified: true|false (R-J7)."},
    "JournalVerification": _open({
        "ok": {"type": "boolean", "description": "Every mark and every attendance entry verifies"},
        "checked": {"type": "integer"}, "broken_count": {"type": "integer"},
        "broken": {"type": "array", "items": _open({"mark_id": {"type": "string"},
                                                    "problems": {"type": "array", "items": {"type": "string"}}})},
        "attendance": _open({
            "checked": {"type": "integer"}, "broken_count": {"type": "integer"},
            "broken": {"type": "array", "items": _open({
                "attendance_id": {"type": "string"}, "lesson_id": {"type": "string"},
                "student_id": {"type": "string"}, "problems": {"type": "array", "items": {"type": "string"}}})}}),
    }, ["ok", "checked", "broken_count", "broken"]),
    "Attendance": _open({"lesson_id": {"type": "string"}, "changed": {"type": "integer"},
                         "entries": {"type": "array", "items": _open({
                             "student_id": {"type": "string"}, "status": {"enum": STATUSES},
                             "version": {"type": "integer"}})}}),
    "FinalMark": _open({"id": {"type": "string"}, "evidence": _EVIDENCE,
                        "warnings": {"type": "array", "items": _open({"code": {"type": "string"},
                                                                      "message": {"type": "string"}})},
                        "late": {"type": "boolean"}}),
    "Forecast": {"type": "array", "items": _open({
        "subject_id": {"type": "string"}, "predicted": {"type": ["integer", "null"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1}, "marks_count": {"type": "integer"},
        "required": {"type": "integer"}, "emphasis": {"type": "boolean"}, "written_works": {"type": "integer"},
        "written_required": {"type": "integer"}}, ["subject_id", "predicted", "confidence"])},
    "ClassJournal": _open({
        "class_id": {"type": "string"}, "subject_id": {"type": "string"}, "period_id": {"type": "string"},
        "class_name": {"type": "string"}, "subject_name": {"type": ["string", "null"]},
        "year": {**_open({"id": {"type": "string"}, "name": {"type": "string"},
                          "periods": {"type": "array", "items": _open({
                              "id": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"},
                              "starts_on": {"type": "string", "format": "date"},
                              "ends_on": {"type": "string", "format": "date"}})}}),
                 "description": "The class's school year and its periods (the other periods the grid can show)"},
        "students": {"type": "array", "items": _open({"id": {"type": "string"}, "full_name": {"type": "string"}})},
        "lessons": {"type": "array", "items": _open({
            "id": {"type": "string"}, "date": {"type": "string"}, "topic": {"type": "string"},
            "teacher_id": {"type": "string"},
            "teacher": {**_open({"id": {"type": "string"}, "full_name": {"type": ["string", "null"]}}),
                        "description": "Who actually gave the lesson (the substitute, for a substitution)"},
            "substitute_for": {"type": ["object", "null"], "description": "R-J6: the teacher replaced, or null",
                               "properties": {"id": {"type": "string"},
                                              "full_name": {"type": ["string", "null"]}}},
            "late": {"type": "boolean"}, "overdue": {"type": "boolean"}})},
        "marks": {"type": "array", "items": _open({
            "id": {"type": "string"}, "lesson_id": {"type": "string"}, "student_id": {"type": "string"},
            "value": {"type": "integer"}, "version": {"type": "integer"}})},
        "attendance": {"type": "array", "items": _open({
            "lesson_id": {"type": "string"}, "student_id": {"type": "string"}, "status": {"enum": STATUSES}})},
        "finals": {"type": "array", "items": _open({
            "id": {"type": "string"}, "student_id": {"type": "string"}, "period_id": {"type": "string"},
            "value": {"type": "integer"}, "late": {"type": "boolean"}})},
        "at_risk": {"type": "array", "description": "R-F4: the students at risk in this subject and period, "
                                                    "as GET /classes/{id}/at-risk",
                    "items": _open({
                        "student_id": {"type": "string"},
                        "reasons": {"type": "array", "items": {"enum": ["LOW_FORECAST", "FEW_MARKS",
                                                                        "NO_WRITTEN_WORK"]}},
                        "predicted": {"type": ["integer", "null"]}, "marks_count": {"type": "integer"},
                        "required": {"type": "integer"}, "written_works": {"type": "integer"},
                        "written_required": {"type": "integer"}}, ["student_id", "reasons"])},
    }),
    "StudentsAtRisk": _open({"class_id": {"type": "string"}, "period_id": {"type": "string"},
                             "items": {"type": "array", "items": _open({
                                 "student_id": {"type": "string"}, "full_name": {"type": "string"},
                                 "subjects": {"type": "array", "items": {"type": "object"}}})}}),
}

_PERIOD = _query("period_id", ID, "A period's or the year's id (default: the period containing today)")

PATHS = {
    f"{P}/marks/{{id}}": {
        "patch": _op("correct_mark", "Исправить отметку", "journal", body="CorrectMarkRequest",
                     params=[_path_id(description="Mark id"), IDEMPOTENCY_KEY],
                     ok=(200, "MarkChange", "Corrected; the old value is kept"), errors=(400, 403, 404, 409, 422),
                     description="R-J7: the teacher of the lesson's class and subject (an assignment covering "
                                 "its subgroup) or the substitute who gave that lesson, the deputy, the director, "
                                 "the admin; not the author as such. 422 MARK_REMOVED, NOTHING_CHANGED, "
                                 "INVALID_MARK."),
        "delete": _op("remove_mark", "Удалить отметку", "journal", body="RemoveMarkRequest",
                      params=[_path_id(description="Mark id"), IDEMPOTENCY_KEY],
                      ok=(204, None, "Removed: a tombstone version, never a hard delete"),
                      errors=(400, 403, 404, 409, 422),
                      description="R-J7: who may correct the mark (PATCH) may remove it."),
    },
    f"{P}/marks/{{id}}/history": {"get": _op(
        "mark_history", "История отметки", "journal", params=[_path_id(description="Mark id")],
        ok=(200, "MarkHistory", "Every version: who, when, old and new, reason"), errors=(403, 404),
        description="Staff. Each version is chained by sha256 over its content and the previous hash.")},
    f"{P}/journal/verify": {"get": _op(
        "verify_journal", "Проверка целостности журнала", "journal",
        ok=(200, "JournalVerification", "Every mark's and attendance entry's chain and current row checked"),
        errors=(403,),
        description="Admin, deputy, director: finds marks and attendance edited behind the service's back "
                    "(R-J7). Marks at the top level, attendance in `attendance`; problems: `chain`, "
                    "`no_versions` or the fields of the current row that disagree with its last version.")},
    f"{P}/lessons/{{id}}/attendance": {"put": _op(
        "record_attendance", "Посещаемость урока", "journal", body="AttendanceRequest",
        params=[_path_id(description="Lesson id"), IDEMPOTENCY_KEY], ok=(200, "Attendance", "Recorded"),
        errors=(400, 403, 404, 409, 422),
        description="Assigned teacher, class teacher, admin. Corrections need a reason; the lesson's teacher "
                    "corrects within 3 days, the class teacher during the current and the previous week "
                    "(422 CORRECTION_CLOSED).")},
    f"{P}/final-marks": {"put": _op(
        "post_final_mark", "Итоговая отметка", "journal", body="FinalMarkRequest", params=[IDEMPOTENCY_KEY],
        ok=(200, "FinalMark", "Posted with its evidence; warnings when thin (R-F2); late after 2 days (R-F3)"),
        errors=(400, 403, 404, 409, 422))},
    f"{P}/students/{{id}}/forecast": {"get": _op(
        "get_forecast", "Прогноз итоговых отметок", "journal",
        params=[_path_id(description="Student id"), _PERIOD],
        ok=(200, "Forecast", "Per subject: predicted mark and confidence 0..1 (R-F4)"), errors=(400, 404),
        description="The student, their parents and staff (as the diary).")},
    f"{P}/classes/{{id}}/journal": {"get": _op(
        "get_class_journal", "Журнал класса", "journal",
        params=[_path_id(description="Class id"), _query("subject_id", ID, "The subject", required=True), _PERIOD],
        ok=(200, "ClassJournal", "The grid: students, lessons, marks, attendance, finals"), errors=(400, 403, 404),
        description="Teachers of the class, the class teacher, the administration; anyone else gets 404. "
                    "Served by the journal over gRPC.")},
    f"{P}/classes/{{id}}/at-risk": {"get": _op(
        "students_at_risk", "Ученики в зоне риска", "journal",
        params=[_path_id(description="Class id"), _PERIOD],
        ok=(200, "StudentsAtRisk", "Students with a forecast of 2 or too few marks (R-F2, R-F4)"),
        errors=(400, 403, 404))},
}

