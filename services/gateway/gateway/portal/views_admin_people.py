"""The administrator's pages about people over the year: resetting a
password with its printable letter (PDF), a class's students with their
subgroups, parents and consent, admission to a class, a student's
movements (transfer, departure, by order) and closing the year with its
promotion summary shown before the order is confirmed.

The same rules as views_admin: the administrator only (anyone else gets
the 404 page), then the central decision of the API route serving the
same data, then that route's one service call with its body checked
against the same OpenAPI schema. A new password is shown on the reset's
answer only; its letter is drawn from what that page sends back, never
from anything kept."""
from __future__ import annotations

import re

from flask import redirect, render_template, request, url_for

from gateway.errors import ApiError
from gateway.portal import bp, core
from gateway.portal.letters import password_letter
from gateway.portal.texts import T_PEOPLE
from gateway.portal.views_admin import _classes, _gate, _invalid, _notice, _subjects, _users, _years
from gateway.portal.views_teacher import LIST_LIMIT, ident, rpc, today

FAMILY_ROLES = ("student", "parent")
PASSWORD_MAX = 64
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# -- a password reset and its letter -----------------------------------------------------------------

@bp.post("/admin/users/<user_id>/password-reset")
@core.page
def admin_user_reset(user_id):
    user_id = ident(user_id)
    _gate("POST /users/{id}/password-reset", user_id)
    user = rpc("get_user", user_id, service="identity")
    try:
        made = rpc("reset_password", user_id, service="identity")
    except Exception as exc:  # noqa: BLE001 - a refusal (one's own password) is shown on the user card
        from gateway.portal.views_admin import _user_page
        return _user_page(user_id, core.message_of(exc), 400)
    # the new password is on this answer only: never kept in the session
    return render_template("portal/admin/reset.html", user=user, login=made["login"],
                           password=made["initial_password"], family=_family(user))


def _family(user: dict) -> bool:
    return any(r in FAMILY_ROLES for r in user.get("roles") or [])


