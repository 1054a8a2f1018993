"""The administrator's operations pages: backups (the catalogue with its
targets, verified and drilled; the schedule; start one; run a restore
drill; download the archive), the access log and the audit with filters.

Only the administrator sees them (anyone else: the 404 page); each page then
asks the central decision of the API route serving the same data, and calls
the service as that route does.

Long work shows its progress: a started backup and a running drill each have
a status page (with an «Обновить» link, so it works without script) and a
small JSON status that static/admin_ops.js polls (so do the import's and the
year close's progress pages: :func:`job_state`, :func:`admin_job_status`). A backup's progress is its
catalogue row. A drill is one long RPC: the portal runs it on a background
thread of this process and answers at once; its outcome is read back from
the catalogue (``drilled_at`` later than the drill's start), so a status
request served by another process reads the same answer."""
from __future__ import annotations

import contextvars
import datetime as dt
import logging
import threading

from flask import jsonify, redirect, render_template, request, url_for

from gateway import api
from gateway.context import call_ctx, current_clients
from gateway.errors import ApiError
from gateway.portal import bp, core
from gateway.portal.texts import AUDIT_ACTIONS, AUDIT_FIELDS, BACKUP_TARGET_KINDS, ROLE_NAMES, T
from gateway.portal.views_admin import _gate, _notice, _users
from gateway.portal.views_teacher import ident

log = logging.getLogger("gateway.portal")

PAGE = 50  # rows of the access log and the audit per step of «Показать ещё»
MAX_ROWS = 500  # what the API gives at most in one answer
CATALOGUE_PAGES = 10  # how far the status of one backup looks into the catalogue (100 rows a page)
NAMES_LIMIT = 200
# after this long without an outcome in the catalogue a drill is reported as unanswered
DRILL_GIVE_UP = dt.timedelta(seconds=api.DRILL_TIMEOUT + 60)

# drills this process started that failed before the backup service kept an outcome: (backup id, start) -> text
_DRILL_ERRORS: dict[tuple[str, str], str] = {}
_DRILL_ERRORS_LOCK = threading.Lock()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _moment(value) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


# -- backups -------------------------------------------------------------------------------------------

def _catalogue(limit: int = 100, cursor: str | None = None) -> dict:
    return current_clients().rpc("backup", "list_backups", call_ctx(), limit, cursor)


def _backup(backup_id: str) -> dict:
    """One backup's catalogue row (there is no RPC for one), or the 404 page."""
    cursor = None
    for _ in range(CATALOGUE_PAGES):
        page = _catalogue(100, cursor)
        found = next((b for b in page["items"] if b["id"] == backup_id), None)
        if found is not None:
            return found
        cursor = page.get("next_cursor")
        if not cursor:
            break
    raise ApiError(404, "NOT_FOUND")


def backup_state(backup: dict) -> dict:
    """What the status page and its JSON say about a backup."""
    status = backup.get("status")
    if status == "running":
        return {"done": False, "ok": None, "text": T["ops_backup_running"]}
    if status == "done":
        return {"done": True, "ok": True, "text": T["ops_backup_done"]}
    return {"done": True, "ok": False, "text": T["ops_backup_failed"].format(backup.get("error") or "—")}


def drill_state(backup: dict, since: dt.datetime) -> dict:
    """A drill started at ``since``: its outcome once the catalogue keeps one
    later than that, an error this process saw, or still running (until
    DRILL_GIVE_UP)."""
    drilled = _moment(backup.get("drilled_at"))
    if drilled is not None and drilled >= since:
        if backup.get("drill_ok"):
            return {"done": True, "ok": True, "text": T["ops_drill_ok"]}
        return {"done": True, "ok": False, "text": T["ops_drill_failed"]}
    with _DRILL_ERRORS_LOCK:
        error = _DRILL_ERRORS.get((backup["id"], since.isoformat()))
    if error is not None:
        return {"done": True, "ok": False, "text": T["ops_drill_error"].format(error)}
    if _now() - since > DRILL_GIVE_UP:
        return {"done": True, "ok": False, "text": T["ops_drill_unanswered"]}
    return {"done": False, "ok": None, "text": T["ops_drill_running"]}


def job_of(job_id: str, reveal: bool = True) -> dict:
    """A job as GET /jobs/{id} answers it (the journal's: its starter and the
    administration; anyone else's is the 404 page). A done import's initial
    passwords come once, to a page that shows them (``reveal``), never to
    the progress poll."""
    core.allow("GET /jobs/{id}", job_id)
    return current_clients().rpc("journal", "get_job", call_ctx(), job_id, reveal)


