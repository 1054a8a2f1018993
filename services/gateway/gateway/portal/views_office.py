"""The school office's pages: for the director and the deputy director a
start page (the reports, the monthly journal monitoring with its late
entries and late final marks), the students at risk per class, the plan
coverage per teacher and the correction histories (R-J7) of a lesson's
attendance and of its marks; for whoever may publish (the director, the
deputy, the secretary, the news editor) the form publishing news and
announcements with links to documents.

Anyone else gets the 404 page. Each page asks the central decision of the
API route serving the same data (core.allow), then calls the service as
that route does."""
from __future__ import annotations

import datetime as dt

from flask import g, redirect, render_template, request, url_for

from gateway import convert, guard
from gateway.errors import ApiError
from gateway.portal import bp, core
from gateway.portal.texts import T
from gateway.portal.views_admin import _chosen_year, _classes, _invalid, _notice, _subjects, _years
from gateway.portal.grid_rows import RISK_REASONS
from gateway.portal.views_teacher import LIST_LIMIT, ident, rpc, today

OFFICE_ROLES = ("director", "deputy")
NAME_PAGES, NAMES_PAGE = 10, 100  # the coverage reads at most ten pages of a hundred names
LINK_ROWS = 3  # links to documents on the news form; empty rows are left out


def is_office(principal) -> bool:
    return principal is not None and principal.has(*OFFICE_ROLES)


def may_publish(principal) -> bool:
    return principal is not None and principal.has(*guard.ROUTES["POST /news"].roles)


def _gate(route_key: str, resource_id: str | None = None) -> None:
    """The director or the deputy only (anyone else: the 404 page), then the
    API route's own central decision."""
    if not is_office(g.principal):
        raise ApiError(404, "NOT_FOUND")
    core.allow(route_key, resource_id)


def _chosen_class(classes: list[dict]) -> dict | None:
    """The class asked for (``?class=``) among the year's, else its first: a
    class of another year is left behind when the year was just changed."""
    asked = ident(request.args.get("class"), required=False)
    return next((c for c in classes if c["id"] == asked), classes[0] if classes else None)


def _period(year: dict | None) -> dict | None:
    """The period asked for (``?period=``; the year's id means the year), else
    the one holding today (also when the asked one is another year's: the
    year was just changed)."""
    if year is None:
        return None
    periods = year.get("periods") or []
    asked = ident(request.args.get("period"), required=False)
    if asked == year["id"]:
        return {"id": year["id"], "name": f"{year['name']} (год)"}
    found = next((p for p in periods if p["id"] == asked), None)
    if found is not None:
        return found
    now = today().isoformat()
    return next((p for p in periods if p["starts_on"] <= now <= p["ends_on"]), periods[0] if periods else None)


@bp.app_context_processor
def _office_context():
    """Whether the news page offers the publishing form; the month the
    class teacher's activity link opens."""
    if request.blueprint != "portal":
        return {}
    return {"may_publish": may_publish(g.get("principal")), "this_month": today().strftime("%Y-%m")}


@bp.get("/office")
@core.page
def office_home():
    _gate("GET /reports/{kind}")
    return render_template("portal/office/home.html", month=today().strftime("%Y-%m"),
                           publish=may_publish(g.principal))


def _staff_names() -> dict[str, str]:
    """Names of the people the signed-in user may write to (the director and
    the deputy: the school's staff), as ``GET /messages/recipients`` lists
    them: the office cannot list the school's users (``GET /users``)."""
    core.allow("GET /messages/recipients")
    names, cursor = {}, None
    for _ in range(NAME_PAGES):
        page = rpc("recipients", None, NAMES_PAGE, cursor, service="messaging")
        names.update({p["id"]: p["full_name"] for p in page["items"]})
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return names


# -- students at risk --------------------------------------------------------------------------------

@bp.get("/office/at-risk")
@core.page
def office_at_risk():
    _gate("GET /classes")
    years = _years()
    year = _chosen_year(years)
    classes = _classes(year["id"]) if year else []
    chosen = _chosen_class(classes)
    period = _period(year)
    answer = None
    if chosen is not None and period is not None:
        core.allow("GET /classes/{id}/at-risk", chosen["id"])
        answer = rpc("students_at_risk", chosen["id"], period["id"])
    subjects = {s["id"]: s["name"] for s in _subjects()}
    return render_template("portal/office/at_risk.html", years=years, year=year, classes=classes, chosen=chosen,
                           period=period, items=(answer or {}).get("items") or [], subjects=subjects,
                           reasons=RISK_REASONS)


# -- plan coverage ---------------------------------------------------------------------------------

@bp.get("/office/coverage")
@core.page
def office_coverage():
    _gate("GET /years")
    years = _years()
    year = _chosen_year(years)
    period = _period(year)
    teacher_id = ident(request.args.get("teacher"), required=False)
    items, teachers = [], []
    names = _staff_names()
    if period is not None:
        core.allow("GET /plans/coverage")
        items = rpc("plan_coverage", period["id"], None, None)["items"]
        teachers = sorted({(names.get(i["teacher_id"]) or i["teacher_id"], i["teacher_id"]) for i in items})
        if teacher_id:
            items = rpc("plan_coverage", period["id"], None, teacher_id)["items"]
    by_teacher: dict = {}
    for item in items:
        by_teacher.setdefault(item.get("teacher_id"), []).append(item)
    groups = sorted(by_teacher.items(), key=lambda kv: names.get(kv[0]) or kv[0] or "")
    return render_template("portal/office/coverage.html", years=years, year=year, period=period,
                           teachers=teachers, teacher_id=teacher_id or "", groups=groups, names=names)


