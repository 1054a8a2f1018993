"""The OpenAPI 3.1 document of the gateway, as Python data.

It is the single source of truth for what a request may carry: the views
validate every JSON body against the operation's ``requestBody`` schema and
every query string against the operation's ``parameters`` (see
:mod:`gateway.validation`), and a test checks that the document and Flask's
URL map list the same routes. Request schemas are closed
(``additionalProperties: false``); response schemas list what is promised
and leave room for services to add fields.
"""
from __future__ import annotations

import copy
import functools
import re

from kernel import limits

API_PREFIX = "/api/v1"
VERSION = "1.0.0"

ROLES = ["admin", "director", "deputy", "class_teacher", "teacher", "secretary", "news_editor",
         "scheduler", "student", "parent"]
REPORT_KINDS = ["class-fill", "student-finals", "attendance", "class-teacher", "progress",
                "progress-sheet", "attendance-sheet", "journal-monitoring", "user-activity", "forecast"]
REPORT_FORMATS = ["json", "pdf", "xlsx"]
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
REPORT_PARAMS_TEXT = (
    "Parameters per kind (services/reports/README.md \"Report kinds\"): class-fill period_id|year_id|month, "
    "class_id optional; student-finals class_id (year_id/period_id optional: the class's year); attendance and "
    "attendance-sheet class_id and period_id|year_id|month; class-teacher and progress class_id and "
    "period_id|year_id; progress-sheet and forecast period_id|year_id, class_id optional; journal-monitoring and "
    "user-activity month, class_id optional. Without class_id a report covers the school: administration only "
    "(403 otherwise). A teacher who is not the class's class teacher sees only their own subjects. "
    "format=json answers the report (inline); pdf and xlsx answer the file as an attachment; the "
    "Content-Disposition names it in ASCII and in Russian (filename*, RFC 5987). The JSON of each kind has its "
    "schema (components/schemas, oneOf Report by kind): class-fill ClassFillReport, student-finals "
    "StudentFinalsReport, attendance AttendanceReport, class-teacher ClassTeacherReport, progress ProgressReport, "
    "progress-sheet ProgressSheetReport, attendance-sheet AttendanceSheetReport, journal-monitoring "
    "JournalMonitoringReport, user-activity UserActivityReport, forecast ForecastReport.")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


ID = {"type": "string", "minLength": 1, "maxLength": 64, "description": "Opaque id (uuid4)"}
DATE = {"type": "string", "format": "date", "pattern": DATE_PATTERN, "description": "YYYY-MM-DD"}


def _nullable(schema: dict) -> dict:
    """An optional field that may also be sent as null."""
    return {"anyOf": [schema, {"type": "null"}]}


def _closed(properties: dict, required: list[str], description: str = "") -> dict:
    schema = {"type": "object", "properties": properties, "required": required,
              "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def _open(properties: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": properties, "required": required or list(properties)}


