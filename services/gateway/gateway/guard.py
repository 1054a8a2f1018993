"""The one place that decides, for every API route and before its view
runs, whether a request goes on, in this order:

1. who calls: a verified access token, else 401 (public routes skip it);
2. whether the caller may use the route, before anything else in the
   request is looked at (no 400 ever tells a caller who may not use a
   route that it exists or what it wants):
   - a route about one resource whose well-formed id is in the path, the
     query or the body asks identity's one access decision (Authorize) for
     it: 404 or 403 (docs/contracts.md "Access decisions");
   - otherwise (no such id, or a route about no single resource) the
     route's ``roles``, who may ever use it: 403 for anyone else;
3. text every database can keep: a NUL or a lone UTF-16 surrogate in a
   path value, a query value, a multipart name or any JSON string or key
   is 400 ``VALIDATION_ERROR`` naming the field; a body that is not JSON,
   or nests deeper than 64 levels, is 400 ``MALFORMED_JSON``;
4. the query and the JSON body against the OpenAPI document: 400.

:data:`ROUTES` says, per route, who may ever use it and which action on
which resource identity is asked about, with where the id comes from. Every
API route must have a row (checked when the app is built). Identity's
decision stays the source of truth: ``roles`` repeats only who may ever do
an action (tests/test_route_guard.py holds it to identity's policy and to
the school's access policy), and the owning services check again.

A resource identity has not heard of yet ("deferred": its event is on the
way) is left to its owning service. If the caller's role may never use the
route, an answer that would be 400 or 422 becomes 404 then, so that such a
caller learns nothing from a malformed request either.
"""
from __future__ import annotations

import collections
import functools
import threading
import time
from dataclasses import dataclass

from flask import current_app, g, request

from ejournal.identity.v1 import identity_pb2
from kernel import access_rules

from gateway import openapi
from gateway.auth import authenticate_request
from gateway.context import current_clients
from gateway.errors import ApiError
from gateway.validation import (
    broken_text, json_body, query_params, read_json, request_text_problems, validation_error,
)

# Who may ever use a route (identity.decisions.POLICY's roles for the actions it decides).
STAFF = frozenset(("admin", "director", "deputy", "class_teacher", "teacher", "secretary", "news_editor",
                   "scheduler"))
ADMIN = frozenset(("admin",))
ADMINISTRATION = frozenset(("admin", "director", "deputy"))
FAMILY_MANAGERS = frozenset(("admin", "class_teacher"))      # R-A2
JOURNAL_READERS = ADMINISTRATION | {"class_teacher", "teacher"}
# the journal's writers: the one table identity's decisions and the journal's checks read
JOURNAL_KEEPERS = access_rules.JOURNAL_KEEPERS
MARK_CORRECTORS = access_rules.MARK_CORRECTORS
NEWS_WRITERS = frozenset(("director", "deputy", "secretary", "news_editor"))  # R-M4


@dataclass(frozen=True)
class From:
    """Where a value of the request is: ``path``, ``query`` or ``body`` (a
    JSON field: a string, or a list of strings for several resources)."""
    place: str
    name: str


def path(name: str = "id") -> From:
    return From("path", name)


def query(name: str) -> From:
    return From("query", name)


def body(name: str) -> From:
    return From("body", name)


@dataclass(frozen=True)
class Route:
    """One route's access: ``roles`` who may ever use it (None: every
    signed-in user); ``action`` on ``resource`` asked of identity for the
    id ``id``, with ``context`` (e.g. the school subject) beside it."""
    roles: frozenset | None = None
    action: str | None = None
    resource: str | None = None
    id: From | None = None
    context: tuple = ()
    public: bool = False


def on(action: str, resource: str, where: From, roles: frozenset | None = None, **context: From) -> Route:
    return Route(roles=roles, action=action, resource=resource, id=where, context=tuple(sorted(context.items())))


PUBLIC = Route(public=True)
ANYONE = Route()

