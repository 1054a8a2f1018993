"""The administrator's pages: the school's users (search, create with
several roles and the initial password shown once, change roles, unlock a
login), the school year with its periods, classes with their class
teachers, subjects with their emphasis, and teachers' assignments.

Only the administrator sees them: anyone else gets the 404 page on every
address here. Each page then asks the central decision of the API route
serving the same data (core.allow), and each write is the one service call
that route makes, its body checked against the same OpenAPI schema first.
None of these API routes takes an Idempotency-Key: a resent create is
refused by the service as a duplicate (a taken login, an existing class)."""
from __future__ import annotations

import base64
import re

from flask import g, redirect, render_template, request, url_for

from gateway.errors import ApiError
from gateway.portal import bp, core
from gateway.portal.texts import PERIOD_KINDS, ROLE_NAMES, T
from gateway.portal.views_teacher import LIST_LIMIT, ident, rpc
from gateway.validation import problems

ADMIN_ROLE = "admin"
PERIOD_ROWS = 4  # a year's periods on the form: up to four quarters; empty rows are left out
PERIOD_CHOICES = ("quarter", "trimester", "half_year")
SEARCH_MAX = 100
GRADE = re.compile(r"^\d{1,2}$")


def is_admin(principal) -> bool:
    return principal is not None and principal.has(ADMIN_ROLE)


def _gate(route_key: str, resource_id: str | None = None) -> None:
    """The administrator only (anyone else: the 404 page), then the API
    route's own central decision."""
    if not is_admin(g.principal):
        raise ApiError(404, "NOT_FOUND")
    core.allow(route_key, resource_id)


def _invalid(schema: str, data: dict) -> str | None:
    """The Russian message for a body the API would refuse, or None."""
    found = problems(schema, data)
    if not found:
        return None
    return core.message_of(ApiError(400, "VALIDATION_ERROR", details={"problems": found}))


def _notice(message: str) -> None:
    core.current_session().put("notice", message)


def _users(role: str | None = None, q: str | None = None) -> list[dict]:
    """The school's users as GET /users lists them (identity's list_users)."""
    return rpc("list_users", q, role, LIST_LIMIT, None, service="identity")["items"]


def _years() -> list[dict]:
    return rpc("list_years", {"limit": LIST_LIMIT})["items"]


def _subjects() -> list[dict]:
    return rpc("list_subjects", {"limit": LIST_LIMIT})["items"]


def _classes(year_id: str | None) -> list[dict]:
    return rpc("list_classes", {"limit": LIST_LIMIT, **({"year_id": year_id} if year_id else {})})["items"]


def _latest(years: list[dict]) -> dict | None:
    """The open year that starts last, else the last one."""
    open_years = [y for y in years if not y.get("closed")] or years
    return max(open_years, key=lambda y: y.get("starts_on") or "") if open_years else None


def _chosen_year(years: list[dict]) -> dict | None:
    """The year asked for (``?year=``, else the latest); 404 for one the school does not have."""
    asked = ident(request.values.get("year"), required=False)
    year = next((y for y in years if y["id"] == asked), None) if asked else _latest(years)
    if asked and year is None:
        raise ApiError(404, "NOT_FOUND")
    return year


# -- the section's start page ------------------------------------------------------------------------

@bp.get("/admin")
@core.page
def admin_home():
    _gate("GET /years")
    return render_template("portal/admin/home.html")


# -- users -------------------------------------------------------------------------------------------

def _users_page(message: str | None = None, status: int = 200, form: dict | None = None,
                created: dict | None = None):
    _gate("GET /users")
    q = (request.args.get("q") or "").strip()[:SEARCH_MAX] or None
    role = request.args.get("role") or None
    if role is not None and role not in ROLE_NAMES:
        role = None
    users = _users(role, q)
    return render_template("portal/admin/users.html", users=users, q=q or "", role=role or "",
                           roles=list(ROLE_NAMES.items()), message=message, form=form or {"roles": []},
                           created=created), status


@bp.get("/admin/users")
@core.page
def admin_users():
    return _users_page()


@bp.post("/admin/users")
@core.page
def admin_create_user():
    _gate("POST /users")
    form = {"login": request.form.get("login", "").strip(), "full_name": request.form.get("full_name", "").strip(),
            "roles": [r for r in request.form.getlist("roles") if r in ROLE_NAMES],
            "email": request.form.get("email", "").strip() or None}
    data = {k: v for k, v in form.items() if v is not None}
    if not form["roles"]:
        return _users_page(T["admin_no_roles"], 400, form)
    refused = _invalid("CreateUserRequest", data)
    if refused:
        return _users_page(refused, 400, form)
    try:
        made = rpc("create_user", data, service="identity")
    except Exception as exc:  # noqa: BLE001 - a refusal is shown beside the form
        return _users_page(core.message_of(exc), 400, form)
    # the generated password is shown on this answer only: never kept in the session
    return _users_page(None, 201, None, created={**made, "full_name": form["full_name"], "roles": form["roles"]})