REQUEST_SCHEMAS = {
    "LoginRequest": _closed({
        "login": {"type": "string", "minLength": 1, "maxLength": 100},
        "password": {"type": "string", "minLength": 1, "maxLength": 256},
        "totp_code": _nullable({"type": "string", "minLength": 1, "maxLength": 20,
                                "description": "Staff with a second factor: a TOTP or recovery code"}),
    }, ["login", "password"]),
    "CreateUserRequest": _closed({
        "login": {"type": "string", "minLength": 1, "maxLength": 100},
        "full_name": {"type": "string", "minLength": 1, "maxLength": 300},
        "roles": {"type": "array", "items": {"enum": ROLES}, "minItems": 1, "uniqueItems": True},
        "email": _nullable({"type": "string", "maxLength": 254, "pattern": r"^[^@\s]+@[^@\s]+$"}),
        "birth_date": _nullable(DATE),
        "sex": _nullable({"type": "string", "maxLength": 16}),
        "password": _nullable({"type": "string", "minLength": 1, "maxLength": 256}),
    }, ["login", "full_name", "roles"], "Without password identity generates one (shown once)."),
    "LinkParentRequest": _closed({
        "parent_id": ID,
        "relation": {"type": "string", "minLength": 1, "maxLength": 50},
    }, ["parent_id", "relation"]),
    "ConsentRequest": _closed({
        "given": {"type": "boolean"},
        "signed_on": DATE,
    }, ["given", "signed_on"]),
    "PeriodInput": _closed({
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "kind": {"enum": ["quarter", "trimester", "half_year"]},
        "starts_on": DATE,
        "ends_on": DATE,
    }, ["name", "kind", "starts_on", "ends_on"]),
    "OpenYearRequest": _closed({
        "name": {"type": "string", "minLength": 1, "maxLength": 100, "examples": ["2026/2027"]},
        "starts_on": DATE,
        "ends_on": DATE,
        "periods": {"type": "array", "items": _ref("PeriodInput"), "minItems": 1, "maxItems": 12},
    }, ["name", "starts_on", "ends_on", "periods"]),
    "CreateSubjectRequest": _closed({
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "emphasis": {"type": "boolean", "description": "R-F2: final marks need written, lab or practical works. "
                     "Default: true for Русский язык, Литература, Математика/Алгебра/Геометрия, Физика, Химия"},
    }, ["name"]),
    "CreateClassRequest": _closed({
        "year_id": ID,
        "grade": {"type": "integer", "minimum": 1, "maximum": 11},
        "letter": {"type": "string", "minLength": 1, "maxLength": 3},
        "class_teacher_id": ID,
    }, ["year_id", "grade", "letter", "class_teacher_id"]),
    "EnrollStudentRequest": _closed({
        "student_id": ID,
        "order_no": {"type": "string", "minLength": 1, "maxLength": 50},
        "on": DATE,
    }, ["student_id", "order_no", "on"]),
    "AssignTeacherRequest": _closed({
        "teacher_id": ID,
        "class_id": ID,
        "subject_id": ID,
        "hours_per_week": {"type": "number", "exclusiveMinimum": 0, "maximum": 40},
        "subgroup_id": _nullable(ID),
    }, ["teacher_id", "class_id", "subject_id", "hours_per_week"]),
    "RecordLessonRequest": _closed({
        "class_id": ID,
        "subject_id": ID,
        "date": DATE,
        "topic": {"type": "string", "minLength": 1, "maxLength": limits.LESSON_TOPIC},
        "lesson_type": {"type": "string", "minLength": 1, "maxLength": limits.LESSON_TYPE},
        "work_type": _nullable({"type": "string", "maxLength": limits.LESSON_WORK_TYPE}),
        "homework": _nullable({"type": "string", "maxLength": limits.LESSON_HOMEWORK}),
        "subgroup_id": _nullable(ID),
        "substitute_for": _nullable(ID),
    }, ["class_id", "subject_id", "date", "topic", "lesson_type"],
        "R-J1: the topic is required; R-J4/R-J5 are checked by the journal."),
    # value and weight are only type-checked here: the scale (R-J3) is a
    # journal rule answered with 422 INVALID_MARK, not a malformed request.
    "MarkInput": _closed({
        "student_id": ID,
        "value": {"type": "integer"},
        "kind": _nullable({"type": "string", "maxLength": 50}),
        "weight": _nullable({"type": "integer"}),
        "comment": _nullable({"type": "string", "maxLength": limits.MARK_COMMENT}),
    }, ["student_id", "value"]),
    "PostMarksRequest": _closed({
        "marks": {"type": "array", "items": _ref("MarkInput"), "minItems": 1,
                  "maxItems": limits.MARKS_PER_REQUEST},
    }, ["marks"]),
}