ROUTES = {
    # auth and people (identity)
    "POST /auth/login": PUBLIC,
    "POST /auth/refresh": PUBLIC,
    "POST /auth/logout": ANYONE,
    "GET /me": ANYONE,
    "PUT /me/password": ANYONE,
    "POST /me/totp": Route(STAFF),
    "POST /me/totp/confirm": Route(STAFF),
    "POST /users": Route(FAMILY_MANAGERS),
    "GET /users": Route(FAMILY_MANAGERS),  # identity.decisions.user_list_scope: the school or their families
    "GET /users/{id}": on("user.read", "user", path()),
    "PUT /users/{id}/roles": on("user.roles", "user", path(), ADMIN),
    "POST /users/{id}/unlock": on("user.unlock", "user", path(), ADMIN),
    "POST /users/{id}/password-reset": on("user.password_reset", "user", path(), ADMIN),
    "GET /audit": Route(ADMIN),
    "GET /access-log": Route(ADMIN),
    "GET /activity": Route(ADMINISTRATION),
    "POST /students/{id}/parents": on("student.link_parent", "student", path(), FAMILY_MANAGERS),
    "PUT /parents/{id}/consent": on("parent.consent", "user", path(), FAMILY_MANAGERS),
    # school structure (journal)
    "POST /years": Route(ADMIN),
    "POST /years/{id}/close": on("year.close", "year", path(), ADMIN),
    "GET /years/{id}/close-preview": on("year.close", "year", path(), ADMIN),
    "POST /subjects": Route(ADMIN),
    "PATCH /subjects/{id}": Route(ADMIN),
    "POST /classes": Route(ADMIN),
    "POST /classes/{id}/students": on("class.enrol", "class", path(), access_rules.ENROLLERS),
    "POST /assignments": on("class.assign", "class", body("class_id"), frozenset(("admin", "deputy"))),
    "POST /classes/{id}/subgroups": on("class.subgroups", "class", path(), access_rules.CLASS_SPLITTERS),
    "GET /classes/{id}/timetable": on("timetable.read", "class", path(), frozenset(openapi.ROLES) - {"news_editor"}),
    "PUT /classes/{id}/timetable": on("timetable.write", "class", path(), frozenset(("admin", "scheduler"))),
    "POST /plans": on("class.plan", "class", body("class_id"), access_rules.PLAN_WRITERS,
                      subject_id=body("subject_id")),
    "GET /plans/coverage": on("plan.coverage", "class", query("class_id"), JOURNAL_READERS),
    "POST /imports/students": on("class.import", "class", query("class_id"), access_rules.ENROLLERS),
    "POST /imports/lessons": Route(ADMIN),
    # who may start a job (an import, a year close, a report's files): its starter and the school's
    # administration see it, anyone else (and another school) the owning service's 404
    "GET /jobs/{id}": Route(JOURNAL_READERS),
    "GET /students/{id}/movements": on("student.movements", "student", path(), JOURNAL_READERS | {"secretary"}),
    "POST /students/{id}/transfer": on("student.move", "student", path(), ADMIN),
    "POST /students/{id}/departure": on("student.move", "student", path(), ADMIN),
    # the journal
    "POST /lessons": on("lesson.write", "class", body("class_id"), JOURNAL_KEEPERS, subject_id=body("subject_id"),
                        subgroup_id=body("subgroup_id"), substitute_for=body("substitute_for")),
    "PUT /lessons/{id}/marks": on("lesson.marks", "lesson", path(), JOURNAL_KEEPERS),
    "PUT /lessons/{id}/attendance": on("lesson.attendance", "lesson", path(), JOURNAL_KEEPERS),
    "PATCH /marks/{id}": on("mark.correct", "mark", path(), MARK_CORRECTORS),
    "DELETE /marks/{id}": on("mark.remove", "mark", path(), MARK_CORRECTORS),
    "GET /marks/{id}/history": on("mark.history", "mark", path(), STAFF),
    "GET /journal/verify": Route(ADMINISTRATION),
    "PUT /final-marks": on("final.write", "student", body("student_id"), access_rules.FINAL_WRITERS,
                           subject_id=body("subject_id")),
    "GET /students/{id}/diary": on("diary.read", "student", path()),
    "GET /students/{id}/forecast": on("diary.read", "student", path()),  # who sees the diary sees its forecast
    "GET /classes/{id}/journal": on("class.journal.read", "class", path(), JOURNAL_READERS,
                                    subject_id=query("subject_id")),
    "GET /classes/{id}/at-risk": on("report.read", "class", path(), JOURNAL_READERS),
    # the reads (gateway.api_journal_reads): who sees the class journal sees its students and lessons
    "GET /years": Route(STAFF),
    "GET /subjects": Route(STAFF),
    "GET /classes": Route(STAFF),
    "GET /classes/{id}/students": on("class.journal.read", "class", path(), JOURNAL_READERS),
    "GET /me/classes": Route(JOURNAL_READERS),
    "GET /classes/{id}/lessons": on("class.journal.read", "class", path(), JOURNAL_READERS,
                                    subject_id=query("subject_id")),
    "GET /lessons/{id}": on("lesson.read", "lesson", path(), JOURNAL_READERS),
    "GET /students/{id}/attendance-history": on("attendance.history", "student", path(), ADMINISTRATION),
    "GET /lessons/{id}/attendance-history": Route(ADMINISTRATION),  # R-J7; another school's lesson: the journal's 404
    "GET /students/{id}/final-marks": on("diary.read", "student", path()),  # who sees the diary sees its finals
    "GET /reports/{kind}": on("report.read", "class", query("class_id"), JOURNAL_READERS),
    "POST /reports/{kind}/files": on("report.read", "class", query("class_id"), JOURNAL_READERS),
    "GET /jobs/{id}/files/{fmt}": Route(JOURNAL_READERS),  # a report job's files: as GET /jobs/{id}
    # R-A6: identity lets the class's readers through; reports answers its class teacher and the administration
    "GET /classes/{id}/parents-activity": on("class.journal.read", "class", path(), JOURNAL_READERS),
    # the year-end journals (R-D4): the school's administration; another school's id is reports' 404
    "GET /archives": Route(ADMINISTRATION),
    "GET /archives/{id}/file": Route(ADMINISTRATION),
    # messaging: a letter stays within the writer's school; who writes to whom is messaging's rule
    "POST /messages": on("message.send", "user", body("to")),
    "GET /messages": ANYONE,
    "GET /messages/recipients": ANYONE,  # whom the caller may write to: messaging's rule
    "GET /messages/{id}": on("message.read", "message", path()),
    "GET /messages/{id}/attachments/{attachment_id}": on("message.read", "message", path()),
    "GET /notifications": ANYONE,
    "GET /me/notification-settings": ANYONE,
    "PUT /me/notification-settings": ANYONE,
    "POST /news": Route(NEWS_WRITERS),
    "GET /news": ANYONE,
    "GET /news/{id}": ANYONE,  # its audience only: messaging's rule, 404 for anyone else
    # backups
    "POST /backups": Route(ADMIN),
    "GET /backups": Route(ADMIN),
    "POST /backups/{id}/restore-drill": Route(ADMIN),
    "GET /backups/{id}/archive": Route(ADMIN),
    "GET /backups/schedule": Route(ADMIN),
    "GET /openapi.json": PUBLIC,
}