# -- correction histories (R-J7) -----------------------------------------------------------------------

@bp.get("/office/lessons")
@core.page
def office_lessons():
    """A class's lessons of a week, to open a lesson's histories."""
    _gate("GET /classes")
    years = _years()
    year = _chosen_year(years)
    classes = _classes(year["id"]) if year else []
    chosen = _chosen_class(classes)
    try:
        asked = dt.date.fromisoformat(request.args["week"]) if request.args.get("week") else today()
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", T["bad_week"]) from None
    monday, sunday = convert.week_of(asked)
    lessons = []
    if chosen is not None:
        core.allow("GET /classes/{id}/lessons", chosen["id"])
        lessons = rpc("list_class_lessons", chosen["id"], {"from": monday.isoformat(), "to": sunday.isoformat(),
                                                           "limit": LIST_LIMIT})["items"]
    return render_template("portal/office/lessons.html", years=years, year=year, classes=classes, chosen=chosen,
                           lessons=lessons, monday=monday, sunday=sunday,
                           prev_week=(monday - dt.timedelta(days=7)).isoformat(),
                           next_week=(monday + dt.timedelta(days=7)).isoformat())


@bp.get("/office/lessons/<lesson_id>")
@core.page
def office_lesson(lesson_id):
    """A lesson's marks (each with a link to its history) and every version of its attendance."""
    lesson_id = ident(lesson_id)
    _gate("GET /lessons/{id}/attendance-history")
    core.allow("GET /lessons/{id}", lesson_id)
    lesson = rpc("get_lesson", lesson_id)
    history = rpc("lesson_attendance_history", lesson_id, {"limit": LIST_LIMIT})["items"]
    return render_template("portal/office/lesson.html", lesson=lesson, history=history)


@bp.get("/office/marks/<mark_id>")
@core.page
def office_mark(mark_id):
    mark_id = ident(mark_id)
    _gate("GET /marks/{id}/history", mark_id)
    history = rpc("mark_history", mark_id)
    back = ident(request.args.get("lesson"), required=False)
    return render_template("portal/office/mark.html", versions=history["items"], verified=history["verified"],
                           lesson_id=back)


# -- news and announcements --------------------------------------------------------------------------

def _news_page(message: str | None = None, status: int = 200, form: dict | None = None):
    if not may_publish(g.principal):
        raise ApiError(404, "NOT_FOUND")
    core.allow("POST /news")
    p = g.principal
    kinds = [k for k, roles in (("news", ("director", "deputy", "news_editor")),
                                ("announcement", ("director", "deputy", "secretary"))) if p.has(*roles)]
    classes = _classes(None) if p.has(*guard.ADMINISTRATION) or p.has("secretary", "news_editor") else []
    blank = {"title": "", "body": "", "kind": kinds[0], "audience": "school", "class_id": "",
             "links": [{"title": "", "url": ""} for _ in range(LINK_ROWS)]}
    return render_template("portal/office/news_form.html", kinds=kinds, classes=classes, form=form or blank,
                           message=message), status


@bp.get("/news/new")
@core.page
def news_form():
    return _news_page()


@bp.post("/news/new")
@core.page
def publish_news():
    if not may_publish(g.principal):
        raise ApiError(404, "NOT_FOUND")
    core.allow("POST /news")
    f = request.form
    links = [{"title": t.strip(), "url": u.strip()} for t, u in zip(f.getlist("link_title"), f.getlist("link_url"))]
    form = {"title": f.get("title", "").strip(), "body": f.get("body", "").strip(), "kind": f.get("kind") or "",
            "audience": f.get("audience") or "school", "class_id": f.get("class_id") or "",
            "links": (links + [{"title": "", "url": ""}] * LINK_ROWS)[:max(LINK_ROWS, len(links))]}
    audience = {"school": {"school": True}, "staff": {"staff": True},
                "class": {"class_id": form["class_id"]}, "parents": {"parents_of_class": form["class_id"]}}
    if form["audience"] not in audience or (form["audience"] in ("class", "parents") and not form["class_id"]):
        return _news_page(T["news_bad_audience"], 400, form)
    if any(bool(l["title"]) != bool(l["url"]) for l in links):
        return _news_page(T["news_bad_link"], 400, form)
    data = {"title": form["title"], "body": form["body"], "audience": audience[form["audience"]],
            "links": [l for l in links if l["title"]], **({"kind": form["kind"]} if form["kind"] else {})}
    refused = _invalid("PostNewsRequest", data)
    if refused:
        return _news_page(refused, 400, form)
    try:
        rpc("post_news", data, service="messaging")
    except Exception as exc:  # noqa: BLE001 - a refusal is shown beside the form
        return _news_page(core.message_of(exc), 400, form)
    _notice(T["news_published"])
    return redirect(url_for("portal.news"), 303)
