"""The reports page (R-R): a form (kind, year, period, month, class) for the
administration, class teachers and teachers; the chosen report's tables on
screen, drawn from its printable ``document`` (the same one the PDF and the
XLSX are made of), and links to download them (``/reports/<kind>/<pdf|xlsx>``,
with the portal's session, streamed from reports as the API route does).

The page asks the central access decision of ``GET /reports/{kind}`` for
the class, then calls the reports service exactly as the API route does.
Which classes the form offers: every class of the year to the
administration, the own classes (taught or led) to the others; a class
outside them is refused by the decision anyway."""
from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

from flask import current_app, g, jsonify, redirect, render_template, request, url_for

from ejournal.reports.v1 import reports_pb2

from gateway import errors, guard, openapi, report_files
from gateway.api import REPORT_TIMEOUT
from gateway.context import call_ctx, current_clients
from gateway.errors import ApiError
from gateway.portal import bp, core
from gateway.portal.texts import REPORT_KINDS, T
from gateway.portal.views_teacher import ident

ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
LIST_LIMIT = 200
FORMATS = ("pdf", "xlsx")


# the kinds about a month (no period) and the period choice that means "by month"
MONTH_KINDS = frozenset({"journal-monitoring", "user-activity"})
BY_MONTH = "month"


def fetch(kind: str, params: dict) -> dict:
    """The report as the API route builds it: reports' ``report`` RPC with
    the same parameters."""
    return current_clients().rpc("reports", "report", call_ctx(), kind, params)


def available_kinds() -> list[tuple[str, str]]:
    return [(kind, REPORT_KINDS.get(kind, kind)) for kind in openapi.REPORT_KINDS]


def may_see_reports(principal) -> bool:
    return principal is not None and principal.has(*guard.ROUTES["GET /reports/{kind}"].roles)


def _rpc(method: str, *args):
    return current_clients().rpc("journal", method, call_ctx(), *args)


def _years() -> list[dict]:
    core.allow("GET /years")
    return _rpc("list_years", {"limit": LIST_LIMIT})["items"]


def _classes(year_id: str | None) -> list[dict]:
    """The classes of the year the signed-in user may ask reports of."""
    core.allow("GET /classes")
    query = {"limit": LIST_LIMIT, **({"year_id": year_id} if year_id else {})}
    items = _rpc("list_classes", query)["items"]
    if g.principal.has(*guard.ADMINISTRATION):
        return items
    from gateway.portal.views_teacher import class_teacher_of, my_classes
    own = {row["class"]["id"] for row in my_classes()} | set(class_teacher_of())
    return [c for c in items if c["id"] in own]


def _today() -> dt.date:
    return dt.datetime.now(current_app.config["SETTINGS"].timezone).date()


def _current(items: list[dict], today: dt.date) -> dict | None:
    """The item whose dates hold today, else the first."""
    for item in items:
        if item.get("starts_on", "") <= today.isoformat() <= item.get("ends_on", ""):
            return item
    return items[0] if items else None