def _user_page(user_id: str, message: str | None = None, status: int = 200):
    _gate("GET /users/{id}", user_id)
    user = rpc("get_user", user_id, service="identity")
    return render_template("portal/admin/user.html", user=user, roles=list(ROLE_NAMES.items()),
                           own=user_id == g.principal.user_id, message=message), status


@bp.get("/admin/users/<user_id>")
@core.page
def admin_user(user_id):
    return _user_page(ident(user_id))


@bp.post("/admin/users/<user_id>/roles")
@core.page
def admin_user_roles(user_id):
    user_id = ident(user_id)
    _gate("PUT /users/{id}/roles", user_id)
    roles = [r for r in request.form.getlist("roles") if r in ROLE_NAMES]
    if not roles:
        return _user_page(user_id, T["admin_no_roles"], 400)
    try:
        rpc("set_roles", user_id, roles, service="identity")
    except Exception as exc:  # noqa: BLE001
        return _user_page(user_id, core.message_of(exc), 400)
    _notice(T["admin_roles_saved"].format(", ".join(ROLE_NAMES[r] for r in roles)))
    return redirect(url_for("portal.admin_user", user_id=user_id), 303)


@bp.post("/admin/users/<user_id>/unlock")
@core.page
def admin_user_unlock(user_id):
    user_id = ident(user_id)
    _gate("POST /users/{id}/unlock", user_id)
    try:
        answer = rpc("unlock_login", user_id, service="identity")
    except Exception as exc:  # noqa: BLE001
        return _user_page(user_id, core.message_of(exc), 400)
    _notice(T["admin_unlocked"].format(answer.get("cleared") or 0))
    return redirect(url_for("portal.admin_user", user_id=user_id), 303)


# -- the school year and its periods -----------------------------------------------------------------

def _years_page(message: str | None = None, status: int = 200, form: dict | None = None):
    _gate("GET /years")
    blank = {"name": "", "starts_on": "", "ends_on": "",
             "periods": [{"name": "", "kind": "quarter", "starts_on": "", "ends_on": ""} for _ in range(PERIOD_ROWS)]}
    return render_template("portal/admin/years.html", years=_years(), form=form or blank,
                           kinds=[(k, PERIOD_KINDS[k]) for k in PERIOD_CHOICES], message=message), status


@bp.get("/admin/years")
@core.page
def admin_years():
    return _years_page()


@bp.post("/admin/years")
@core.page
def admin_open_year():
    _gate("POST /years")
    f = request.form
    rows = [{"name": f.get(f"period-{i}-name", "").strip(), "kind": f.get(f"period-{i}-kind", ""),
             "starts_on": f.get(f"period-{i}-starts_on", ""), "ends_on": f.get(f"period-{i}-ends_on", "")}
            for i in range(PERIOD_ROWS)]
    form = {"name": f.get("name", "").strip(), "starts_on": f.get("starts_on", ""), "ends_on": f.get("ends_on", ""),
            "periods": rows}
    # a row with neither a name nor dates is an unused row of the form
    periods = [r for r in rows if r["name"] or r["starts_on"] or r["ends_on"]]
    if not periods:
        return _years_page(T["admin_no_periods"], 400, form)
    data = {**form, "periods": periods}
    refused = _invalid("OpenYearRequest", data)
    if refused:
        return _years_page(refused, 400, form)
    try:
        year = rpc("open_year", data)
    except Exception as exc:  # noqa: BLE001
        return _years_page(core.message_of(exc), 400, form)
    _notice(T["admin_year_opened"].format(year.get("name") or form["name"], len(year.get("periods") or periods)))
    return redirect(url_for("portal.admin_years"), 303)


# -- classes -----------------------------------------------------------------------------------------

def _classes_page(message: str | None = None, status: int = 200, form: dict | None = None):
    _gate("GET /classes")
    years = _years()
    year = _chosen_year(years)
    core.allow("GET /users")
    teachers = _users("class_teacher")
    return render_template("portal/admin/classes.html", years=years, year=year,
                           classes=_classes(year["id"]) if year else [], teachers=teachers,
                           form=form or {"grade": "", "letter": "", "class_teacher_id": ""},
                           message=message), status


@bp.get("/admin/classes")
@core.page
def admin_classes():
    return _classes_page()