MAX_ID_LENGTH = openapi.ID["maxLength"]


@functools.lru_cache(maxsize=1024)  # per request: the hooks, the guard
def route_key(rule: str, method: str) -> str | None:
    """``"PUT /lessons/{id}/marks"`` for Flask's rule and method (None
    outside the API)."""
    if not rule.startswith(openapi.API_PREFIX + "/"):
        return None
    return f"{'GET' if method == 'HEAD' else method} {openapi.path_of_rule(rule)[len(openapi.API_PREFIX):]}"


def api_routes(app) -> set:
    """Every ``"METHOD /path"`` of the app's API."""
    found = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            key = route_key(rule.rule, method)
            if key:
                found.add(key)
    return found


def install(app) -> None:
    """Run :func:`check` before every view; refuse to build an app with an
    API route this module has no row for (fail closed)."""
    routes = api_routes(app)
    if routes - set(ROUTES) or set(ROUTES) - routes:
        raise LookupError(f"gateway.guard.ROUTES: no row for {sorted(routes - set(ROUTES))}, "
                          f"no route for {sorted(set(ROUTES) - routes)}")
    app.before_request(check)


def check() -> None:
    """Steps 1-4 of the module docstring for this request (a Flask
    before_request hook); raises :class:`ApiError` to refuse."""
    rule = request.url_rule
    key = route_key(rule.rule, request.method) if rule is not None else None
    if key is None or request.method == "OPTIONS":
        if rule is not None:  # the portal, its assets, ops: their path values only
            found = request_text_problems()
            if found:
                raise validation_error(found)
        return
    route = ROUTES[key]
    if not route.public:
        g.principal = authenticate_request()
    op = openapi.operation(openapi.path_of_rule(rule.rule), request.method)
    has_json = openapi.request_schema_name(op) is not None
    data, unreadable = None, None
    if has_json:
        try:
            data = read_json()
        except ApiError as exc:
            unreadable = exc  # answered only after the access decision
    if not route.public:
        _decide(route, data)
    found = request_text_problems(data)
    if found:
        raise validation_error(found)
    if unreadable is not None:
        raise unreadable
    problems = []
    for validate in (query_params, json_body) if has_json else (query_params,):
        try:
            validate()
        except ApiError as exc:
            problems += exc.details["problems"]
    if problems:
        raise validation_error(sorted(problems, key=lambda p: p["field"]))