def _arg(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    if not ID.match(value):
        raise ApiError(404, "NOT_FOUND")
    return value


# -- the document on screen --------------------------------------------------

def _decimal(value, places: int) -> str:
    number = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return format(number, "f").replace(".", ",")


def cell(value, type_: str = "text") -> str:
    """A value as the printed document shows it: decimal comma, percent
    sign, dd.mm.yyyy; None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, (int, float)):
        if type_ == "number" and isinstance(value, int):
            return str(value)  # a count in a column of numbers
        if type_ == "number":
            return _decimal(value, 2)
        if type_ == "percent":
            return _decimal(value, 1) + "%"
        if type_ == "int" and float(value).is_integer():
            return str(int(value))
        return _decimal(value, 2).rstrip("0").rstrip(",")
    if type_ == "date":
        try:
            return dt.date.fromisoformat(str(value)[:10]).strftime("%d.%m.%Y")
        except ValueError:
            return str(value)
    return str(value)


@bp.app_template_filter("report_cell")
def _report_cell(value, type_="text"):
    return cell(value, type_)


def _screen_sections(document: dict) -> list[dict]:
    """Sections with what the template needs: column labels, row cells,
    the chart's values as shares of its largest one."""
    out = []
    for section in document.get("sections") or []:
        entry = {"title": section.get("title"), "note": section.get("note"), "table": None, "chart": None}
        table = section.get("table")
        if table and table.get("columns"):
            columns = table["columns"]
            entry["table"] = {
                "columns": columns,
                "rows": [[(cell(row.get(c["key"]), c.get("type", "text")), c) for c in columns]
                         for row in table.get("rows") or []],
                "totals": [(cell(table["totals"].get(c["key"]), c.get("type", "text")), c) for c in columns]
                if table.get("totals") else None,
                "cards": len(columns) <= 4,
            }
        chart = section.get("chart")
        if chart and chart.get("labels"):
            series = [s for s in chart.get("series") or [] if isinstance(s, dict)]
            top = max((v for s in series for v in s.get("values") or [] if isinstance(v, (int, float))), default=0)
            entry["chart"] = {"title": chart.get("title"), "labels": chart["labels"], "max": top or 1,
                              "series": [{"name": s.get("name"), "values": s.get("values") or []} for s in series]}
        out.append(entry)
    return out


def download_links(kind: str, query: dict) -> list[tuple[str, str]]:
    """(format label, the portal's download address) of the report's files."""
    clean = {k: v for k, v in query.items() if v}
    return [(fmt.upper(), f"{url_for('portal.report_file', kind=kind, fmt=fmt)}?{urlencode(clean)}")
            for fmt in FORMATS]


def files_url(kind: str, query: dict) -> str:
    """Where the report's form for its files as a job posts (the same query)."""
    clean = {k: v for k, v in query.items() if v}
    return f"{url_for('portal.start_report_files', kind=kind)}?{urlencode(clean)}"


# -- a report's files as a job (POST /reports/{kind}/files): a progress page, then the links -----------------

@bp.post("/reports/<kind>/files")
@core.page
def start_report_files(kind):
    """Start the report's PDF and XLSX as a job of the reports service and
    land on its progress page."""
    if kind not in openapi.REPORT_KINDS or not may_see_reports(g.principal):
        raise ApiError(404, "NOT_FOUND")
    params = {name: _arg(name) for name in ("class_id", "period_id", "year_id")}
    month = (request.args.get("month") or "").strip()
    if month and not MONTH.match(month):
        raise ApiError(400, "VALIDATION_ERROR", T["report_bad_month"])
    core.allow("POST /reports/{kind}/files", params["class_id"])
    started = current_clients().rpc("reports", "start_report_files", call_ctx(), kind,
                                    {**params, "month": month or None})
    return redirect(url_for("portal.report_job", job_id=started["job_id"]), 303)


def _report_job(job_id: str) -> dict:
    job_id = ident(job_id)
    if not may_see_reports(g.principal):
        raise ApiError(404, "NOT_FOUND")
    core.allow("GET /jobs/{id}", job_id)
    return current_clients().rpc("reports", "get_job", call_ctx(), job_id)


@bp.get("/reports/jobs/<job_id>")
@core.page
def report_job(job_id):
    """The job's progress, polled (static/admin_ops.js); once done, its files' links."""
    from gateway.portal.views_admin_ops import job_state

    job = _report_job(job_id)
    files = (job.get("result") or {}).get("files") or []
    links = [(f["format"].upper(), url_for("portal.report_job_file", job_id=job["id"], fmt=f["format"]), f)
             for f in files if job.get("status") == "done"]
    return render_template("portal/report_job.html", job=job, state=job_state(job), links=links,
                           status_url=url_for("portal.report_job_status", job_id=job["id"]))


@bp.get("/reports/jobs/<job_id>/status")
@core.page
def report_job_status(job_id):
    from gateway.portal.views_admin_ops import job_state

    return jsonify(job_state(_report_job(job_id)))


@bp.get("/reports/jobs/<job_id>/<fmt>")
@core.page
def report_job_file(job_id, fmt):
    """A done job's file with the portal's session, as a download."""
    if fmt not in FORMATS:
        raise ApiError(404, "NOT_FOUND")
    job = _report_job(job_id)
    return report_files.archive_response(
        current_clients().rpc("reports", "job_file", call_ctx(), job["id"], fmt))


@bp.get("/reports/<kind>/<fmt>")
@core.page
def report_file(kind, fmt):
    """A report's PDF or XLSX for the signed-in user, as ``GET /reports/{kind}``
    serves it (the same central decision, reports' document stream), always
    as a download."""
    if kind not in openapi.REPORT_KINDS or fmt not in FORMATS or not may_see_reports(g.principal):
        raise ApiError(404, "NOT_FOUND")
    params = {name: _arg(name) for name in ("class_id", "period_id", "year_id")}
    month = (request.args.get("month") or "").strip()
    if month and not MONTH.match(month):
        raise ApiError(400, "VALIDATION_ERROR", T["report_bad_month"])
    core.allow("GET /reports/{kind}", params["class_id"])
    p = g.principal
    stream = current_clients().reports.Document(reports_pb2.DocumentRequest(
        actor_id=p.user_id, school_id=p.school_id or "", roles=list(p.roles), kind=kind, format=fmt,
        month=month, **{name: value or "" for name, value in params.items()}), timeout=REPORT_TIMEOUT)
    first = next(stream)  # a refused report fails here: the error page
    return report_files.response(first, stream, attachment=True)


def _archives(year: dict | None) -> list[dict] | None:
    """The year's archived class journals for the administration, else None."""
    if not g.principal.has(*guard.ROUTES["GET /archives"].roles):
        return None
    core.allow("GET /archives")
    return current_clients().rpc("reports", "list_archives", call_ctx(), year["id"] if year else None)["items"]


@bp.get("/reports/archives/<id>/<fmt>")
@core.page
def archive_file(id, fmt):
    """An archived class journal's PDF or XLSX, as ``GET /archives/{id}/file``."""
    if fmt not in FORMATS or not ID.match(id):
        raise ApiError(404, "NOT_FOUND")
    core.allow("GET /archives/{id}/file")
    return report_files.archive_response(
        current_clients().rpc("reports", "archive_file", call_ctx(), id, fmt))


# -- the page -----------------------------------------------------------------

def report_params(kind: str, year: dict | None, period: str | None, class_id: str | None,
                  month: str | None) -> dict:
    """The API query of the report chosen in the form (without format)."""
    params: dict = {"class_id": class_id or None}
    if kind in MONTH_KINDS or period == BY_MONTH:
        params["month"] = month
    elif year is not None and period == year["id"]:
        params["year_id"] = year["id"]
    else:
        params["period_id"] = period
    return {k: v for k, v in params.items() if v}


@bp.get("/reports")
@core.page
def reports():
    if not may_see_reports(g.principal):
        raise ApiError(404, "NOT_FOUND")
    kinds = available_kinds()
    kind = request.args.get("kind") or None
    if kind is not None and kind not in openapi.REPORT_KINDS:
        raise ApiError(404, "NOT_FOUND")
    year_list = _years()
    today = _today()
    year_id = _arg("year")
    year = next((y for y in year_list if y["id"] == year_id), None) if year_id else _current(year_list, today)
    if year_id and year is None:
        raise ApiError(404, "NOT_FOUND")
    periods = (year or {}).get("periods") or []
    period_id = request.args.get("period") if request.args.get("period") == BY_MONTH else _arg("period")
    class_id = _arg("class")
    administration = g.principal.has(*guard.ADMINISTRATION)
    # a period or class of another year: the year was just changed, so the
    # form is drawn again with this year's choices before any report is read
    stale = False
    if year is not None and period_id not in {year["id"], BY_MONTH, *(p["id"] for p in periods)}:
        stale = period_id is not None
        period_id = (_current(periods, today) or year)["id"]
    classes = _classes(year["id"] if year else None)
    if class_id is not None and class_id not in {c["id"] for c in classes}:
        stale, class_id = True, None
    all_chosen = administration and "class" in request.args and not request.args.get("class")
    if class_id is None and classes and not all_chosen:  # the administration may ask for all classes
        class_id = classes[0]["id"]
    month = (request.args.get("month") or "").strip() or None
    chosen = {"kind": kind or "progress", "year": year["id"] if year else None,
              "period": period_id, "class": class_id, "month": month or today.strftime("%Y-%m")}
    context = {"kinds": kinds, "years": year_list, "year": year, "periods": periods, "classes": classes,
               "all_classes": administration, "by_month": BY_MONTH, "chosen": chosen, "document": None,
               "sections": [], "links": [], "error": None, "archives": _archives(year)}
    if kind is None or stale:
        context["refreshed"] = stale
        return render_template("portal/reports.html", **context)

    if month is not None and not MONTH.match(month):
        context["error"] = T["report_bad_month"]
        return render_template("portal/reports.html", **context), 400
    params = report_params(kind, year, period_id, class_id, month)
    core.allow("GET /reports/{kind}", class_id)
    try:
        report = fetch(kind, params)
    except Exception as exc:  # noqa: BLE001 - a refusal is shown beside the form, the rest as error pages
        found = errors.map_exception(exc)
        if found is None or found.status not in (400, 409, 422):
            raise
        context["error"] = found.message
        return render_template("portal/reports.html", **context), found.status
    document = report.get("document") if isinstance(report.get("document"), dict) else None
    if document is None:
        context["error"] = T["report_not_available"]
        return render_template("portal/reports.html", **context), 422
    context.update(document=document, sections=_screen_sections(document), links=download_links(kind, params),
                   files_url=files_url(kind, params))
    return render_template("portal/reports.html", **context)