@bp.post("/admin/classes")
@core.page
def admin_create_class():
    _gate("POST /classes")
    grade = request.form.get("grade", "").strip()
    form = {"year_id": request.form.get("year", ""), "letter": request.form.get("letter", "").strip().upper(),
            "class_teacher_id": request.form.get("class_teacher_id", ""), "grade": grade}
    if not GRADE.match(grade):
        return _classes_page(T["admin_bad_grade"], 400, form)
    data = {**form, "grade": int(grade)}
    refused = _invalid("CreateClassRequest", data)
    if refused:
        return _classes_page(refused, 400, form)
    try:
        made = rpc("create_class", data)
    except Exception as exc:  # noqa: BLE001
        return _classes_page(core.message_of(exc), 400, form)
    _notice(T["admin_class_created"].format(made.get("name") or f"{grade}{form['letter']}"))
    return redirect(url_for("portal.admin_classes", year=form["year_id"]), 303)


# -- subjects ----------------------------------------------------------------------------------------

def _subjects_page(message: str | None = None, status: int = 200, form: dict | None = None):
    _gate("GET /subjects")
    return render_template("portal/admin/subjects.html", subjects=_subjects(),
                           form=form or {"name": "", "emphasis": ""}, message=message), status


def _emphasis(value: str):
    return {"yes": True, "no": False}.get(value)


@bp.get("/admin/subjects")
@core.page
def admin_subjects():
    return _subjects_page()


@bp.post("/admin/subjects")
@core.page
def admin_create_subject():
    _gate("POST /subjects")
    form = {"name": request.form.get("name", "").strip(), "emphasis": request.form.get("emphasis", "")}
    data = {"name": form["name"]}
    if _emphasis(form["emphasis"]) is not None:
        data["emphasis"] = _emphasis(form["emphasis"])
    refused = _invalid("CreateSubjectRequest", data)
    if refused:
        return _subjects_page(refused, 400, form)
    try:
        made = rpc("create_subject", data)
    except Exception as exc:  # noqa: BLE001
        return _subjects_page(core.message_of(exc), 400, form)
    _notice(T["admin_subject_created"].format(made.get("name") or form["name"]))
    return redirect(url_for("portal.admin_subjects"), 303)


@bp.post("/admin/subjects/<subject_id>")
@core.page
def admin_update_subject(subject_id):
    subject_id = ident(subject_id)
    _gate("PATCH /subjects/{id}", subject_id)
    emphasis = _emphasis(request.form.get("emphasis", ""))
    if emphasis is None:
        raise ApiError(400, "VALIDATION_ERROR", T["bad_request"])
    try:
        made = rpc("update_subject", subject_id, {"emphasis": emphasis})
    except Exception as exc:  # noqa: BLE001
        return _subjects_page(core.message_of(exc), 400)
    _notice(T["admin_emphasis_on" if emphasis else "admin_emphasis_off"].format(made.get("name") or ""))
    return redirect(url_for("portal.admin_subjects"), 303)


# -- teachers' assignments ---------------------------------------------------------------------------

def _assignments_page(message: str | None = None, status: int = 200, form: dict | None = None):
    _gate("GET /classes")
    years = _years()
    year = _chosen_year(years)
    core.allow("GET /users")
    core.allow("GET /subjects")
    return render_template("portal/admin/assignments.html", years=years, year=year,
                           classes=_classes(year["id"]) if year else [], subjects=_subjects(),
                           teachers=_users("teacher"),
                           form=form or {"teacher_id": "", "class_id": "", "subject_id": "", "hours_per_week": ""},
                           message=message), status


@bp.get("/admin/assignments")
@core.page
def admin_assignments():
    return _assignments_page()


@bp.post("/admin/assignments")
@core.page
def admin_assign():
    if not is_admin(g.principal):
        raise ApiError(404, "NOT_FOUND")
    form = {k: request.form.get(k, "").strip() for k in ("teacher_id", "class_id", "subject_id", "hours_per_week")}
    hours = form["hours_per_week"].replace(",", ".")
    try:
        number = float(hours)
    except ValueError:
        return _assignments_page(T["admin_bad_hours"], 400, form)
    data = {**form, "hours_per_week": int(number) if number.is_integer() else number}
    refused = _invalid("AssignTeacherRequest", data)
    if refused:
        return _assignments_page(refused, 400, form)
    _gate("POST /assignments", data["class_id"])
    try:
        rpc("assign_teacher", data)
    except Exception as exc:  # noqa: BLE001
        return _assignments_page(core.message_of(exc), 400, form)
    _notice(T["admin_assigned"])
    return redirect(url_for("portal.admin_assignments", year=request.values.get("year") or None), 303)