RESPONSE_SCHEMAS = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {"type": "string", "description": "Machine code, e.g. VALIDATION_ERROR"},
            "message": {"type": "string", "description": "Russian text for people"},
            "details": {"type": "object"},
        },
        "required": ["error", "message", "details"],
    },
    "TokenPair": _open({
        "access_token": {"type": "string"},
        "refresh_token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer"},
        "user": _open({"id": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}}}),
    }),
    "Profile": _open({
        "id": {"type": "string"},
        "login": {"type": "string"},
        "full_name": {"type": "string"},
        "roles": {"type": "array", "items": {"type": "string"}},
        "children": {"type": "array", "items": _open({
            "id": {"type": "string"}, "full_name": {"type": "string"},
            "class_id": {"type": ["string", "null"]}})},
        "classes": {"type": "array", "items": _open({
            "id": {"type": "string"}, "role": {"type": "string"}})},
    }),
    "CreatedUser": _open({
        "id": {"type": "string"}, "login": {"type": "string"},
        "initial_password": {"type": ["string", "null"], "description": "Shown once"},
    }),
    "ParentLink": _open({"student_id": {"type": "string"}, "parent_id": {"type": "string"},
                         "relation": {"type": "string"}}),
    "Consent": _open({"parent_id": {"type": "string"}, "given": {"type": "boolean"},
                      "signed_on": {"type": "string"}}),
    "Year": _open({
        "id": {"type": "string"}, "name": {"type": "string"},
        "starts_on": {"type": "string"}, "ends_on": {"type": "string"},
        "periods": {"type": "array", "items": _open({
            "id": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"},
            "starts_on": {"type": "string"}, "ends_on": {"type": "string"}})},
    }),
    "Subject": _open({"id": {"type": "string"}, "name": {"type": "string"}, "emphasis": {"type": "boolean"}},
                     ["id", "name"]),
    "Class": _open({"id": {"type": "string"}, "name": {"type": "string", "examples": ["5А"]}},
                   ["id", "name"]),
    "Enrolment": _open({"student_id": {"type": "string"}, "class_id": {"type": "string"},
                        "order_no": {"type": "string"}, "on": {"type": "string"}}),
    "Assignment": _open({"id": {"type": "string"}, "teacher_id": {"type": "string"},
                         "class_id": {"type": "string"}, "subject_id": {"type": "string"},
                         "hours_per_week": {"type": "number"}}),
    "Lesson": _open({"id": {"type": "string"}, "late": {"type": "boolean"}}),
    "Marks": _open({"marks": {"type": "array", "items": _open({
        "id": {"type": "string"}, "student_id": {"type": "string"}, "value": {"type": "integer"}},
        ["id", "student_id", "value"])}}),
    "Diary": _open({
        "student_id": {"type": "string"},
        "from": {"type": "string", "format": "date", "description": "First day answered"},
        "to": {"type": "string", "format": "date", "description": "Last day answered, inclusive"},
        "days": {"type": "array", "items": _open({
            "date": {"type": "string"},
            "lessons": {"type": "array", "items": _open({
                "lesson_id": {"type": "string"}, "subject_id": {"type": "string"},
                "subject": {"type": "string"}, "topic": {"type": "string"},
                "homework": {"type": "string"}, "lesson_type": {"type": "string"},
                "marks": {"type": "array", "items": _open({
                    "id": {"type": "string"}, "value": {"type": "integer"}, "kind": {"type": "string"},
                    "weight": {"type": "integer"}, "comment": {"type": "string"}})},
                "attendance": {"type": ["string", "null"]},
            })},
        })},
    }),
    "NotificationList": _open({
        "items": {"type": "array", "items": _open({
            "id": {"type": "string"}, "kind": {"type": "string"}, "title": {"type": "string"},
            "body": {"type": "string"}, "data": {"type": "object"}, "created_at": {"type": "string"},
            "read": {"type": "boolean"}})},
        "next_cursor": {"type": ["string", "null"]},
    }),
    "ProgressReport": {**_open({
        "kind": {"const": "progress"},
        "class": _open({"id": {"type": "string"}, "name": {"type": ["string", "null"]}}),
        "period": _open({"id": {"type": "string"}, "name": {"type": ["string", "null"]},
                         "starts_on": {"type": "string"}, "ends_on": {"type": "string"}}),
        "basis": {"enum": ["final_marks", "current_averages"],
                  "description": "final_marks when a final mark of the period is posted for a student of "
                                 "the class, else current_averages (rounded weighted averages)"},
        "finals": _open({
            "posted": {"type": "integer"}, "missing": {"type": "integer"},
            "students_missing": {"type": "integer"}, "subjects_missing": {"type": "integer"}},
        ),
        "subjects": {"type": "array", "items": _open({"id": {"type": "string"},
                                                      "name": {"type": ["string", "null"]}})},
        "students": {"type": "array", "items": _open({
            "id": {"type": "string"}, "full_name": {"type": ["string", "null"]},
            "average": {"type": ["number", "null"]},
            "subjects": {"type": "array", "items": _open({
                "subject_id": {"type": "string"},
                "marks": {"type": "array", "items": {"type": "integer"}},
                "count": {"type": "integer"},
                "average": {"type": ["number", "null"]}, "weighted_average": {"type": ["number", "null"]},
                "rounded": {"type": ["integer", "null"]}, "final": {"type": ["integer", "null"]},
                "counted": {"type": ["integer", "null"],
                            "description": "final when posted, else rounded: what the summary counts"}})},
        })},
        "summary": _open({
            "students": {"type": "integer"}, "pass_rate": {"type": ["number", "null"]},
            "quality": {"type": ["number", "null"]}, "excellent": {"type": "integer"},
            "with_one_3": {"type": "integer"}, "failing": {"type": "integer"},
            "without_marks": {"type": "integer"}}),
        "generated_at": {"type": "string"},
        "document": _ref("ReportDocument"),
    }), "description": "R-R5 class progress for a period (built by reports; rules in services/reports/README.md)."},
    "ReportDocument": {**_open({
        "title": {"type": "string"}, "subtitle": {"type": ["string", "null"]},
        "orientation": {"enum": ["portrait", "landscape"]},
        "header": _open({"school": {"type": "string"}, "class": {"type": ["string", "null"]},
                         "period": {"type": ["string", "null"]}, "printed_at": {"type": "string"}}),
        "sections": {"type": "array", "items": _open({
            "title": {"type": ["string", "null"]},
            "table": {"anyOf": [{"type": "null"}, _open({
                "columns": {"type": "array", "items": _open({
                    "key": {"type": "string"}, "title": {"type": "string"},
                    "type": {"enum": ["text", "int", "number", "percent", "date"]}})},
                "rows": {"type": "array", "items": {"type": "object"}},
                "totals": {"type": ["object", "null"]}})]},
            "chart": {"anyOf": [{"type": "null"}, _open({
                "type": {"const": "bar"}, "title": {"type": "string"},
                "labels": {"type": "array", "items": {"type": "string"}},
                "series": {"type": "array", "items": _open({
                    "name": {"type": "string"}, "values": {"type": "array", "items": {"type": "number"}}})}})]},
            "note": {"type": ["string", "null"]}})},
        "signatures": {"type": "array", "items": {"type": "string"}},
    }), "description": "The printable layout every report carries (one shape for all kinds: the PDF and XLSX "
                       "renderers read only this); percent values 0..100, dates ISO."},
    "Backup": _open({"id": {"type": "string"}, "status": {"type": "string"}}),
    "BackupList": _open({
        "items": {"type": "array", "items": _open({
            "id": {"type": "string"}, "started_at": {"type": ["string", "null"]},
            "finished_at": {"type": ["string", "null"]}, "status": {"type": "string"},
            "size": {"type": ["integer", "null"]}, "targets": {}, "verified": {},
            "drilled_at": {"type": ["string", "null"], "description": "when the last restore drill ran"},
            "drill_ok": {"type": ["boolean", "null"], "description": "its outcome (null: never drilled)"},
            "failed_targets": {"type": "array", "items": {"type": "string"},
                               "description": "targets that should have had a copy and did not"},
            "retention": {"enum": ["year_end", "journal", "rotation", None],
                          "description": "the class that keeps this backup (R-D3); null: not kept, pruned next"},
            "expires_at": {"type": ["string", "null"], "description": "until when its class keeps it"}},
            ["id", "status"])},
        "next_cursor": {"type": ["string", "null"]},
    }),
    "BackupSchedule": _open({
        "targets": {"type": "array", "items": _open({
            "target": {"type": "string", "description": "the target's name in the settings (`local` first)"},
            "kind": {"enum": ["local", "s3", "sftp"]}, "location": {"type": "string"},
            "every_hours": {"type": "number", "description": "0: never scheduled"},
            "last_copy_at": {"type": ["string", "null"]}, "next_run_at": {"type": ["string", "null"]},
            "failing": {"type": "boolean", "description": "the newest backup could not be copied there"}})},
        "next_run_at": {"type": ["string", "null"]},
    }, ["targets", "next_run_at"]),
    "RestoreDrill": _open({
        "ok": {"type": "boolean"}, "checked_rows": {"type": "integer"},
        "mismatches": {"type": "array", "items": _open({
            "service": {"type": ["string", "null"]}, "table": {"type": ["string", "null"]},
            "problem": {"type": "string"}})},
    }, ["ok", "checked_rows", "mismatches"]),
    "JournalArchiveList": _open({
        "items": {"type": "array", "items": _open({
            "id": {"type": "string"},
            "year": _open({"id": {"type": "string"}, "name": {"type": ["string", "null"]}}),
            "class": _open({"id": {"type": "string"}, "name": {"type": ["string", "null"]}}),
            "order_no": {"type": ["string", "null"], "description": "The order that closed the year"},
            "files": {"type": "array", "items": _open({
                "format": {"enum": ["pdf", "xlsx"]}, "content_type": {"type": "string"},
                "size": {"type": "integer", "minimum": 0}})},
            "created_at": {"type": "string", "description": "ISO 8601 date and time"}})},
    }),
    "Health": _open({"status": {"const": "ok"}}),
    "Readiness": _open({"status": {"type": "string"},
                        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                        "detail": {"type": "object", "description": "What a service adds to its health: "
                                   "reports' last self-check {selfcheck: {checked_at, compared, differences, "
                                   "items: [{school_id, class_id, period_id, journal, reports}]}}"}},
                       ["status", "checks"]),
}

