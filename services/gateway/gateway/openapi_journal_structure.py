"""OpenAPI paths and schemas of :mod:`gateway.api_journal_structure`,
merged into :mod:`gateway.openapi` (its PATHS and schema tables)."""
from __future__ import annotations

from gateway.openapi import API_PREFIX, DATE, ID, _closed, _nullable, _op, _open, _path_id, _query, _ref
from gateway.openapi import REQUEST_SCHEMAS as _BASE_REQUESTS
from gateway.openapi_journal_marks import IDEMPOTENCY_KEY

P = API_PREFIX
ORDER_NO = {"type": "string", "minLength": 1, "maxLength": 64, "description": "Number of the school's order"}
PREFER_ASYNC = {
    "name": "Prefer", "in": "header", "required": False, "schema": {"type": "string", "examples": ["respond-async"]},
    "description": "respond-async: run the work as a job and answer 202 {job_id, status} at once (Location: "
                   "/api/v1/jobs/{id}); the checks made before any work still answer with their errors.",
}
JOB_STAGES = ["queued", "started", "checking", "accounts", "linking", "enrolling", "promoting", "archiving", "pdf",
              "xlsx", "done", "failed"]

REQUEST_SCHEMAS = {
    "ImportLessonsRequest": _closed({
        "lessons": {"type": "array", "minItems": 1, "maxItems": 1000, "items": _closed({
            **_BASE_REQUESTS["RecordLessonRequest"]["properties"],
            "teacher_id": {**ID, "description": "Who taught the lesson (assigned to the class and subject, or its "
                                                "class teacher)"},
            "recorded_on": {**DATE, "description": "The day the lesson was entered in the paper journal"},
        }, ["class_id", "subject_id", "date", "topic", "lesson_type", "teacher_id", "recorded_on"])},
    }, ["lessons"], "Lessons already held, transcribed from the paper journal; all or nothing."),
    "UpdateSubjectRequest": _closed({
        "emphasis": {"type": "boolean", "description": "R-F2: final marks need written, lab or practical works"},
    }, ["emphasis"], "R-F2 emphasis of the subject (a school setting)."),
    "CloseYearRequest": _closed({
        "order_no": ORDER_NO,
        "promote": {"type": "boolean", "default": True},
        "next_year_id": _nullable(ID),
        "held_back": {"type": "array", "items": ID, "uniqueItems": True, "maxItems": 500,
                      "description": "Students who repeat the grade (pedagogical council's decision)"},
        "early": {"type": "boolean", "default": False,
                  "description": "Close the year before its last day (ends_on, the school's date) on purpose"},
    }, ["order_no"], "R-S4. Without next_year_id the earliest open year after this one."),
    "TransferRequest": _closed({"to_class_id": ID, "order_no": ORDER_NO, "on": DATE}, ["to_class_id", "order_no", "on"],
                               "R-S3: on = the first day in the new class."),
    "DepartureRequest": _closed({
        "order_no": ORDER_NO, "on": DATE,
        "reason": _nullable({"type": "string", "maxLength": 300}),
    }, ["order_no", "on"], "R-S3: on = the first day out."),
    "CreateSubgroupRequest": _closed({
        "subject_id": ID,
        "name": {"type": "string", "minLength": 1, "maxLength": 60},
        "student_ids": {"type": "array", "items": ID, "minItems": 1, "maxItems": 60},
    }, ["subject_id", "name", "student_ids"]),
    "TimetableSlotInput": _closed({
        "weekday": {"type": "integer", "description": "1 = Monday .. 6 = Saturday"},
        "number": {"type": "integer", "description": "Lesson number in the day, 1..10"},
        "subject_id": ID,
        "teacher_id": ID,
        "room": _nullable({"type": "string", "maxLength": 30}),
        "subgroup_id": _nullable(ID),
    }, ["weekday", "number", "subject_id", "teacher_id"]),
    "SetTimetableRequest": _closed({
        "period_id": ID,
        "slots": {"type": "array", "items": _ref("TimetableSlotInput"), "maxItems": 100},
    }, ["period_id", "slots"], "R-S6: replaces the class's week in the period."),
    "PlanTopicInput": _closed({
        "number": {"type": "integer"},
        "title": {"type": "string", "minLength": 1, "maxLength": 500},
        "hours": {"type": "integer"},
    }, ["number", "title", "hours"]),
    "CreatePlanRequest": _closed({
        "class_id": ID, "subject_id": ID, "period_id": ID,
        "topics": {"type": "array", "items": _ref("PlanTopicInput"), "minItems": 1, "maxItems": 400},
    }, ["class_id", "subject_id", "period_id", "topics"], "R-J8: КТП."),
}