# -- a class's timetable -----------------------------------------------------------------------------

WEEKDAYS_SHORT = ((1, "Понедельник"), (2, "Вторник"), (3, "Среда"), (4, "Четверг"), (5, "Пятница"), (6, "Суббота"))
SPARE_ROWS = 6  # empty rows under a class's week for new lessons
MAX_SLOTS = 100


def _timetable_context(class_id: str) -> dict:
    """The class (in the year asked), its year's periods, the period asked
    (else the one holding today, else the first), subjects and teachers."""
    years = _years()
    year_id = ident(request.values.get("year"), required=True)
    year = next((y for y in years if y["id"] == year_id), None)
    klass = next((c for c in _classes(year_id) if c["id"] == class_id), None) if year else None
    if klass is None or not year.get("periods"):
        raise ApiError(404, "NOT_FOUND")
    period_id = ident(request.values.get("period"), required=False)
    periods = year["periods"]
    if period_id is None:
        from gateway.portal.views_teacher import today
        now = today().isoformat()
        period = next((p for p in periods if p["starts_on"] <= now <= p["ends_on"]), periods[0])
    else:
        period = next((p for p in periods if p["id"] == period_id), None)
        if period is None:
            raise ApiError(404, "NOT_FOUND")
    core.allow("GET /subjects")
    core.allow("GET /users")
    teachers = {u["id"]: u for u in _users("teacher") + _users("class_teacher")}
    return {"year": year, "klass": klass, "period": period, "periods": periods, "subjects": _subjects(),
            "teachers": sorted(teachers.values(), key=lambda u: u["full_name"]), "weekdays": WEEKDAYS_SHORT}


def _rows(slots: list[dict]) -> list[dict]:
    blank = {"weekday": "", "number": "", "subject_id": "", "teacher_id": "", "room": ""}
    rows = [{k: "" if v is None else str(v) for k, v in {**blank, **s}.items() if k in blank} for s in slots]
    return rows + [dict(blank) for _ in range(min(SPARE_ROWS, MAX_SLOTS - len(rows)))]


def _conflict_text(conflict: dict, rows: list[dict], teachers: dict) -> str:
    kind = conflict.get("kind")
    other = conflict.get("with_slot")
    where = (T["admin_tt_other_class"].format(conflict["class_name"]) if conflict.get("class_name")
             else T["admin_tt_row"].format(other + 1) if isinstance(other, int) else "")
    if kind == "teacher":
        name = (teachers.get(conflict.get("teacher_id")) or {}).get("full_name") or T["admin_tt_the_teacher"]
        return T["admin_tt_teacher_busy"].format(name, where)
    if kind == "room":
        return T["admin_tt_room_busy"].format(conflict.get("room") or "", where)
    return T["admin_tt_class_busy"].format(where)


@bp.get("/admin/classes/<class_id>/timetable")
@core.page
def admin_timetable(class_id):
    class_id = ident(class_id)
    _gate("GET /classes/{id}/timetable", class_id)
    context = _timetable_context(class_id)
    week = rpc("get_timetable", class_id, context["period"]["id"])
    slots = sorted(week.get("slots") or [], key=lambda s: (s["weekday"], s["number"]))
    return render_template("portal/admin/timetable.html", rows=_rows(slots), conflicts={}, message=None,
                           **context)


@bp.post("/admin/classes/<class_id>/timetable")
@core.page
def admin_set_timetable(class_id):
    class_id = ident(class_id)
    _gate("PUT /classes/{id}/timetable", class_id)
    context = _timetable_context(class_id)
    f = request.form
    count = min(int(f.get("rows", "0")) if f.get("rows", "").isdigit() else 0, MAX_SLOTS)
    rows = [{k: f.get(f"slot-{i}-{k}", "").strip() for k in ("weekday", "number", "subject_id", "teacher_id", "room")}
            for i in range(count)]
    used = [r for r in rows if r["subject_id"] or r["teacher_id"] or r["room"]]
    slots, message = [], None
    for r in used:
        if not (r["weekday"].isdigit() and r["number"].isdigit()):
            message = T["admin_tt_bad_row"]
            break
        slots.append({"weekday": int(r["weekday"]), "number": int(r["number"]), "subject_id": r["subject_id"],
                      "teacher_id": r["teacher_id"], **({"room": r["room"]} if r["room"] else {})})
    data = {"period_id": context["period"]["id"], "slots": slots}
    message = message or _invalid("SetTimetableRequest", data)
    conflicts: dict = {}
    if message is None:
        try:
            rpc("set_timetable", class_id, data)
        except Exception as exc:  # noqa: BLE001 - a refusal (conflicts in place) is shown on the form
            from gateway import errors
            found = errors.map_exception(exc)
            message = core.message_of(exc)
            teachers = {t["id"]: t for t in context["teachers"]}
            for conflict in (found.details.get("conflicts") or []) if found else []:
                slot = conflict.get("slot")
                if isinstance(slot, int) and 0 <= slot < len(used):
                    conflicts.setdefault(slot, []).append(_conflict_text(conflict, used, teachers))
        else:
            _notice(T["admin_tt_saved"].format(context["klass"]["name"], len(slots)))
            return redirect(url_for("portal.admin_timetable", class_id=class_id, year=context["year"]["id"],
                                    period=context["period"]["id"]), 303)
    return render_template("portal/admin/timetable.html", rows=used + _rows([])[:max(0, SPARE_ROWS - 2)],
                           conflicts=conflicts, message=message, **context), 400 if not conflicts else 409