@bp.post("/admin/users/<user_id>/letter")
@core.page
def admin_user_letter(user_id):
    user_id = ident(user_id)
    _gate("POST /users/{id}/password-reset", user_id)
    password = request.form.get("password", "")
    kind = request.form.get("kind", "user")
    if not password or len(password) > PASSWORD_MAX or not password.isprintable() or kind not in ("user", "family"):
        raise ApiError(400, "VALIDATION_ERROR", T_PEOPLE["letter_bad"])
    user = rpc("get_user", user_id, service="identity")
    family = kind == "family"
    if family and not _family(user):
        raise ApiError(400, "VALIDATION_ERROR", T_PEOPLE["letter_bad"])
    pdf = password_letter(full_name=user["full_name"], login=user["login"], password=password,
                          address=url_for("portal.home", _external=True), family=family,
                          child="student" in (user.get("roles") or []))
    name = f"letter-{'family-' if family else ''}{user['login']}.pdf"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    return pdf, 200, {"Content-Type": "application/pdf", "Content-Disposition": f'attachment; filename="{safe}"',
                      "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


# -- a class's students: subgroups, parents' consent, admission --------------------------------------

def _class_of(class_id: str) -> tuple[dict, dict]:
    years = _years()
    year_id = ident(request.values.get("year"), required=True)
    year = next((y for y in years if y["id"] == year_id), None)
    klass = next((c for c in _classes(year_id) if c["id"] == class_id), None) if year else None
    if klass is None:
        raise ApiError(404, "NOT_FOUND")
    return year, klass


def _class_page(class_id: str, message: str | None = None, status: int = 200, form: dict | None = None):
    _gate("GET /classes/{id}/students", class_id)
    year, klass = _class_of(class_id)
    page = rpc("list_class_students", class_id, {"limit": LIST_LIMIT})
    students = page["items"]
    if page.get("families") and students:
        found = rpc("class_families", class_id, [s["id"] for s in students], service="identity")
        for s in students:
            s["parents"] = (found.get(s["id"]) or {}).get("parents", [])
    groups: dict = {}
    for s in students:
        for grp in s.get("subgroups") or []:
            groups.setdefault(grp["id"], {**grp, "students": []})["students"].append(s["full_name"])
    core.allow("GET /subjects")
    core.allow("GET /users")
    enrolled = {s["id"] for s in students}
    candidates = [u for u in _users("student") if u["id"] not in enrolled]
    blank = {"subject_id": "", "name": "", "student_ids": [], "student_id": "", "order_no": "",
             "on": today().isoformat()}
    return render_template("portal/admin/class_people.html", year=year, klass=klass, students=students,
                           subgroups=sorted(groups.values(), key=lambda x: (x.get("subject") or "", x["name"])),
                           subjects=_subjects(), candidates=candidates, form={**blank, **(form or {})},
                           message=message, today=today().isoformat()), status


@bp.get("/admin/classes/<class_id>/students")
@core.page
def admin_class_people(class_id):
    return _class_page(ident(class_id))


def _back_to_class(class_id: str):
    return redirect(url_for("portal.admin_class_people", class_id=class_id, year=request.values.get("year")), 303)


@bp.post("/admin/classes/<class_id>/subgroups")
@core.page
def admin_create_subgroup(class_id):
    class_id = ident(class_id)
    _gate("POST /classes/{id}/subgroups", class_id)
    form = {"subject_id": request.form.get("subject_id", ""), "name": request.form.get("name", "").strip(),
            "student_ids": request.form.getlist("student_ids")}
    if not form["student_ids"]:
        return _class_page(class_id, T_PEOPLE["subgroup_need_students"], 400, form)
    refused = _invalid("CreateSubgroupRequest", form)
    if refused:
        return _class_page(class_id, refused, 400, form)
    try:
        made = rpc("create_subgroup", class_id, form)
    except Exception as exc:  # noqa: BLE001 - a refusal is shown beside the form
        return _class_page(class_id, core.message_of(exc), 400, form)
    _notice(T_PEOPLE["subgroup_created"].format(made.get("name") or form["name"], len(form["student_ids"])))
    return _back_to_class(class_id)


@bp.post("/admin/classes/<class_id>/admission")
@core.page
def admin_admit(class_id):
    class_id = ident(class_id)
    _gate("POST /classes/{id}/students", class_id)
    form = {k: request.form.get(k, "").strip() for k in ("student_id", "order_no", "on")}
    refused = _invalid("EnrollStudentRequest", form)
    if refused:
        return _class_page(class_id, refused, 400, form)
    try:
        rpc("enroll_student", class_id, form)
    except Exception as exc:  # noqa: BLE001
        return _class_page(class_id, core.message_of(exc), 400, form)
    _year, klass = _class_of(class_id)
    _notice(T_PEOPLE["admitted"].format(klass["name"]))
    return _back_to_class(class_id)


@bp.post("/admin/parents/<parent_id>/consent")
@core.page
def admin_consent(parent_id):
    parent_id = ident(parent_id)
    class_id = ident(request.form.get("class_id"))
    _gate("PUT /parents/{id}/consent", parent_id)
    given = {"yes": True, "no": False}.get(request.form.get("given", ""))
    signed_on = request.form.get("signed_on", "").strip()
    if given is None or not DATE.match(signed_on):
        _gate("GET /classes/{id}/students", class_id)
        return _class_page(class_id, T_PEOPLE["consent_bad"], 400)
    data = {"given": given, "signed_on": signed_on}
    refused = _invalid("ConsentRequest", data)
    if refused:
        return _class_page(class_id, refused, 400)
    try:
        rpc("record_consent", parent_id, given, signed_on, service="identity")
    except Exception as exc:  # noqa: BLE001
        return _class_page(class_id, core.message_of(exc), 400)
    from gateway.portal.helpers import ru_date
    _notice(T_PEOPLE["consent_saved"].format(T_PEOPLE["consent_given" if data["given"] else "consent_withdrawn"],
                                             ru_date(signed_on)))
    return _back_to_class(class_id)


# -- a student's movements ---------------------------------------------------------------------------

def _student_page(student_id: str, message: str | None = None, status: int = 200, form: dict | None = None):
    _gate("GET /students/{id}/movements", student_id)
    year, klass = _class_of(ident(request.values.get("class")))
    student = rpc("get_user", student_id, service="identity")
    history = rpc("list_movements", student_id)["items"]
    names = {c["id"]: c["name"] for c in _classes(None)}
    others = [c for c in _classes(year["id"]) if c["id"] != klass["id"]]
    blank = {"to_class_id": "", "order_no": "", "on": today().isoformat(), "reason": ""}
    return render_template("portal/admin/student.html", year=year, klass=klass, student=student, history=history,
                           years={y["id"]: y["name"] for y in _years()}, names=names, others=others,
                           form={**blank, **(form or {})}, message=message), status


@bp.get("/admin/students/<student_id>")
@core.page
def admin_student(student_id):
    return _student_page(ident(student_id))


def _movement(student_id: str, kind: str):
    student_id = ident(student_id)
    _gate(f"POST /students/{{id}}/{kind}", student_id)
    f = request.form
    form = {"order_no": f.get("order_no", "").strip(), "on": f.get("on", "").strip()}
    if kind == "transfer":
        form["to_class_id"] = f.get("to_class_id", "")
        schema, method = "TransferRequest", "transfer_student"
    else:
        if f.get("reason", "").strip():
            form["reason"] = f.get("reason", "").strip()
        schema, method = "DepartureRequest", "record_departure"
    if not form["order_no"] or not form["on"]:
        return _student_page(student_id, T_PEOPLE["need_order"], 400, form)
    refused = _invalid(schema, form)
    if refused:
        return _student_page(student_id, refused, 400, form)
    try:
        rpc(method, student_id, form)
    except Exception as exc:  # noqa: BLE001
        return _student_page(student_id, core.message_of(exc), 400, form)
    if kind == "transfer":
        target = next((c for c in _classes(None) if c["id"] == form["to_class_id"]), {})
        _notice(T_PEOPLE["transferred"].format(target.get("name", ""), form["order_no"]))
        return redirect(url_for("portal.admin_student", student_id=student_id, year=request.values.get("year"),
                                **{"class": form["to_class_id"]}), 303)
    _notice(T_PEOPLE["departed"].format(form["order_no"]))
    return redirect(url_for("portal.admin_student", student_id=student_id, year=request.values.get("year"),
                            **{"class": request.values.get("class")}), 303)


@bp.post("/admin/students/<student_id>/transfer")
@core.page
def admin_transfer(student_id):
    return _movement(student_id, "transfer")


@bp.post("/admin/students/<student_id>/departure")
@core.page
def admin_departure(student_id):
    return _movement(student_id, "departure")


# -- closing the year: the summary first, then the order -------------------------------------------

def _held_back() -> list[str]:
    """The students the form keeps back for the grade again (well-formed ids, each once)."""
    held: list[str] = []
    for value in request.values.getlist("held"):
        if ident(value) not in held:
            held.append(value)
    return held


def _rosters(year_id: str) -> list[dict]:
    """The year's classes with their students, for choosing who repeats the grade."""
    rosters = []
    for klass in _classes(year_id):
        students = rpc("list_class_students", klass["id"], {"limit": LIST_LIMIT})["items"]
        rosters.append({"class": klass, "students": students})
    return rosters


def _close_page(year_id: str, message: str | None = None, status: int = 200, form: dict | None = None,
                result: dict | None = None, state: dict | None = None, status_url: str | None = None):
    years = _years()
    year = next((y for y in years if y["id"] == year_id), None)
    if year is None:
        raise ApiError(404, "NOT_FOUND")
    promote = (form or {}).get("promote", request.values.get("promote", "yes")) != "no"
    held = _held_back() if promote else []
    preview, refused, rosters = None, None, []
    # while the close runs its preview would wait for the year it locks
    if result is None and state is None and not year.get("closed"):
        try:
            preview = rpc("preview_year_close", year_id, {"promote": promote, "held_back": held})
        except Exception as exc:  # noqa: BLE001 - e.g. no next year to promote into: said on the page
            refused = core.message_of(exc)
        rosters = _rosters(year_id) if promote else []
    return render_template("portal/admin/year_close.html", year=year, years={y["id"]: y["name"] for y in years},
                           preview=preview, refused=refused, result=result, promote=promote, held=held,
                           rosters=rosters, form={"order_no": "", "early": False, **(form or {})},
                           message=message, state=state, status_url=status_url), status


@bp.get("/admin/years/<year_id>/close")
@core.page
def admin_year_close(year_id):
    year_id = ident(year_id)
    _gate("GET /years/{id}/close-preview", year_id)
    return _close_page(year_id)


@bp.post("/admin/years/<year_id>/close")
@core.page
def admin_close_year(year_id):
    year_id = ident(year_id)
    _gate("POST /years/{id}/close", year_id)
    form = {"order_no": request.form.get("order_no", "").strip(), "early": request.form.get("early") == "yes",
            "promote": "no" if request.form.get("promote") == "no" else "yes"}
    data = {"order_no": form["order_no"], "promote": form["promote"] == "yes", "early": form["early"],
            "held_back": _held_back() if form["promote"] == "yes" else []}
    refused = _invalid("CloseYearRequest", data)
    if refused:
        return _close_page(year_id, refused, 400, form)
    try:
        # POST /years/{id}/close with Prefer: respond-async: a job, its progress on the next page
        started = rpc("start_close_year", year_id, data)
    except Exception as exc:  # noqa: BLE001 - e.g. YEAR_NOT_ENDED without early: the summary stays in view
        from gateway import errors
        found = errors.map_exception(exc)
        message = core.message_of(exc)
        if found is not None and found.code == "YEAR_NOT_ENDED":
            from gateway.portal.helpers import ru_date
            message = T_PEOPLE["close_need_early"].format(ru_date(found.details.get("ends_on") or ""))
        return _close_page(year_id, message, 422 if found is not None and found.status == 422 else 400, form)
    return redirect(url_for("portal.admin_close_job", year_id=year_id, job_id=started["job_id"]), 303)


@bp.get("/admin/years/<year_id>/close/jobs/<job_id>")
@core.page
def admin_close_job(year_id, job_id):
    """A year close's progress, polled; once over, the archive and promotion
    summary the form used to answer, or the refusal beside the form."""
    year_id, job_id = ident(year_id), ident(job_id)
    _gate("POST /years/{id}/close", year_id)
    from gateway.portal.views_admin_ops import job_of_kind
    job, state = job_of_kind(job_id, "close_year")
    if job["status"] == "failed":
        return _close_page(year_id, state["text"], 200)
    if job["status"] != "done":
        return _close_page(year_id, None, 200, state=state,
                           status_url=url_for("portal.admin_job_status", job_id=job_id))
    result = job.get("result") or {}
    years = _years()
    year = next((y for y in years if y["id"] == year_id), {"name": ""})
    _notice(T_PEOPLE["year_closed"].format(year.get("name", ""), result.get("order_no") or ""))
    return _close_page(year_id, None, 200, result=result)