_STR = {"type": "string"}
_INT = {"type": "integer"}

RESPONSE_SCHEMAS = {
    "YearCloseSummary": _open({
        "year_id": _STR, "order_no": _STR, "archived": {"type": "boolean"}, "next_year_id": {"type": ["string", "null"]},
        "promoted": _INT, "graduated": _INT, "held_back": _INT, "already_enrolled": _INT,
        "created_classes": {"type": "array", "items": _open({"id": _STR, "name": _STR})},
        "classes": {"type": "array", "items": _open({
            "from_class_id": _STR, "from": _STR, "to_class_id": _STR, "to": _STR, "students": _INT})},
    }),
    "Transfer": _open({"student_id": _STR, "from_class_id": _STR, "to_class_id": _STR, "order_no": _STR,
                       "on": _STR}),
    "Departure": _open({"student_id": _STR, "class_id": _STR, "order_no": _STR, "on": _STR, "reason": _STR}),
    "YearClosePreview": _open({
        "year_id": _STR, "archived": {"type": "boolean"}, "next_year_id": {"type": ["string", "null"]},
        "promoted": {"type": "integer"}, "graduated": {"type": "integer"}, "held_back": {"type": "integer"},
        "already_enrolled": {"type": "integer"}, "ends_on": _STR, "early_required": {"type": "boolean"},
        "created_classes": {"type": "array", "items": _open({"id": {"type": ["string", "null"]}, "name": _STR})},
        "classes": {"type": "array", "items": _open({"from_class_id": _STR, "from": _STR,
                                                     "to_class_id": {"type": ["string", "null"]}, "to": _STR,
                                                     "students": {"type": "integer"}})},
    }),
    "Movements": _open({"student_id": _STR, "items": {"type": "array", "items": _open({
        "class_id": _STR, "class_name": _STR, "year_id": _STR, "order_no": _STR, "enrolled_on": _STR,
        "left_on": {"type": ["string", "null"]}, "left_order_no": {"type": ["string", "null"]},
        "left_reason": {"type": ["string", "null"]}})}}),
    "Subgroup": _open({"id": _STR, "class_id": _STR, "subject_id": _STR, "name": _STR,
                       "student_ids": {"type": "array", "items": _STR}}),
    "Timetable": _open({"class_id": _STR, "period_id": _STR, "slots": {"type": "array", "items": _open({
        "weekday": _INT, "number": _INT, "subject_id": _STR, "teacher_id": _STR,
        "room": {"type": ["string", "null"]}, "subgroup_id": {"type": ["string", "null"]}})}}),
    "Plan": _open({"id": _STR, "class_id": _STR, "subject_id": _STR, "period_id": _STR, "teacher_id": _STR,
                   "hours": _INT, "topics": {"type": "array", "items": _open({
                       "number": _INT, "title": _STR, "hours": _INT})}}),
    "Coverage": _open({"period_id": _STR, "items": {"type": "array", "items": _open({
        "plan_id": _STR, "class_id": _STR, "class_name": _STR, "subject_id": _STR, "subject_name": _STR,
        "teacher_id": _STR, "planned_hours": _INT, "taught_hours": _INT,
        "percent": {"type": ["number", "null"]}, "expected_by_today": _INT, "behind": {"type": "boolean"}})}}),
    "LessonImport": _open({
        "imported": _INT, "late": _INT, "overdue": _INT,
        "lessons": {"type": "array", "items": _open({
            "id": _STR, "date": _STR, "recorded_on": _STR, "late": {"type": "boolean"},
            "overdue": {"type": "boolean"}})}}),
    "ImportResult": _open({
        "applied": {"type": "boolean", "description": "false: nothing was written, see errors"},
        "created": _INT, "updated": _INT, "unchanged": _INT,
        "errors": {"type": "array", "items": _open({"row": _INT, "message": _STR})},
        "credentials": {"type": "array", "description": "Initial passwords of the accounts created now (shown once: "
                        "as a job's result, in the first GET /jobs/{id} to its starter, then erased; erased "
                        "unread after an hour)",
                        "items": _open({"row": _INT, "login": _STR, "initial_password": _STR})},
        "credentials_shown": {**_INT, "description": "A job's result: how many initial passwords were shown once"},
        "credentials_forgotten": {**_INT, "description": "A job's result: how many initial passwords were erased "
                                  "unread"},
    }, ["applied", "created", "updated", "errors"]),
    "JobStarted": _open({"job_id": _STR, "status": {"enum": ["queued"]}}),
    "Job": _open({
        "id": _STR, "kind": {"enum": ["import_students", "close_year", "report_files"]},
        "status": {"enum": ["queued", "running", "done", "failed"]},
        "done": _INT, "total": _INT,
        "stage": {"enum": JOB_STAGES, "description": "What the work is doing; done of total counts its items "
                                                     "(rows checked, accounts created, students promoted)"},
        "created_at": _STR, "finished_at": {"type": ["string", "null"]},
        "result": {"type": "object", "description": "status done: what the synchronous call answers "
                                                    "(ImportResult, YearCloseSummary); a report's files: "
                                                    "{title, files: [{format, content_type, filename, size}]}"},
        "error": _ref("Error"),
    }, ["id", "kind", "status", "done", "total", "stage"]),
}