# -- students and parents of a class from a spreadsheet ----------------------------------------------

UPLOAD_SUFFIXES = (".csv", ".xlsx")


def _import_page(class_id: str, status: int = 200, message: str | None = None, result: dict | None = None,
                 form: dict | None = None, state: dict | None = None, status_url: str | None = None):
    years = _years()
    year_id = ident(request.values.get("year"), required=True)
    year = next((y for y in years if y["id"] == year_id), None)
    klass = next((c for c in _classes(year_id) if c["id"] == class_id), None) if year else None
    if klass is None:
        raise ApiError(404, "NOT_FOUND")
    from gateway.portal.views_teacher import today
    return render_template("portal/admin/import.html", year=year, klass=klass, message=message, result=result,
                           form=form or {"order_no": "", "on": today().isoformat()}, state=state,
                           status_url=status_url), status


@bp.get("/admin/classes/<class_id>/import")
@core.page
def admin_import(class_id):
    class_id = ident(class_id)
    _gate("POST /imports/students", class_id)
    return _import_page(class_id)


@bp.post("/admin/classes/<class_id>/import")
@core.page
def admin_run_import(class_id):
    class_id = ident(class_id)
    _gate("POST /imports/students", class_id)
    form = {"order_no": request.form.get("order_no", "").strip(), "on": request.form.get("on", "").strip()}
    upload = request.files.get("file")
    content = upload.read() if upload is not None else b""
    filename = (upload.filename or "") if upload is not None else ""
    if not content:
        return _import_page(class_id, 400, T["admin_import_no_file"], form=form)
    if not filename.lower().endswith(UPLOAD_SUFFIXES):
        return _import_page(class_id, 400, T["admin_import_bad_type"], form=form)
    if not form["order_no"] or not form["on"]:
        return _import_page(class_id, 400, T["admin_import_need_order"], form=form)
    data = {"content_b64": base64.b64encode(content).decode("ascii"), "filename": filename, "class_id": class_id,
            "order_no": form["order_no"], "on": form["on"]}
    try:
        # POST /imports/students with Prefer: respond-async: a job, its progress on the next page
        started = rpc("start_import_students", data)
    except Exception as exc:  # noqa: BLE001 - a refused file is shown beside the form
        return _import_page(class_id, 400, core.message_of(exc), form=form)
    # the order and the date go along: the form under a refused file keeps them
    return redirect(url_for("portal.admin_import_job", class_id=class_id, job_id=started["job_id"],
                            year=request.values.get("year"), **form), 303)


@bp.get("/admin/classes/<class_id>/import/jobs/<job_id>")
@core.page
def admin_import_job(class_id, job_id):
    """An import's progress, polled; once over, what the form used to answer:
    every bad row (nothing applied), the counts and the initial passwords
    (for the one who started it), or the refusal beside the form."""
    class_id, job_id = ident(class_id), ident(job_id)
    _gate("POST /imports/students", class_id)
    from gateway.portal.views_admin_ops import job_of_kind
    job, state = job_of_kind(job_id, "import_students")
    form = {name: request.args.get(name, "").strip() for name in ("order_no", "on")} if request.args.get("on") else None
    if job["status"] == "failed":
        return _import_page(class_id, 200, state["text"], form=form)
    if job["status"] != "done":
        return _import_page(class_id, 200, state=state,
                            status_url=url_for("portal.admin_job_status", job_id=job_id))
    result = job.get("result") or {}
    if not result.get("applied"):
        return _import_page(class_id, 200, T["admin_import_refused"].format(len(result.get("errors") or [])),
                            result=result, form=form)
    return _import_page(class_id, 200, None, result=result, form=form)