def job_of_kind(job_id: str, kind: str) -> tuple[dict, dict]:
    """The journal's job ``job_id`` of ``kind`` (another kind is the 404
    page) and what its page says of it (:func:`job_state`)."""
    job = job_of(job_id)
    if job.get("kind") != kind:
        raise ApiError(404, "NOT_FOUND")
    return job, job_state(job)


def job_state(job: dict) -> dict:
    """What a progress page and its JSON say about a job: the stage in
    words, done of total (``value`` of ``max``; a stage that has not counted
    its items yet is 0 of 1), over or not."""
    done, total = int(job.get("done") or 0), int(job.get("total") or 0)
    bar = {"value": min(done, total), "max": total} if total else {"value": 0, "max": 1}
    if job.get("status") == "done":
        return {"done": True, "ok": True, "text": T["job_done"], **bar}
    if job.get("status") == "failed":
        error = (job.get("error") or {}).get("message") or "—"
        return {"done": True, "ok": False, "text": T["job_failed"].format(error), **bar}
    stage = T.get(f"job_stage_{job.get('stage')}", T["job_stage_running"])
    counted = total and job.get("stage") not in ("queued", "started")
    text = T["job_progress"].format(stage, done, total) if counted else f"{stage}."
    return {"done": False, "ok": None, "text": text, **bar}


@bp.get("/admin/jobs/<job_id>/status")
@core.page
def admin_job_status(job_id):
    """The JSON a progress page polls (static/admin_ops.js)."""
    job_id = ident(job_id)
    _gate("GET /jobs/{id}")
    return jsonify(job_state(job_of(job_id, reveal=False)))


@bp.get("/admin/backups")
@core.page
def admin_backups():
    _gate("GET /backups")
    cursor = request.args.get("cursor") or None
    page = _catalogue(PAGE, cursor)
    core.allow("GET /backups/schedule")
    schedule = current_clients().rpc("backup", "backup_schedule", call_ctx())
    more = url_for("portal.admin_backups", cursor=page["next_cursor"]) if page.get("next_cursor") else None
    return render_template("portal/admin/backups.html", backups=page["items"], schedule=schedule, more_url=more,
                           target_kinds=BACKUP_TARGET_KINDS,
                           running=any(b.get("status") == "running" for b in page["items"]))


@bp.post("/admin/backups")
@core.page
def admin_start_backup():
    _gate("POST /backups")
    started = current_clients().rpc("backup", "request_backup", call_ctx())
    return redirect(url_for("portal.admin_backup", backup_id=started["id"]), 303)


@bp.get("/admin/backups/<backup_id>")
@core.page
def admin_backup(backup_id):
    backup_id = ident(backup_id)
    _gate("GET /backups")
    backup = _backup(backup_id)
    return render_template("portal/admin/backup.html", backup=backup, state=backup_state(backup),
                           status_url=url_for("portal.admin_backup_status", backup_id=backup_id))


@bp.get("/admin/backups/<backup_id>/status")
@core.page
def admin_backup_status(backup_id):
    backup_id = ident(backup_id)
    _gate("GET /backups")
    return jsonify(backup_state(_backup(backup_id)))


def _since() -> dt.datetime:
    since = _moment(request.args.get("since"))
    if since is None:
        raise ApiError(404, "NOT_FOUND")
    return since