PATHS = {
    f"{P}/subjects/{{id}}": {"patch": _op(
        "update_subject", "Изменить предмет", "structure", body="UpdateSubjectRequest",
        params=[_path_id(description="Subject id")], ok=(200, "Subject", "The subject after the change"),
        errors=(400, 403, 404),
        description="Admin. emphasis (R-F2): a final mark in the subject needs the written, lab or practical "
                    "works of its period (EJOURNAL_FINAL_MIN_WRITTEN, default 1), else the warning "
                    "WRITTEN_WORK_REQUIRED.")},
    f"{P}/years/{{id}}/close": {"post": _op(
        "close_year", "Закрыть учебный год", "structure", body="CloseYearRequest",
        params=[_path_id(description="Year id"), PREFER_ASYNC],
        ok=(200, "YearCloseSummary", "Archived; promotion summary"), errors=(400, 403, 404, 409, 422),
        description="R-S4, admin. The year becomes read-only (422 YEAR_CLOSED on writes); with promote every "
                    "class moves one grade up into the next open year (classes created as needed), the last "
                    "grade leaves (graduated). Before the year's last day (ends_on in the school's time zone) "
                    "only with early: true, else 422 YEAR_NOT_ENDED (details.ends_on). 404 for a next_year_id "
                    "the school does not have; 409 YEAR_ALREADY_CLOSED; 422 NO_NEXT_YEAR; 422 "
                    "STUDENT_NOT_IN_CLASS (details.field held_back) for a student of held_back not in the year. "
                    "With Prefer: respond-async: 202 and a job (GET /jobs/{id}); 404 and 409 answer at once, "
                    "the other refusals are the job's error.")},
    f"{P}/years/{{id}}/close-preview": {"get": _op(
        "preview_year_close", "Итоги закрытия учебного года до приказа", "structure", params=[
            _path_id(description="Year id"),
            _query("promote", {"type": "string", "enum": ["true", "false"], "default": "true"}),
            _query("next_year_id", ID, "The year promotion goes to (default: the earliest open one after)"),
        ], ok=(200, "YearClosePreview", "What the close would do; nothing written"),
        errors=(400, 403, 404, 409, 422),
        description="R-S4, admin. The same close as POST /years/{id}/close run and rolled back: the same "
                    "summary (created_classes without ids, classes' to_class_id null for those), ends_on, and "
                    "early_required (before the last day the close needs early: true). The same refusals but "
                    "YEAR_NOT_ENDED: 409 YEAR_ALREADY_CLOSED, 422 NO_NEXT_YEAR.")},
    f"{P}/students/{{id}}/transfer": {"post": _op(
        "transfer_student", "Перевести ученика в другой класс", "structure", body="TransferRequest",
        params=[_path_id(description="Student id")], ok=(200, "Transfer", "Moved; history kept"),
        errors=(400, 403, 404, 422),
        description="R-S3, admin. 422 NOT_ENROLLED, SAME_CLASS, OTHER_YEAR, MOVEMENT_BEFORE_ADMISSION.")},
    f"{P}/students/{{id}}/departure": {"post": _op(
        "record_departure", "Выбытие ученика", "structure", body="DepartureRequest",
        params=[_path_id(description="Student id")], ok=(200, "Departure", "Left; history kept"),
        errors=(400, 403, 404, 422), description="R-S3, admin. 422 NOT_ENROLLED.")},
    f"{P}/students/{{id}}/movements": {"get": _op(
        "list_movements", "Движение ученика", "structure", params=[_path_id(description="Student id")],
        ok=(200, "Movements", "Every stay, oldest first"), errors=(403, 404),
        description="R-S3 history: admissions, transfers, departures, promotions; staff.")},
    f"{P}/classes/{{id}}/subgroups": {"post": _op(
        "create_subgroup", "Создать подгруппу", "structure", body="CreateSubgroupRequest",
        params=[_path_id(description="Class id")], ok=(201, "Subgroup", "Created"),
        errors=(400, 403, 404, 409, 422),
        description="R-S5: deputy, the class's class teacher, admin. 409 ALREADY_IN_SUBGROUP; "
                    "422 STUDENT_NOT_IN_CLASS.")},
    f"{P}/classes/{{id}}/timetable": {"get": _op(
        "get_timetable", "Расписание класса на период", "structure", params=[
            _path_id(description="Class id"), _query("period_id", ID, "The period", required=True)],
        ok=(200, "Timetable", "The class's week in the period"), errors=(400, 403, 404),
        description="R-S6: staff of the school."), "put": _op(
        "set_timetable", "Расписание класса", "structure", body="SetTimetableRequest",
        params=[_path_id(description="Class id")], ok=(200, "Timetable", "The class's week in the period"),
        errors=(400, 403, 404, 409, 422),
        description="R-S6: scheduler, admin. 409 TIMETABLE_CONFLICT when a teacher or a room would be in two "
                    "places at once (details.conflicts lists every clash).")},
    f"{P}/plans": {"post": _op(
        "create_plan", "Календарно-тематический план", "structure", body="CreatePlanRequest",
        ok=(201, "Plan", "Created"), errors=(400, 403, 404, 409, 422),
        description="R-J8: the teacher assigned to the class and subject, deputy, admin; one plan per class, "
                    "subject and period (409 ALREADY_EXISTS).")},
    f"{P}/plans/coverage": {"get": _op(
        "plan_coverage", "Выполнение программы", "structure", params=[
            _query("period_id", ID, "The period", required=True),
            _query("class_id", ID, "Only this class"),
            _query("teacher_id", ID, "Only this teacher's plans"),
        ], ok=(200, "Coverage", "Taught vs planned per plan"), errors=(400, 403, 404),
        description="R-J8, R-R7: lessons taught (1 lesson = 1 hour) vs hours planned; behind = fewer than "
                    "planned pro rata by today. Administration: all; class teacher: their class; "
                    "teacher: their own plans.")},
    f"{P}/imports/lessons": {"post": _op(
        "import_lessons", "Перенос уроков из бумажного журнала", "structure", body="ImportLessonsRequest",
        params=[IDEMPOTENCY_KEY], ok=(200, "LessonImport", "Imported; late and overdue by the paper entry's day"),
        errors=(400, 403, 404, 409, 422),
        description="Admin only. For a school moving from the paper journal mid-year: lessons already held, "
                    "each with the teacher who taught it and recorded_on, the day of its paper entry. Every "
                    "lesson is stored and published (lesson_recorded) with imported=true and recorded_on; late "
                    "and overdue are computed from recorded_on as R-J5 computes them from the entry day; the "
                    "real moment of the import stays in entered_at. Only past lessons (422 VALIDATION_ERROR for "
                    "today or later). The first bad lesson refuses the whole request, with details.row; the same "
                    "checks as POST /lessons otherwise: 404 for a class, subject, subgroup or teacher the school "
                    "does not have (details.field lessons[i].<field>), 403 NOT_ASSIGNED for a teacher who does "
                    "not keep that journal (a substitute with substitute_for may), 422 LESSON_OUTSIDE_PERIOD for "
                    "a date outside every period of the class's year, 422 otherwise.")},
    f"{P}/imports/students": {"post": {**_op(
        "import_students", "Загрузка учеников и родителей", "structure", params=[
            _query("class_id", ID, "The class the students are admitted to", required=True),
            _query("order_no", ORDER_NO, "The admission order", required=True),
            _query("on", DATE, "The admission date", required=True), PREFER_ASYNC,
        ], ok=(200, "ImportResult", "Imported (applied) or refused with every bad row (not applied)"),
        errors=(400, 403, 404, 422),
        description="R-S2: admin, the class's class teacher. CSV (UTF-8, ; or ,) or XLSX, as a multipart "
                    "'file' field or the raw body. Columns: ФИО ученика, дата рождения, пол, логин ученика, "
                    "ФИО родителя, e-mail родителя, логин родителя, кем приходится. All or nothing: with any bad row "
                    "the answer has applied=false and errors [{row, message}] for every one, and nothing is "
                    "written; importing the same file again changes nothing. 400 when the file cannot be read; "
                    "503 IMPORT_INCOMPLETE when identity failed half-way (import the same file again). With Prefer: "
                    "respond-async: 202 and a job (GET /jobs/{id}) whose result is this answer; the class, the "
                    "caller and the file are checked at once (400, 403, 404, 422); a job whose worker stopped "
                    "half-way fails JOB_INTERRUPTED (import the same file again)."),
        "requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}}}}}},
    f"{P}/jobs/{{id}}": {"get": _op(
        "get_job", "Состояние длительной работы", "structure", params=[_path_id(description="Job id")],
        ok=(200, "Job", "The job now"), errors=(403, 404),
        description="A job started with Prefer: respond-async (a student import, a year close) or a report's "
                    "files (POST /reports/{kind}/files; result.files): its status, "
                    "progress (done of total at stage) and, once over, result (done) or error (failed: the "
                    "error body the synchronous call would have answered, JOB_INTERRUPTED or JOB_FAILED). Poll about once "
                    "a second. The one who started it and the school's administration; anyone else 404. An "
                    "import's initial passwords are in the result for the one who started it only. Jobs are "
                    "kept as long as Idempotency-Key answers (EJOURNAL_IDEMPOTENCY_KEEP_DAYS).")},
}
for _path in (f"{P}/years/{{id}}/close", f"{P}/imports/students"):
    PATHS[_path]["post"]["responses"]["202"] = {
        "description": "Prefer: respond-async: the job started (GET /jobs/{id} in Location)",
        "content": {"application/json": {"schema": _ref("JobStarted")}}}
    PATHS[_path]["post"]["responses"] = dict(sorted(PATHS[_path]["post"]["responses"].items()))