ERROR_RESPONSES = {
    400: ("BadRequest", "Malformed request: VALIDATION_ERROR lists the problems in details.problems "
                        "[{field, message}], a NUL or a lone UTF-16 surrogate in any path value, query value, "
                        "JSON string or key included; MALFORMED_JSON for a body that is not a JSON object or "
                        "nests deeper than 64 levels. Only a caller who may use the route hears it"),
    401: ("Unauthorized", "No, invalid or expired access token (INVALID_TOKEN)"),
    403: ("Forbidden", "Authenticated but not allowed; decided before the query or body is looked at"),
    404: ("NotFound", "Not found, or not yours; decided before the query or body is looked at"),
    409: ("Conflict", "Conflict or duplicate"),
    422: ("Unprocessable", "Well-formed but breaks a rule"),
    429: ("TooManyRequests", "Rate limited"),
    500: ("InternalError", "Unexpected error (INTERNAL_ERROR, with details.correlation_id)"),
    503: ("ServiceUnavailable", "A service behind the gateway is down (SERVICE_UNAVAILABLE)"),
}


# A throttled answer says when to try again (the same seconds as details.retry_after).
ERROR_HEADERS = {"TooManyRequests": {"headers": {"Retry-After": {
    "description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 1}}}}}


def _json(schema_name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema_name)}}}


def _op(op_id: str, summary: str, tag: str, *, ok: tuple = (200, None, "OK"), body: str | None = None,
        errors: tuple = (), params: list | None = None, public: bool = False,
        description: str = "") -> dict:
    status, schema, ok_text = ok
    responses = {str(status): _json(schema, ok_text) if schema else {"description": ok_text}}
    # 400: any request may carry broken text (gateway.guard); 401: no or a bad token
    always = (400,) if public else (400, 401)
    for code in sorted(set(errors) | set(always) | {500, 503}):
        responses[str(code)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[code][0]}"}
    op = {"operationId": op_id, "summary": summary, "tags": [tag], "responses": dict(sorted(responses.items()))}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    op["security"] = [] if public else [{"bearerAuth": []}]
    return op


def _path_id(name: str = "id", description: str = "Opaque id") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


def _query(name: str, schema: dict, description: str = "", required: bool = False) -> dict:
    param = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        param["description"] = description
    return param


P = API_PREFIX
PATHS = {
    f"{P}/auth/login": {"post": _op(
        "login", "Вход по логину и паролю", "auth", public=True, body="LoginRequest",
        ok=(200, "TokenPair", "Tokens"), errors=(400, 401, 403, 429),
        description="401 INVALID_CREDENTIALS; 401 TOTP_REQUIRED (second factor on, no totp_code); 403 NO_CONSENT (a parent without consent, R-A4); "
                    "429 TOO_MANY_ATTEMPTS (the Retry-After header and details.retry_after say how many seconds to wait).")},
    f"{P}/me": {"get": _op("get_me", "Мой профиль", "people", ok=(200, "Profile", "The caller"),
                           errors=(404,))},
    f"{P}/users": {"post": _op(
        "create_user", "Создать пользователя", "people", body="CreateUserRequest",
        ok=(201, "CreatedUser", "Created; initial_password is shown once"), errors=(400, 403, 409),
        description="admin: any roles; class_teacher: students and parents only (R-A2).")},
    f"{P}/students/{{id}}/parents": {"post": _op(
        "link_parent", "Связать родителя с учеником", "people", body="LinkParentRequest",
        params=[_path_id(description="Student id")], ok=(201, "ParentLink", "Linked"),
        errors=(400, 403, 404, 409))},
    f"{P}/parents/{{id}}/consent": {"put": _op(
        "record_consent", "Согласие на обработку персональных данных", "people", body="ConsentRequest",
        params=[_path_id(description="Parent id")], ok=(200, "Consent", "Recorded"),
        errors=(400, 403, 404), description="R-A4: without consent the parent cannot log in.")},
    f"{P}/years": {"post": _op(
        "open_year", "Открыть учебный год", "structure", body="OpenYearRequest",
        ok=(201, "Year", "Opened"), errors=(400, 403, 409, 422))},
    f"{P}/subjects": {"post": _op(
        "create_subject", "Создать предмет", "structure", body="CreateSubjectRequest",
        ok=(201, "Subject", "Created"), errors=(400, 403, 409))},
    f"{P}/classes": {"post": _op(
        "create_class", "Создать класс", "structure", body="CreateClassRequest",
        ok=(201, "Class", "Created"), errors=(400, 403, 404, 409, 422))},
    f"{P}/classes/{{id}}/students": {"post": _op(
        "enroll_student", "Зачислить ученика в класс", "structure", body="EnrollStudentRequest",
        params=[_path_id(description="Class id")], ok=(201, "Enrolment", "Enrolled (R-S3)"),
        errors=(400, 403, 404, 409, 422))},
    f"{P}/assignments": {"post": _op(
        "assign_teacher", "Назначить учителя", "structure", body="AssignTeacherRequest",
        ok=(201, "Assignment", "Assigned"), errors=(400, 403, 404, 409, 422))},
    f"{P}/lessons": {"post": _op(
        "record_lesson", "Записать урок", "journal", body="RecordLessonRequest",
        ok=(201, "Lesson", "Recorded; late is true after the entry deadline (R-J5)"),
        errors=(400, 403, 404, 422),
        description="The teacher assigned to the class and subject (and subgroup), the class teacher, the admin, "
                    "or a teacher substituting (substitute_for: the teacher replaced, who must teach that class, "
                    "subject and subgroup; R-J6). 404 for a class, subject or subgroup (of that class and subject) "
                    "the school does not have (details.field); 422 LESSON_OUTSIDE_PERIOD, SUBSTITUTE_NOT_ASSIGNED.")},
    f"{P}/lessons/{{id}}/marks": {"put": _op(
        "post_marks", "Выставить отметки", "journal", body="PostMarksRequest",
        params=[_path_id(description="Lesson id")], ok=(200, "Marks", "Posted"),
        errors=(400, 403, 404, 422),
        description="422 NO_MARKS_IN_GRADE_1 (R-J4), STUDENT_NOT_IN_CLASS, INVALID_MARK (R-J3).")},
    f"{P}/students/{{id}}/diary": {"get": _op(
        "get_diary", "Дневник ученика", "journal", params=[
            _path_id(description="Student id"),
            _query("from", DATE, "First day (default: Monday of the current week, see the description)"),
            _query("to", DATE, "Last day, inclusive (default: from + 6 days); at most 92 days from from"),
        ], ok=(200, "Diary", "The diary"), errors=(400, 404),
        description="The student, their parents and staff of the school (R-A3); anyone else gets 404. "
                    "Without from and to: the school's current week or, when it has no lesson for the "
                    "student yet (a Monday morning, the holidays), the latest earlier week that has one; "
                    "from and to in the answer say which week was answered.")},
    f"{P}/notifications": {"get": _op(
        "list_notifications", "Уведомления", "messaging", params=[
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}),
            _query("cursor", {"type": "string", "minLength": 1, "maxLength": 200}),
        ], ok=(200, "NotificationList", "A page of notifications"), errors=(400,))},
    f"{P}/reports/{{kind}}": {"get": _op(
        "get_report", "Отчёт", "reports", params=[
            {"name": "kind", "in": "path", "required": True, "schema": {"enum": REPORT_KINDS}},
            _query("class_id", ID, "The class; required for student-finals, attendance, class-teacher, progress, "
                                   "attendance-sheet; without it the school (administration only)"),
            _query("period_id", ID, "A period, or a year's id for the whole year"),
            _query("year_id", ID, "The whole year, when no period_id"),
            _query("month", {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"},
                   "YYYY-MM: required for journal-monitoring and user-activity"),
            _query("format", {"enum": REPORT_FORMATS, "default": "json"}),
        ], ok=(200, "Report", "The report"), errors=(400, 403, 404, 422),
        description=REPORT_PARAMS_TEXT)},
    f"{P}/backups": {
        "post": _op("request_backup", "Запустить резервное копирование", "backups",
                    ok=(202, "Backup", "Started"), errors=(403,), description="Admin only (R-D1)."),
        "get": _op("list_backups", "Список резервных копий", "backups",
                   ok=(200, "BackupList", "The catalogue"), errors=(403,), description="Admin only."),
    },
    f"{P}/backups/schedule": {
        "get": _op("backup_schedule", "Расписание резервного копирования", "backups",
                   ok=(200, "BackupSchedule", "Every target and its next run"), errors=(403,),
                   description="Admin only (R-D1): each target (the local directory, off-site S3 or SFTP) with "
                               "its interval, its newest copy and when the next is due."),
    },
    f"{P}/backups/{{id}}/archive": {"get": {
        **_op("download_backup", "Скачать архив резервной копии", "backups", params=[_path_id(description="Backup id")],
              errors=(403, 404, 409),
              description="Admin only (R-D1: a copy on the administrator's computer). The archive exactly as "
                          "stored: still encrypted (the backup key opens it), streamed; `X-Archive-SHA256` is "
                          "the SHA-256 of its bytes as catalogued. 409 CONFLICT for a backup that is not done."),
        "responses": {
            "200": {"description": "The encrypted archive, as a download",
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
            **{c: {"$ref": f"#/components/responses/{n}"} for c, n in
               (("400", "BadRequest"), ("401", "Unauthorized"), ("403", "Forbidden"), ("404", "NotFound"),
                ("409", "Conflict"), ("500", "InternalError"), ("503", "ServiceUnavailable"))}}}},
    f"{P}/backups/{{id}}/restore-drill": {
        "post": _op("restore_drill", "Проверить восстановление резервной копии", "backups",
                    params=[_path_id(description="Backup id")], ok=(200, "RestoreDrill", "The drill's outcome"),
                    errors=(403, 404, 409),
                    description="Admin only (R-D2). Restores the archive into scratch databases and compares "
                                "every table row for row with the archive, whose rows match its manifest's "
                                "checksums. A failed drill clears `verified` and alerts the administrators; "
                                "409 CONFLICT for a backup that is not done or whose archive is gone."),
    },
    f"{P}/archives": {"get": _op(
        "list_journal_archives", "Архив журналов за закрытые учебные годы", "reports",
        params=[_query("year_id", ID, "Only this school year's journals")],
        ok=(200, "JournalArchiveList", "The class journals, by year and class"), errors=(403,),
        description="Administration only (R-D4). When a school year is closed, each class's journal of "
                    "that year is printed as PDF and XLSX and kept here.")},
    f"{P}/reports/{{kind}}/files": {"post": _op(
        "start_report_files", "Файлы отчёта (PDF и XLSX) как задание", "reports", params=[
            {"name": "kind", "in": "path", "required": True, "schema": {"enum": REPORT_KINDS}},
            _query("class_id", ID, "As GET /reports/{kind}"),
            _query("period_id", ID, "As GET /reports/{kind}"),
            _query("year_id", ID, "As GET /reports/{kind}"),
            _query("month", {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"}, "As GET /reports/{kind}"),
        ], ok=(202, "JobStarted", "The job started (GET /jobs/{id} in Location)"), errors=(403, 404, 422),
        description="A big report without a frozen page: the report is built and checked at once (the same "
                    "refusals as GET /reports/{kind}), its PDF and XLSX are rendered by a job of the reports "
                    "service. GET /jobs/{id} shows the progress (stage pdf, xlsx; done of 2) and, once done, "
                    "result.files [{format, content_type, filename, filename_ascii, size}]; the files are "
                    "GET /jobs/{id}/files/pdf and /xlsx. Who may read the report.")},
    f"{P}/jobs/{{id}}/files/{{fmt}}": {"get": _op(
        "get_job_file", "Файл отчёта, сделанный заданием", "reports",
        params=[_path_id(description="Job id"),
                {"name": "fmt", "in": "path", "required": True, "schema": {"enum": ["pdf", "xlsx"]}}],
        ok=(200, None, "The file, as an attachment"), errors=(403, 404),
        description="A done report job's PDF or XLSX: its starter and the school's administration; anyone "
                    "else, or a job not done, 404.")},
    f"{P}/archives/{{id}}/file": {"get": _op(
        "get_journal_archive_file", "Файл архивного журнала", "reports",
        params=[_path_id(), _query("format", {"enum": ["pdf", "xlsx"]}, "The file's format", required=True)],
        ok=(200, None, "The file, as an attachment"), errors=(403, 404),
        description="Administration only (R-D4).")},
    f"{P}/openapi.json": {"get": _op("get_openapi", "Этот документ", "meta", public=True,
                                     ok=(200, None, "OpenAPI 3.1 document"))},
    "/healthz": {"get": _op("healthz", "Liveness", "ops", public=True, ok=(200, "Health", "Alive"))},
    "/readyz": {"get": _op(
        "readyz", "Readiness", "ops", public=True, ok=(200, "Readiness", "Every service answers"),
        description="One check per process: health on every nameko service (`<service>.rpc`), the gRPC "
                    "health check of every gRPC server (`<service>.grpc`) and the backup worker's "
                    "/healthz (`backup.worker`); 503 SERVICE_UNAVAILABLE with details.failed when one "
                    "does not answer (a process that is down shows as timeout, unavailable or "
                    "not_running).")},
    "/metrics": {"get": {
        "operationId": "metrics", "summary": "Prometheus metrics", "tags": ["ops"], "security": [],
        "responses": {"200": {"description": "Prometheus text format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/favicon.ico": {"get": {
        "operationId": "favicon", "summary": "Portal icon", "tags": ["portal"], "security": [],
        "responses": {"200": {"description": "The icon",
                              "content": {"image/vnd.microsoft.icon": {"schema": {"type": "string",
                                                                                  "format": "binary"}}}}}}},
    "/static/{filename}": {"get": {
        "operationId": "portal_static", "summary": "Portal assets", "tags": ["portal"], "security": [],
        "parameters": [{"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "A script or style sheet"},
                      "404": {"$ref": "#/components/responses/NotFound"}}}},
}

# a report also comes as a file (format=pdf|xlsx), named in Content-Disposition
_REPORT_OK = PATHS[f"{P}/reports/{{kind}}"]["get"]["responses"]["200"]
_REPORT_OK["content"].update({
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "schema": {"type": "string", "format": "binary"}},
})
_REPORT_OK["headers"] = {"Content-Disposition": {
    "description": "inline (json) or attachment (pdf, xlsx); filename in ASCII and filename* in UTF-8 "
                   "(RFC 5987), e.g. attachment; filename=\"progress-5A-2026-09.pdf\"; "
                   "filename*=UTF-8''%D0%98%D1%82%D0%BE%D0%B3%D0%B8...pdf",
    "schema": {"type": "string"}}}


PATHS[f"{P}/jobs/{{id}}/files/{{fmt}}"]["get"]["responses"]["200"].update({
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}}}})
PATHS[f"{P}/archives/{{id}}/file"]["get"]["responses"]["200"].update({
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}}},
    "headers": {"Content-Disposition": {
        "description": "attachment; filename in ASCII and filename* in UTF-8 (RFC 5987)",
        "schema": {"type": "string"}}}})


def document() -> dict:
    """The whole OpenAPI 3.1 document (a fresh copy: callers may mutate it)."""
    return copy.deepcopy({
        "openapi": "3.1.0",
        "info": {
            "title": "eJournal API",
            "version": VERSION,
            "description": "Электронный журнал и дневник. JSON in and out; errors as "
                           "{error, message, details}; Authorization: Bearer <access_token>.",
        },
        "servers": [{"url": "/"}],
        "paths": PATHS,
        "components": {
            "schemas": {**REQUEST_SCHEMAS, **RESPONSE_SCHEMAS},
            "responses": {name: {**_json("Error", text), **ERROR_HEADERS.get(name, {})}
                          for name, text in ERROR_RESPONSES.values()},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearerAuth": []}],
    })


_RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@functools.lru_cache(maxsize=1024)  # a route's rule: asked several times per request
def path_of_rule(rule: str) -> str:
    """Flask's ``/students/<id>/diary`` as OpenAPI's ``/students/{id}/diary``."""
    return _RULE_ARG.sub(r"{\1}", rule)


def operation(path: str, method: str) -> dict:
    """The operation object for ``method`` on ``path`` (KeyError if absent;
    HEAD is the GET without its body)."""
    return PATHS[path]["get" if method.upper() == "HEAD" else method.lower()]


def request_schema_name(op: dict) -> str | None:
    """The components/schemas name of an operation's JSON body, if any."""
    body = op.get("requestBody")
    if not body or "application/json" not in body["content"]:
        return None  # no body, or an upload (api_journal_structure reads its file itself)
    return body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


# Areas documented in their own modules (one per blueprint), merged here once
# so that PATHS and the schema tables stay the single source of truth. They
# import this module's helpers, hence the imports at the end.
from gateway import (  # noqa: E402
    openapi_identity, openapi_journal_marks, openapi_journal_reads, openapi_journal_structure, openapi_messaging,
    openapi_people_reads, openapi_reports,
)
from gateway import openapi_portal  # noqa: E402

for _area in (openapi_identity, openapi_journal_structure, openapi_journal_marks):
    PATHS.update(_area.PATHS)
    REQUEST_SCHEMAS.update(_area.REQUEST_SCHEMAS)
    RESPONSE_SCHEMAS.update(_area.RESPONSE_SCHEMAS)
openapi_messaging.register(REQUEST_SCHEMAS, RESPONSE_SCHEMAS, PATHS)
PATHS.update(openapi_portal.paths())  # the portal's HTML pages
openapi_journal_reads.register(REQUEST_SCHEMAS, RESPONSE_SCHEMAS, PATHS)
openapi_people_reads.register(REQUEST_SCHEMAS, RESPONSE_SCHEMAS, PATHS)
openapi_reports.register(REQUEST_SCHEMAS, RESPONSE_SCHEMAS, PATHS)
# every journal write takes an Idempotency-Key, the two older routes included
for _path, _method in ((f"{P}/lessons", "post"), (f"{P}/lessons/{{id}}/marks", "put")):
    PATHS[_path][_method].setdefault("parameters", []).append(openapi_journal_marks.IDEMPOTENCY_KEY)


def _body_limits() -> None:
    """413 on every operation that takes a body, with its route's limit (gateway.bodies)."""
    from gateway import bodies

    for path, item in PATHS.items():
        for method, op in item.items():
            if "requestBody" not in op:
                continue
            key = f"{method.upper()} {path[len(P):]}" if path.startswith(P + "/") else None
            most = bodies.limit(key)
            op["responses"]["413"] = _json("Error", f"PAYLOAD_TOO_LARGE: a body over {most} bytes "
                                                    f"({most // bodies.MIB} MiB); details.max_bytes gives the figure")
            op["responses"] = dict(sorted(op["responses"].items()))
            op["x-max-body-bytes"] = most


_body_limits()