def _run_drill(clients, ctx: dict, backup_id: str, key: tuple[str, str]) -> None:
    """The drill's RPC on a background thread; a refusal or a failure before
    the backup service kept an outcome is remembered for the status page."""
    try:
        clients.rpc("backup", "restore_drill", ctx, backup_id, timeout=api.DRILL_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - shown on the status page
        from gateway import errors
        found = errors.map_exception(exc)
        message = found.message if found is not None and found.status < 500 else T["unavailable"]
        if found is None or found.status >= 500:
            log.warning("restore drill of backup %s did not answer: %s", backup_id, exc)
        with _DRILL_ERRORS_LOCK:
            oldest = (_now() - DRILL_GIVE_UP).isoformat()
            for stale in [k for k in _DRILL_ERRORS if k[1] < oldest]:  # past DRILL_GIVE_UP nobody asks
                del _DRILL_ERRORS[stale]
            _DRILL_ERRORS[key] = message


@bp.post("/admin/backups/<backup_id>/drill")
@core.page
def admin_start_drill(backup_id):
    backup_id = ident(backup_id)
    _gate("POST /backups/{id}/restore-drill")
    backup = _backup(backup_id)
    if backup.get("status") != "done":
        _notice(T["ops_drill_needs_done"])
        return redirect(url_for("portal.admin_backups"), 303)
    since = _now().replace(microsecond=0)
    key = (backup_id, since.isoformat())
    worker = threading.Thread(target=contextvars.copy_context().run,
                              args=(_run_drill, current_clients(), call_ctx(), backup_id, key),
                              name=f"portal-drill-{backup_id}", daemon=True)
    worker.start()
    return redirect(url_for("portal.admin_drill", backup_id=backup_id, since=since.isoformat()), 303)


@bp.get("/admin/backups/<backup_id>/drill")
@core.page
def admin_drill(backup_id):
    backup_id = ident(backup_id)
    _gate("GET /backups")
    since = _since()
    backup = _backup(backup_id)
    return render_template("portal/admin/drill.html", backup=backup, state=drill_state(backup, since),
                           since=since, status_url=url_for("portal.admin_drill_status", backup_id=backup_id,
                                                           since=since.isoformat()))


@bp.get("/admin/backups/<backup_id>/drill/status")
@core.page
def admin_drill_status(backup_id):
    backup_id = ident(backup_id)
    _gate("GET /backups")
    return jsonify(drill_state(_backup(backup_id), _since()))


@bp.get("/admin/backups/<backup_id>/archive")
@core.page
def admin_backup_archive(backup_id):
    """The archive as ``GET /backups/{id}/archive`` streams it (still encrypted)."""
    backup_id = ident(backup_id)
    _gate("GET /backups/{id}/archive")
    return api.download_backup(backup_id)


# -- the access log and the audit -------------------------------------------------------------------

def _rows() -> int:
    try:
        rows = int(request.args.get("rows") or PAGE)
    except ValueError:
        rows = PAGE
    return min(max(rows, PAGE), MAX_ROWS)


def _date(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", T["ops_bad_date"]) from None


def _person() -> tuple[str | None, list[dict], str]:
    """The user a log is filtered by: ``?user=<id>``, or the one user a
    ``?who=`` search finds; the candidates when it finds several."""
    user_id = ident(request.args.get("user"), required=False)
    who = (request.args.get("who") or "").strip()[:100]
    if user_id or not who:
        return user_id, [], who
    found = _users(None, who)
    if len(found) == 1:
        return found[0]["id"], [], who
    return None, found, who


def _names() -> dict[str, str]:
    """Names of the school's users for the logs (the first NAMES_LIMIT; others show their id)."""
    return {u["id"]: u["full_name"] for u in _users()[:NAMES_LIMIT]}


def _more(rows: int, shown: int) -> str | None:
    if shown < rows or rows >= MAX_ROWS:
        return None
    args = {k: v for k, v in request.args.items() if k != "rows" and v}
    return url_for(request.endpoint, rows=min(rows + PAGE, MAX_ROWS), **args)


@bp.get("/admin/access-log")
@core.page
def admin_access_log():
    _gate("GET /access-log")
    rows = _rows()
    first, last = _date("from"), _date("to")
    user_id, candidates, who = _person()
    items = []
    if not candidates and not (who and user_id is None):
        items = current_clients().rpc("identity", "list_access", call_ctx(), user_id, first, last, rows)["items"]
    return render_template("portal/admin/access_log.html", items=items, names=_names(), user_id=user_id, who=who,
                           candidates=candidates, first=first or "", last=last or "", more_url=_more(rows, len(items)),
                           nobody=bool(who) and user_id is None and not candidates)


def audit_state(state) -> str:
    """An audit record's state before or after its action, in words:
    «роли: учитель, классный руководитель», «согласие: дано»; a field the
    page does not know is shown as it is kept."""
    if state is None:
        return "—"
    if not isinstance(state, dict):
        return str(state)
    parts = []
    for key, value in state.items():
        if key == "roles" and isinstance(value, list):
            value = ", ".join(ROLE_NAMES.get(r, str(r)) for r in value) or T["audit_no_roles"]
        elif key == "given" and isinstance(value, bool):
            value = T["audit_given"] if value else T["audit_withdrawn"]
        elif value is None:
            value = "—"
        parts.append(f"{AUDIT_FIELDS.get(key, key)}: {value}")
    return "; ".join(parts) or "—"


bp.add_app_template_filter(audit_state, "audit_state")


@bp.get("/admin/audit")
@core.page
def admin_audit():
    _gate("GET /audit")
    rows = _rows()
    first, last = _date("from"), _date("to")
    action = (request.args.get("action") or "").strip()[:60] or None
    user_id, candidates, who = _person()
    items = []
    if not candidates and not (who and user_id is None):
        items = current_clients().rpc("identity", "list_audit", call_ctx(), user_id, action, rows,
                                      from_date=first, to_date=last)["items"]
    return render_template("portal/admin/audit.html", items=items, names=_names(), user_id=user_id, who=who,
                           candidates=candidates, action=action or "", first=first or "", last=last or "",
                           more_url=_more(rows, len(items)),
                           nobody=bool(who) and user_id is None and not candidates,
                           actions=list(AUDIT_ACTIONS.items()))