def _value(where: From, data):
    if where.place == "path":
        return (request.view_args or {}).get(where.name)
    if where.place == "query":
        return request.args.get(where.name)
    return data.get(where.name) if isinstance(data, dict) else None


def _well_formed(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and not broken_text(value)


def _decide(route: Route, data) -> None:
    principal = g.principal
    lacks_role = route.roles is not None and not principal.has(*route.roles)
    ids = []
    if route.action:
        value = _value(route.id, data)
        ids = [v for v in (value if isinstance(value, list) else [value]) if _well_formed(v)]
    if not ids:
        if lacks_role:
            raise ApiError(403, "FORBIDDEN")
        return
    context = {name: v for name, where in route.context if _well_formed(v := _value(where, data))}
    deferred = False
    for resource_id in ids:
        deferred |= authorize(route.action, route.resource, resource_id, **context) == "deferred"
    if deferred and lacks_role:
        g.conceal = True


def concealed(api_error: ApiError) -> ApiError:
    """``api_error``, or 404 when it would tell a caller who may never use
    the route (on a resource identity has not heard of yet) what is wrong
    with the request."""
    if g.get("conceal") and api_error.status in (400, 422):
        return ApiError(404, "NOT_FOUND")
    return api_error


# --- identity's decisions ---------------------------------------------------------------------

class DecisionCache:
    """Identity's recent access decisions, so a page's burst of requests
    asks once. Entries live ``max_age`` seconds at most (default 2 s): a
    relationship that ends (consent withdrawn, a child moved to another
    class) stops granting access within that bound. At most ``size``
    entries, oldest dropped first."""

    invalidator = None  # gateway.invalidation.Invalidator: clears on relationship events

    def __init__(self, size: int = 10000, max_age: float = 2.0, clock=time.monotonic):
        self.size, self.max_age, self._clock = size, max_age, clock
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict = collections.OrderedDict()

    def get(self, key):
        if self.invalidator is not None:
            self.invalidator.ensure_started()  # in the worker, after the fork
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() >= entry[1]:
                del self._entries[key]
                return None
            return entry[0]

    def put(self, key, decision) -> None:
        with self._lock:
            self._entries[key] = (decision, self._clock() + self.max_age)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self, *_event) -> None:
        """Forget every decision (also the relationship-event callback)."""
        with self._lock:
            self._entries.clear()


DECISIONS = "ejournal.gateway.decisions"


def authorize(action: str, resource_type: str, resource_id: str, **context) -> str:
    """Ask identity whether the caller may do ``action`` on the resource;
    404 or 403 if not (not yours looks like not found), else the reason
    (``deferred``: identity has not heard of that resource yet; its owner
    decides, and the answer is not cached). ``context`` names what else the
    action touches (e.g. ``subject_id``)."""
    p = g.principal
    cache = current_app.extensions.get(DECISIONS)
    key = (p.user_id, p.school_id, tuple(sorted(p.roles)), action, resource_type, resource_id,
           tuple(sorted(context.items())))
    decision = cache.get(key) if cache is not None else None
    if decision is None:
        reply = current_clients().identity.Authorize(identity_pb2.AuthorizeRequest(
            subject_id=p.user_id, school_id=p.school_id, roles=list(p.roles), action=action,
            resource_type=resource_type, resource_id=resource_id, context=context))
        decision = (bool(reply.allowed), reply.denial, reply.reason)
        if cache is not None and reply.reason != "deferred":
            cache.put(key, decision)
    allowed, denial, reason = decision
    if allowed:
        return reason
    if denial == "forbidden":
        raise ApiError(403, "FORBIDDEN")
    raise ApiError(404, "NOT_FOUND")  # "not_found", and anything unexpected: reveal nothing
