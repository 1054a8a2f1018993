"""The access matrix (R-A1..R-A5, ASVS 4.2): every role x every
API route x {own, other child/class/subject, other school}, the expected
status taken from tests/access_policy.md (the school's access policy,
readable without code), asserted through the gateway on the real platform.

A route of the gateway without a row in the policy fails
``test_every_api_route_has_a_policy_row``; a row without a request recipe
here fails ``test_every_policy_row_has_a_request``.

Adding a route: (1) one row per "Чей ресурс" (свой / чужой / другая школа,
or — when there is no foreign resource) in tests/access_policy.md with the
expected status for each role; (2) one entry per row in RECIPES below: a
function ``(world, role) -> (method, path, body, token)`` that may create
fresh data first (see _enrol, _assign). ``World`` has one logged-in user per
role in school A (``w.api[role]``), the own/other/other-school students
(sa/sb/sx), parents (pa/pb/px), classes (class_a/b/x) and lessons."""
from __future__ import annotations

import base64
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
import requests

from kernel import config as kernel_config
from localrun.client import Api

from access_matrix_lib import ROLES, read_policy, routes_of

PASSWORD = "matrix-pass-2026"
PREFIX = "/api/v1"
OWN, OTHER, OTHER_SCHOOL, NONE = "свой", "чужой", "другая школа", "—"
SUBSTITUTION = "замена"


def gateway_routes() -> set:
    from gateway.app import create_app
    app = create_app({"TESTING": True, "SETTINGS": kernel_config.load()}, clients=object())
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = rule.rule[len(PREFIX):].replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add(f"{method} {path}")
    return found


def test_every_api_route_has_a_policy_row():
    """A new route must be added to the school's policy before it ships."""
    routes, policy = gateway_routes(), routes_of(read_policy())
    assert routes - policy == set(), "routes without a row in tests/access_policy.md"
    assert policy - routes == set(), "rows of tests/access_policy.md for routes that do not exist"


def test_every_policy_row_has_a_request():
    rows = {(route, scope) for route, scope, _ in read_policy()}
    assert rows - set(RECIPES) == set(), "policy rows without a recipe in RECIPES"


def test_policy_parser_rejects_a_malformed_table(tmp_path):
    bad = tmp_path / "p.md"
    head = "| Маршрут | Действие | Чей ресурс | " + " | ".join(ROLES) + " |\n"
    bad.write_text(head + "| GET /me | x | — | 200 |\n", encoding="utf-8")
    with pytest.raises(ValueError):
        read_policy(bad)
    bad.write_text(head + "| GET /me | x | — | " + " | ".join(["да"] * 10) + " |\n", encoding="utf-8")
    with pytest.raises(ValueError):
        read_policy(bad)


# --- the world the matrix runs in ----------------------------------------------------------

class World:
    """Two schools. School A: one user per role; class A (class teacher
    ``class_teacher``, maths taught by ``teacher``) with student sA whose
    parent pA consented; class B with sB, pB. School B: class X, sX, pX."""

    def __init__(self, platform):
        self.base = platform.url
        self.env = platform.env
        self.settings = platform.settings  # the databases as the platform's processes see them
        self.u = uuid.uuid4().hex[:8]
        self.today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
        self.api, self.password, self.id, self.login = {}, {}, {}, {}

    def name(self, stem: str) -> str:
        return f"{stem}.{self.u}"

    def year_body(self, name: str) -> dict:
        start, end = self.today - dt.timedelta(days=60), self.today + dt.timedelta(days=200)
        return {"name": name, "starts_on": start.isoformat(), "ends_on": end.isoformat(),
                "periods": [{"name": "1 полугодие", "kind": "half_year", "starts_on": start.isoformat(),
                             "ends_on": (self.today + dt.timedelta(days=60)).isoformat()}]}

    def user(self, api: Api, stem: str, roles, password: str | None = PASSWORD) -> dict:
        body = {"login": self.name(stem), "full_name": f"Тест {stem}", "roles": list(roles)}
        if password:
            body["password"] = password
        return api.post("/users", body, expect=201)


def other_school_admin(world: World) -> Api:
    """A second school with its admin, written straight into identity's
    database (the API has no "create school": one deployment, one school)."""
    from kernel.db import make_engine, session_factory, transaction
    from kernel.events import envelope, record
    from identity import credentials, domain, events, store

    engine = make_engine(world.settings.database_url("identity"))
    login = world.name("adminx")
    try:
        with transaction(session_factory(engine)) as s:
            school = store.add_school(s, name=f"Другая школа {world.u}")
            new = domain.NewUser(login=login, full_name="Администратор Х", roles=("admin",), email=None,
                                 birth_date=None, sex=None, password=PASSWORD)
            admin = store.add_user(s, school_id=school.id, new=new,
                                   password_hash=credentials.hash_password(PASSWORD), created_by=None)
            record(s, store.tables["outbox"], envelope(
                type=events.USER_CREATED, producer=events.PRODUCER, payload=events.user_created(admin),
                school_id=school.id, actor_id=None))
    finally:
        engine.dispose()
    return Api(world.base).login(login, PASSWORD)


def _substitute_lesson(w, teacher):
    """The matrix teacher's lesson in 5Б for the spare teacher, once identity
    knows whom they replace (the assignment's event is on its way)."""
    reply = teacher.request("POST", "/lessons", json={
        "class_id": w.class_b, "subject_id": w.maths, "date": w.today.isoformat(), "topic": "Замена",
        "lesson_type": "урок", "substitute_for": w.spare_teacher})
    return reply.json()["id"] if reply.status_code == 201 else None


def eventually_value(make, timeout=30.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = make()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("projections did not catch up")


def eventually(check, timeout=30.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("projections did not catch up")


@pytest.fixture(scope="module")
def world(platform):
    w = World(platform)
    admin = Api(w.base).login(w.env["EJOURNAL_ADMIN_LOGIN"], w.env["EJOURNAL_ADMIN_PASSWORD"])
    w.admin = admin
    staff = {"director": ["director"], "deputy": ["deputy"], "class_teacher": ["class_teacher"],
             "teacher": ["teacher"], "secretary": ["secretary"], "news_editor": ["news_editor"],
             "scheduler": ["scheduler"], "admin": ["admin"]}
    for role, roles in staff.items():
        w.id[role] = w.user(admin, role, roles)["id"]
        w.login[role], w.password[role] = w.name(role), PASSWORD
    ct_b = w.user(admin, "ctb", ["class_teacher"])
    w.ctb_id = ct_b["id"]
    w.spare_teacher = w.user(admin, "spare", ["teacher"])["id"]
    year = admin.post("/years", w.year_body(f"Год {w.u}"), expect=201)
    w.year, w.period = year["id"], year["periods"][0]["id"]
    w.maths = admin.post("/subjects", {"name": f"Математика {w.u}"}, expect=201)["id"]
    w.class_a = admin.post("/classes", {"year_id": w.year, "grade": 5, "letter": "А",
                                        "class_teacher_id": w.id["class_teacher"]}, expect=201)["id"]
    w.class_b = admin.post("/classes", {"year_id": w.year, "grade": 5, "letter": "Б",
                                        "class_teacher_id": ct_b["id"]}, expect=201)["id"]
    admin.post("/assignments", {"teacher_id": w.id["teacher"], "class_id": w.class_a, "subject_id": w.maths,
                                "hours_per_week": 4}, expect=201)
    ct = Api(w.base).login(w.login["class_teacher"], PASSWORD)
    ctb = Api(w.base).login(ct_b["login"], PASSWORD)
    start = year["periods"][0]["starts_on"]
    for api, klass, tag in ((ct, w.class_a, "a"), (ctb, w.class_b, "b")):
        student = w.user(api, f"s{tag}", ["student"])
        parent = w.user(api, f"p{tag}", ["parent"])
        api.post(f"/students/{student['id']}/parents", {"parent_id": parent["id"], "relation": "мать"}, expect=201)
        api.put(f"/parents/{parent['id']}/consent", {"given": True, "signed_on": w.today.isoformat()}, expect=200)
        api.post(f"/classes/{klass}/students", {"student_id": student["id"], "order_no": "1-у", "on": start},
                 expect=201)
        setattr(w, f"s{tag}", student["id"])
        setattr(w, f"p{tag}", parent["id"])
        if tag == "a":
            w.id["student"], w.id["parent"] = student["id"], parent["id"]
            w.login["student"], w.login["parent"] = student["login"], parent["login"]
            w.password["student"] = w.password["parent"] = PASSWORD
    # school B
    adminx = other_school_admin(w)
    ctx = w.user(adminx, "ctx", ["class_teacher"])
    yx = adminx.post("/years", w.year_body(f"Год X {w.u}"), expect=201)
    mx = adminx.post("/subjects", {"name": f"Математика X {w.u}"}, expect=201)["id"]
    w.adminx, w.maths_x, w.period_x, w.ctx = adminx, mx, yx["periods"][0]["id"], ctx["id"]
    w.year_x = yx["id"]
    w.class_x = adminx.post("/classes", {"year_id": yx["id"], "grade": 5, "letter": "А",
                                         "class_teacher_id": ctx["id"]}, expect=201)["id"]
    w.sx = w.user(adminx, "sx", ["student"])["id"]
    w.px = w.user(adminx, "px", ["parent"])["id"]
    adminx.post(f"/students/{w.sx}/parents", {"parent_id": w.px, "relation": "отец"}, expect=201)
    adminx.put(f"/parents/{w.px}/consent", {"given": True, "signed_on": w.today.isoformat()}, expect=200)
    adminx.post(f"/classes/{w.class_x}/students", {"student_id": w.sx, "order_no": "1-у",
                                                   "on": yx["periods"][0]["starts_on"]}, expect=201)
    w.lesson_x = adminx.post("/lessons", {"class_id": w.class_x, "subject_id": mx, "date": w.today.isoformat(),
                                          "topic": "Тема", "lesson_type": "урок"}, expect=201)["id"]
    w.lesson_a = admin.post("/lessons", {"class_id": w.class_a, "subject_id": w.maths, "date": w.today.isoformat(),
                                         "topic": "Тема", "lesson_type": "урок"}, expect=201)["id"]
    w.lesson_b = admin.post("/lessons", {"class_id": w.class_b, "subject_id": w.maths, "date": w.today.isoformat(),
                                         "topic": "Тема", "lesson_type": "урок"}, expect=201)["id"]
    # R-J6: the spare teacher teaches maths in 5Б; the matrix teacher gives one of those lessons in their place
    admin.post("/assignments", {"teacher_id": w.spare_teacher, "class_id": w.class_b, "subject_id": w.maths,
                                "hours_per_week": 4}, expect=201)
    teacher = Api(w.base).login(w.login["teacher"], PASSWORD)
    w.lesson_sub = eventually_value(lambda: _substitute_lesson(w, teacher))
    for role in ROLES:
        w.api[role] = Api(w.base).login(w.login[role], w.password[role])
    # identity learns classes and enrolments from journal events: wait until it knows
    eventually(lambda: w.api["class_teacher"].request("GET", f"/users/{w.sa}").status_code == 200)
    eventually(lambda: ctb.request("GET", f"/users/{w.sb}").status_code == 200)
    eventually(lambda: w.api["teacher"].request(
        "GET", f"/reports/progress?class_id={w.class_a}&period_id={w.period}").status_code == 200)
    return w


# --- one request recipe per policy row ------------------------------------------------------
# recipe(world, role) -> (method, path, json body or None, token or None); may prepare data first.

def _own(w, role):
    return w.api[role].token


def _fresh_login(w, role):
    return requests.post(f"{w.base}{PREFIX}/auth/login", json={"login": w.login[role],
                                                               "password": w.password[role]}, timeout=30).json()


def _change_password(w, role):
    new = f"{w.password[role]}-x"
    body = {"old_password": w.password[role], "new_password": new}
    w.password[role] = new  # the next rows log in with it
    return "PUT", "/me/password", body, _own(w, role)


def _student_for_enrolment(w):
    # issued by the class teacher of class A: R-A2, the logins they may enrol
    return w.user(w.api["class_teacher"], f"enr{uuid.uuid4().hex[:6]}", ["student"], password=None)["id"]


def _enrol(klass):
    def recipe(w, role):
        klass_id = getattr(w, klass)
        return "POST", f"/classes/{klass_id}/students", {
            "student_id": _student_for_enrolment(w), "order_no": "2-у",
            "on": w.today.isoformat()}, _own(w, role)
    return recipe


def _assign(klass):
    def recipe(w, role):
        subject = w.admin.post("/subjects", {"name": f"Предмет {uuid.uuid4().hex[:8]}"}, expect=201)["id"]
        # a spare teacher: assigning the matrix's own teacher would change later rows
        return "POST", "/assignments", {"teacher_id": w.spare_teacher, "class_id": getattr(w, klass),
                                        "subject_id": subject, "hours_per_week": 1}, _own(w, role)
    return recipe


def _lesson(klass):
    return lambda w, role: ("POST", "/lessons", {"class_id": getattr(w, klass), "subject_id": w.maths,
                                                 "date": w.today.isoformat(), "topic": "Дроби",
                                                 "lesson_type": "урок"}, _own(w, role))


def _marks(lesson, student):
    return lambda w, role: ("PUT", f"/lessons/{getattr(w, lesson)}/marks",
                            {"marks": [{"student_id": getattr(w, student), "value": 5}]}, _own(w, role))


def _simple(method, path_of, body_of=None):
    return lambda w, role: (method, path_of(w), body_of(w) if body_of else None, _own(w, role))


def _report(klass):
    return _simple("GET", lambda w: f"/reports/progress?class_id={getattr(w, klass)}&period_id={w.period}")


def _report_files(klass):
    return _simple("POST", lambda w: f"/reports/progress/files?class_id={getattr(w, klass)}&period_id={w.period}")


def _new_user(roles):
    return lambda w, role: ("POST", "/users", {"login": w.name(f"new{uuid.uuid4().hex[:6]}"),
                                               "full_name": "Новый Пользователь", "roles": roles}, _own(w, role))


def _confirm_totp(w, role):
    """Starts the enrolment itself and answers with the app's current code
    (family roles cannot start it: their confirm has nothing to confirm)."""
    import pyotp
    begun = w.api[role].request("POST", "/me/totp")
    code = pyotp.TOTP(begun.json()["secret"]).now() if begun.status_code == 201 else "123456"
    return "POST", "/me/totp/confirm", {"code": code}, _own(w, role)


# --- helpers of the rows added for the structure, marks and messaging routes ---------------

def _once(w, key, make):
    """A read-only row's resource, made on first use and then shared."""
    cache = w.__dict__.setdefault("cache", {})
    if key not in cache:
        cache[key] = make(w)
    return cache[key]


def _writer(w, who):
    return {"teacher": lambda: w.api["teacher"], "admin": lambda: w.admin, "adminx": lambda: w.adminx}[who]()


MARK_SOURCES = {OWN: ("teacher", "lesson_a", "sa"), OTHER: ("admin", "lesson_b", "sb"),
                SUBSTITUTION: ("teacher", "lesson_sub", "sb"),
                OTHER_SCHOOL: ("adminx", "lesson_x", "sx")}


def _new_mark(w, scope):
    """A fresh mark: свой — by the matrix teacher in class A; чужой — by the
    administrator in class B; другая школа — in school B."""
    who, lesson, student = MARK_SOURCES[scope]
    reply = _writer(w, who).put(f"/lessons/{getattr(w, lesson)}/marks",
                                {"marks": [{"student_id": getattr(w, student), "value": 4}]}, expect=200)
    return reply["marks"][-1]["id"]


def _change_mark(method, scope):
    def recipe(w, role):
        mark = _new_mark(w, scope)
        body = {"value": 3, "reason": "Ошибка при вводе"} if method == "PATCH" else {"reason": "Не тому ученику"}
        return method, f"/marks/{mark}", body, _own(w, role)
    return recipe


def _mark_history(scope):
    return lambda w, role: ("GET", f"/marks/{_once(w, ('mark', scope), lambda w: _new_mark(w, scope))}/history",
                            None, _own(w, role))


def _fresh_lesson(w, klass):
    api = w.adminx if klass == "class_x" else w.admin
    subject = w.maths_x if klass == "class_x" else w.maths
    return api.post("/lessons", {"class_id": getattr(w, klass), "subject_id": subject, "date": w.today.isoformat(),
                                 "topic": "Повторение", "lesson_type": "урок"}, expect=201)["id"]


def _attendance(klass, student):
    def recipe(w, role):
        lesson = w.lesson_x if klass == "class_x" else _fresh_lesson(w, klass)
        return "PUT", f"/lessons/{lesson}/attendance", {
            "entries": [{"student_id": getattr(w, student), "status": "absent"}]}, _own(w, role)
    return recipe


def _final(student):
    def recipe(w, role):
        foreign = student == "sx"
        return "PUT", "/final-marks", {"student_id": getattr(w, student),
                                       "subject_id": w.maths_x if foreign else w.maths,
                                       "period_id": w.period_x if foreign else w.period, "value": 4}, _own(w, role)
    return recipe


def _period_of(w, klass):
    return w.period_x if klass == "class_x" else w.period


def _subject_of(w, klass):
    return w.maths_x if klass == "class_x" else w.maths


def _class_get(klass, tail):
    return _simple("GET", lambda w: f"/classes/{getattr(w, klass)}/{tail(w, klass)}")


def _fresh_subject(w):
    return w.admin.post("/subjects", {"name": f"Предмет {uuid.uuid4().hex[:8]}"}, expect=201)["id"]


def _subgroup(klass, student):
    def recipe(w, role):
        subject = w.maths_x if klass == "class_x" else _fresh_subject(w)
        return "POST", f"/classes/{getattr(w, klass)}/subgroups", {
            "subject_id": subject, "name": "1 группа", "student_ids": [getattr(w, student)]}, _own(w, role)
    return recipe


def _timetable(klass):
    return lambda w, role: ("PUT", f"/classes/{getattr(w, klass)}/timetable",
                            {"period_id": _period_of(w, klass), "slots": []}, _own(w, role))


def _plan(klass):
    def recipe(w, role):
        if klass == "class_x":
            subject = w.maths_x
        else:  # a fresh subject: one plan per class, subject and period
            subject = _fresh_subject(w)
            if klass == "class_a":  # the matrix teacher teaches it in class A
                w.admin.post("/assignments", {"teacher_id": w.id["teacher"], "class_id": w.class_a,
                                              "subject_id": subject, "hours_per_week": 1}, expect=201)
                # the assignment reaches the central access decision (identity) as an event
                eventually(lambda: w.api["teacher"].request(
                    "GET", f"/classes/{w.class_a}/journal?subject_id={subject}&period_id={w.period}"
                ).status_code == 200)
        return "POST", "/plans", {"class_id": getattr(w, klass), "subject_id": subject,
                                  "period_id": _period_of(w, klass),
                                  "topics": [{"number": 1, "title": "Дроби", "hours": 2}]}, _own(w, role)
    return recipe


def _coverage(klass):
    return _simple("GET", lambda w: f"/plans/coverage?period_id={_period_of(w, klass)}&class_id={getattr(w, klass)}")


def _import(klass):
    """One row without a date of birth: an allowed import answers 200 with
    the row's error and writes nothing (all or nothing), so no accounts."""
    def recipe(w, role):
        tag = uuid.uuid4().hex[:6]
        rows = ["ФИО ученика;Дата рождения;Пол;Логин ученика;ФИО родителя;E-mail родителя;Логин родителя;"
                "Кем приходится",
                f"Без Даты;;м;{w.name('imp' + tag)};Родитель Тест;p{tag}@example.ru;{w.name('impp' + tag)};мать"]
        return ("POST", f"/imports/students?class_id={getattr(w, klass)}&order_no=1-у&on={w.today.isoformat()}",
                "\n".join(rows).encode("utf-8"), _own(w, role))
    return recipe


def _fresh_student_in(w, klass):
    """A student of class A or B made for one request: moving them away
    changes no other row."""
    student = _student_for_enrolment(w) if klass == "class_a" else w.user(
        w.admin, f"mv{uuid.uuid4().hex[:6]}", ["student"], password=None)["id"]
    w.admin.post(f"/classes/{getattr(w, klass)}/students", {
        "student_id": student, "order_no": "3-у", "on": (w.today - dt.timedelta(days=30)).isoformat()}, expect=201)
    return student


def _move(kind, klass):
    def recipe(w, role):
        if klass == "class_x":
            student = w.sx
        else:
            student = _fresh_student_in(w, klass)
        if kind == "transfer":
            to = {"class_a": w.class_b, "class_b": w.class_a, "class_x": w.class_x}[klass]
            body = {"to_class_id": to, "order_no": "4-у", "on": w.today.isoformat()}
        else:
            body = {"order_no": "5-в", "on": w.today.isoformat(), "reason": "переезд"}
        return "POST", f"/students/{student}/{kind}", body, _own(w, role)
    return recipe


def _close_year(school):
    def recipe(w, role):
        api = w.adminx if school == "x" else w.admin
        start = dt.date(w.today.year - 20, 9, 1)  # a throwaway past year without classes
        year = api.post("/years", {"name": f"Архив {uuid.uuid4().hex[:8]}", "starts_on": start.isoformat(),
                                   "ends_on": (start + dt.timedelta(days=270)).isoformat(),
                                   "periods": [{"name": "Год", "kind": "half_year",
                                                "starts_on": start.isoformat(),
                                                "ends_on": (start + dt.timedelta(days=270)).isoformat()}]},
                        expect=201)["id"]
        return "POST", f"/years/{year}/close", {"order_no": "99-у", "promote": False}, _own(w, role)
    return recipe


def _recipient(w, role):
    """Someone every role may write to (R-M1): the class teacher of class A
    (the class teacher writes to the class's subject teacher)."""
    return w.id["teacher"] if role == "class_teacher" else w.id["class_teacher"]


def _send(to_of):
    return lambda w, role: ("POST", "/messages", {"to": [to_of(w, role)], "subject": "Вопрос",
                                                  "body": "Текст письма"}, _own(w, role))


ATTACHMENT = {"name": "справка.txt", "content_type": "text/plain",
              "content_base64": base64.b64encode("Справка".encode("utf-8")).decode("ascii")}


def _letter(w, sender, to, attach=False):
    body = {"to": [to], "subject": "Письмо", "body": "Текст"}
    if attach:
        body["attachments"] = [ATTACHMENT]
    sent = sender.post("/messages", body, expect=201)
    if not attach:
        return sent["id"], None
    return sent["id"], sender.get(f"/messages/{sent['id']}")["attachments"][0]["id"]


def _letter_for(scope, attach):
    """свой — a letter to the acting user; чужой — between two others of
    the school; другая школа — within school B."""
    def make(w, role):
        if scope == OWN:
            return _once(w, ("letter", attach, role), lambda w: _letter(w, w.admin, w.id[role], attach))
        if scope == OTHER:
            return _once(w, ("letter", attach, scope), lambda w: _letter(w, w.admin, w.ctb_id, attach))
        return _once(w, ("letter", attach, scope), lambda w: _letter(w, w.adminx, w.ctx, attach))
    return make


def _read_letter(scope):
    def recipe(w, role):
        letter, _ = _letter_for(scope, False)(w, role)
        return "GET", f"/messages/{letter}", None, _own(w, role)
    return recipe


def _read_attachment(scope):
    def recipe(w, role):
        letter, attachment = _letter_for(scope, True)(w, role)
        return "GET", f"/messages/{letter}/attachments/{attachment}", None, _own(w, role)
    return recipe


def _import_lessons(klass, subject, teacher):
    def body(w):
        day = (w.today - dt.timedelta(days=1)).isoformat()
        return {"lessons": [{"teacher_id": w.id[teacher] if teacher else w.ctx, "class_id": getattr(w, klass),
                             "subject_id": getattr(w, subject), "date": day, "recorded_on": day,
                             "topic": "Тема из бумажного журнала", "lesson_type": "урок"}]}
    return _simple("POST", lambda w: "/imports/lessons", body)


# --- helpers of the rows added for the people reads -------------------------------------------

def _news_of(scope):
    """A news item: свой — for the whole school; чужой — the director's
    announcement for 5Б; другая школа — news of school B (its director)."""
    def make(w):
        if scope == OTHER_SCHOOL:
            login = w.name("dirx")
            w.user(w.adminx, "dirx", ["director"])
            api, audience = Api(w.base).login(login, PASSWORD), {"school": True}
        else:
            api = w.api["director"]
            audience = {"school": True} if scope == OWN else {"class_id": w.class_b}
        return api.post("/news", {"title": "Новость", "body": "Текст", "audience": audience}, expect=201)["id"]
    return _simple("GET", lambda w: f"/news/{_once(w, ('news', scope), make)}")


RECIPES = {
    ("POST /auth/login", NONE): lambda w, role: (
        "POST", "/auth/login", {"login": w.login[role], "password": w.password[role]}, None),
    ("POST /auth/refresh", NONE): lambda w, role: (
        "POST", "/auth/refresh", {"refresh_token": _fresh_login(w, role)["refresh_token"]}, None),
    ("POST /auth/logout", NONE): lambda w, role: (
        "POST", "/auth/logout", {"refresh_token": _fresh_login(w, role)["refresh_token"]}, _own(w, role)),
    ("GET /me", NONE): _simple("GET", lambda w: "/me"),
    ("PUT /me/password", NONE): _change_password,
    ("POST /users", "ученик"): _new_user(["student"]),
    ("POST /users", "сотрудник"): _new_user(["teacher"]),
    ("GET /users", NONE): _simple("GET", lambda w: "/users?q=%D0%A2%D0%B5%D1%81%D1%82&limit=5"),
    ("GET /users/{id}", OWN): _simple("GET", lambda w: f"/users/{w.sa}"),
    ("GET /users/{id}", OTHER): _simple("GET", lambda w: f"/users/{w.sb}"),
    ("GET /users/{id}", OTHER_SCHOOL): _simple("GET", lambda w: f"/users/{w.sx}"),
    ("PUT /users/{id}/roles", OWN): _simple("PUT", lambda w: f"/users/{w.sa}/roles", lambda w: {"roles": ["student"]}),
    ("PUT /users/{id}/roles", OTHER): _simple("PUT", lambda w: f"/users/{w.sb}/roles", lambda w: {"roles": ["student"]}),
    ("PUT /users/{id}/roles", OTHER_SCHOOL): _simple("PUT", lambda w: f"/users/{w.sx}/roles",
                                                     lambda w: {"roles": ["student"]}),
    ("POST /users/{id}/unlock", OWN): _simple("POST", lambda w: f"/users/{w.sa}/unlock"),
    ("POST /users/{id}/unlock", OTHER): _simple("POST", lambda w: f"/users/{w.sb}/unlock"),
    ("POST /users/{id}/unlock", OTHER_SCHOOL): _simple("POST", lambda w: f"/users/{w.sx}/unlock"),
    # a throwaway user each time: a reset ends the user's sessions and changes the password
    ("POST /users/{id}/password-reset", OTHER): lambda w, role: (
        "POST", f"/users/{w.user(w.admin, f'rst{uuid.uuid4().hex[:6]}', ['teacher'])['id']}/password-reset", None,
        _own(w, role)),
    ("POST /users/{id}/password-reset", OTHER_SCHOOL): _simple("POST", lambda w: f"/users/{w.sx}/password-reset"),
    ("GET /audit", NONE): _simple("GET", lambda w: "/audit"),
    ("GET /access-log", NONE): _simple("GET", lambda w: "/access-log"),
    ("GET /activity", NONE): _simple("GET", lambda w: f"/activity?month={w.today.strftime('%Y-%m')}"),
    ("POST /students/{id}/parents", OWN): _simple(
        "POST", lambda w: f"/students/{w.sa}/parents", lambda w: {"parent_id": w.pa, "relation": "мать"}),
    ("POST /students/{id}/parents", OTHER): _simple(
        "POST", lambda w: f"/students/{w.sb}/parents", lambda w: {"parent_id": w.pb, "relation": "мать"}),
    ("POST /students/{id}/parents", OTHER_SCHOOL): _simple(
        "POST", lambda w: f"/students/{w.sx}/parents", lambda w: {"parent_id": w.px, "relation": "отец"}),
    ("PUT /parents/{id}/consent", OWN): _simple(
        "PUT", lambda w: f"/parents/{w.pa}/consent", lambda w: {"given": True, "signed_on": w.today.isoformat()}),
    ("PUT /parents/{id}/consent", OTHER): _simple(
        "PUT", lambda w: f"/parents/{w.pb}/consent", lambda w: {"given": True, "signed_on": w.today.isoformat()}),
    ("PUT /parents/{id}/consent", OTHER_SCHOOL): _simple(
        "PUT", lambda w: f"/parents/{w.px}/consent", lambda w: {"given": True, "signed_on": w.today.isoformat()}),
    ("POST /years", NONE): _simple("POST", lambda w: "/years",
                                   lambda w: w.year_body(f"Год {uuid.uuid4().hex[:8]}")),
    ("POST /subjects", NONE): _simple("POST", lambda w: "/subjects",
                                      lambda w: {"name": f"Предмет {uuid.uuid4().hex[:8]}"}),
    ("PATCH /subjects/{id}", OWN): _simple("PATCH", lambda w: f"/subjects/{w.maths}", lambda w: {"emphasis": True}),
    ("PATCH /subjects/{id}", OTHER_SCHOOL): _simple("PATCH", lambda w: f"/subjects/{w.maths_x}",
                                                    lambda w: {"emphasis": True}),
    ("POST /classes", NONE): _simple("POST", lambda w: "/classes", lambda w: {
        "year_id": w.year, "grade": 9, "letter": "Ж", "class_teacher_id": w.id["class_teacher"]}),
    ("POST /classes/{id}/students", OWN): _enrol("class_a"),
    ("POST /classes/{id}/students", OTHER): _enrol("class_b"),
    ("POST /classes/{id}/students", OTHER_SCHOOL): _enrol("class_x"),
    ("POST /assignments", OWN): _assign("class_a"),
    ("POST /assignments", OTHER): _assign("class_b"),
    ("POST /assignments", OTHER_SCHOOL): _assign("class_x"),
    ("POST /lessons", OWN): _lesson("class_a"),
    ("POST /lessons", OTHER): _lesson("class_b"),
    ("POST /lessons", OTHER_SCHOOL): _lesson("class_x"),
    ("POST /lessons", SUBSTITUTION): lambda w, role: (
        "POST", "/lessons", {"class_id": w.class_b, "subject_id": w.maths, "date": w.today.isoformat(),
                             "topic": "Замена", "lesson_type": "урок", "substitute_for": w.spare_teacher},
        _own(w, role)),
    ("PUT /lessons/{id}/marks", OWN): _marks("lesson_a", "sa"),
    ("PUT /lessons/{id}/marks", OTHER): _marks("lesson_b", "sb"),
    ("PUT /lessons/{id}/marks", OTHER_SCHOOL): _marks("lesson_x", "sx"),
    ("PUT /lessons/{id}/marks", SUBSTITUTION): _marks("lesson_sub", "sb"),
    ("GET /students/{id}/diary", OWN): _simple("GET", lambda w: f"/students/{w.sa}/diary"),
    ("GET /students/{id}/diary", OTHER): _simple("GET", lambda w: f"/students/{w.sb}/diary"),
    ("GET /students/{id}/diary", OTHER_SCHOOL): _simple("GET", lambda w: f"/students/{w.sx}/diary"),
    ("GET /notifications", NONE): _simple("GET", lambda w: "/notifications"),
    ("GET /reports/{kind}", OWN): _report("class_a"),
    ("GET /reports/{kind}", OTHER): _report("class_b"),
    ("GET /reports/{kind}", OTHER_SCHOOL): _report("class_x"),
    ("POST /reports/{kind}/files", OWN): _report_files("class_a"),
    ("POST /reports/{kind}/files", OTHER): _report_files("class_b"),
    ("POST /reports/{kind}/files", OTHER_SCHOOL): _report_files("class_x"),
    ("GET /jobs/{id}/files/{fmt}", OTHER_SCHOOL): _simple(
        "GET", lambda w: "/jobs/00000000-0000-4000-8000-0000000000ac/files/pdf"),
    ("GET /archives", NONE): _simple("GET", lambda w: "/archives"),
    # an archive this school does not have: what another school's archive is to it
    ("GET /archives/{id}/file", OTHER_SCHOOL): _simple(
        "GET", lambda w: "/archives/00000000-0000-4000-8000-0000000000aa/file?format=pdf"),
    ("POST /backups", NONE): _simple("POST", lambda w: "/backups"),
    ("GET /backups", NONE): _simple("GET", lambda w: "/backups"),
    ("GET /backups/schedule", NONE): _simple("GET", lambda w: "/backups/schedule"),
    ("GET /backups/{id}/archive", NONE): _simple("GET", lambda w: "/backups/no-such-backup/archive"),
    ("POST /backups/{id}/restore-drill", NONE): _simple("POST", lambda w: "/backups/no-such-backup/restore-drill"),
    ("GET /openapi.json", NONE): _simple("GET", lambda w: "/openapi.json"),
    ("PATCH /marks/{id}", OWN): _change_mark("PATCH", OWN),
    ("PATCH /marks/{id}", OTHER): _change_mark("PATCH", OTHER),
    ("PATCH /marks/{id}", OTHER_SCHOOL): _change_mark("PATCH", OTHER_SCHOOL),
    ("PATCH /marks/{id}", SUBSTITUTION): _change_mark("PATCH", SUBSTITUTION),
    ("DELETE /marks/{id}", OWN): _change_mark("DELETE", OWN),
    ("DELETE /marks/{id}", OTHER): _change_mark("DELETE", OTHER),
    ("DELETE /marks/{id}", OTHER_SCHOOL): _change_mark("DELETE", OTHER_SCHOOL),
    ("DELETE /marks/{id}", SUBSTITUTION): _change_mark("DELETE", SUBSTITUTION),
    ("GET /marks/{id}/history", OWN): _mark_history(OWN),
    ("GET /marks/{id}/history", OTHER): _mark_history(OTHER),
    ("GET /marks/{id}/history", OTHER_SCHOOL): _mark_history(OTHER_SCHOOL),
    ("GET /journal/verify", NONE): _simple("GET", lambda w: "/journal/verify"),
    ("PUT /lessons/{id}/attendance", OWN): _attendance("class_a", "sa"),
    ("PUT /lessons/{id}/attendance", OTHER): _attendance("class_b", "sb"),
    ("PUT /lessons/{id}/attendance", OTHER_SCHOOL): _attendance("class_x", "sx"),
    ("PUT /final-marks", OWN): _final("sa"),
    ("PUT /final-marks", OTHER): _final("sb"),
    ("PUT /final-marks", OTHER_SCHOOL): _final("sx"),
    ("GET /students/{id}/forecast", OWN): _simple("GET", lambda w: f"/students/{w.sa}/forecast?period_id={w.period}"),
    ("GET /students/{id}/forecast", OTHER): _simple("GET", lambda w: f"/students/{w.sb}/forecast?period_id={w.period}"),
    ("GET /students/{id}/forecast", OTHER_SCHOOL): _simple(
        "GET", lambda w: f"/students/{w.sx}/forecast?period_id={w.period_x}"),
    ("GET /classes/{id}/at-risk", OWN): _class_get("class_a", lambda w, k: f"at-risk?period_id={_period_of(w, k)}"),
    ("GET /classes/{id}/at-risk", OTHER): _class_get("class_b", lambda w, k: f"at-risk?period_id={_period_of(w, k)}"),
    ("GET /classes/{id}/at-risk", OTHER_SCHOOL): _class_get(
        "class_x", lambda w, k: f"at-risk?period_id={_period_of(w, k)}"),
    ("GET /classes/{id}/parents-activity", OWN): _class_get("class_a", lambda w, k: "parents-activity"),
    ("GET /classes/{id}/parents-activity", OTHER): _class_get("class_b", lambda w, k: "parents-activity"),
    ("GET /classes/{id}/parents-activity", OTHER_SCHOOL): _class_get("class_x", lambda w, k: "parents-activity"),
    ("GET /classes/{id}/journal", OWN): _class_get(
        "class_a", lambda w, k: f"journal?subject_id={_subject_of(w, k)}&period_id={_period_of(w, k)}"),
    ("GET /classes/{id}/journal", OTHER): _class_get(
        "class_b", lambda w, k: f"journal?subject_id={_subject_of(w, k)}&period_id={_period_of(w, k)}"),
    ("GET /classes/{id}/journal", OTHER_SCHOOL): _class_get(
        "class_x", lambda w, k: f"journal?subject_id={_subject_of(w, k)}&period_id={_period_of(w, k)}"),
    ("GET /years", NONE): _simple("GET", lambda w: "/years"),
    ("GET /subjects", NONE): _simple("GET", lambda w: "/subjects?limit=5"),
    ("GET /classes", NONE): _simple("GET", lambda w: f"/classes?year_id={w.year}"),
    ("GET /me/classes", NONE): _simple("GET", lambda w: "/me/classes"),
    ("GET /classes/{id}/students", OWN): _class_get("class_a", lambda w, k: "students"),
    ("GET /classes/{id}/students", OTHER): _class_get("class_b", lambda w, k: "students"),
    ("GET /classes/{id}/students", OTHER_SCHOOL): _class_get("class_x", lambda w, k: "students"),
    ("GET /classes/{id}/lessons", OWN): _class_get("class_a", lambda w, k: "lessons?limit=10"),
    ("GET /classes/{id}/lessons", OTHER): _class_get("class_b", lambda w, k: "lessons"),
    ("GET /classes/{id}/lessons", OTHER_SCHOOL): _class_get("class_x", lambda w, k: "lessons"),
    ("GET /lessons/{id}", OWN): _simple("GET", lambda w: f"/lessons/{w.lesson_a}"),
    ("GET /lessons/{id}", OTHER): _simple("GET", lambda w: f"/lessons/{w.lesson_b}"),
    ("GET /lessons/{id}", OTHER_SCHOOL): _simple("GET", lambda w: f"/lessons/{w.lesson_x}"),
    ("GET /lessons/{id}", SUBSTITUTION): _simple("GET", lambda w: f"/lessons/{w.lesson_sub}"),
    ("GET /lessons/{id}/attendance-history", OWN): _simple("GET", lambda w: f"/lessons/{w.lesson_a}/attendance-history"),
    ("GET /lessons/{id}/attendance-history", OTHER): _simple(
        "GET", lambda w: f"/lessons/{w.lesson_b}/attendance-history"),
    ("GET /lessons/{id}/attendance-history", OTHER_SCHOOL): _simple(
        "GET", lambda w: f"/lessons/{w.lesson_x}/attendance-history"),
    ("GET /students/{id}/attendance-history", OWN): _simple("GET", lambda w: f"/students/{w.sa}/attendance-history"),
    ("GET /students/{id}/attendance-history", OTHER): _simple("GET", lambda w: f"/students/{w.sb}/attendance-history"),
    ("GET /students/{id}/attendance-history", OTHER_SCHOOL): _simple(
        "GET", lambda w: f"/students/{w.sx}/attendance-history"),
    ("GET /students/{id}/final-marks", OWN): _simple("GET", lambda w: f"/students/{w.sa}/final-marks"),
    ("GET /students/{id}/final-marks", OTHER): _simple("GET", lambda w: f"/students/{w.sb}/final-marks"),
    ("GET /students/{id}/final-marks", OTHER_SCHOOL): _simple("GET", lambda w: f"/students/{w.sx}/final-marks"),
    ("GET /classes/{id}/timetable", OWN): _class_get("class_a", lambda w, k: f"timetable?period_id={_period_of(w, k)}"),
    ("GET /classes/{id}/timetable", OTHER): _class_get("class_b", lambda w, k: f"timetable?period_id={_period_of(w, k)}"),
    ("GET /classes/{id}/timetable", OTHER_SCHOOL): _class_get(
        "class_x", lambda w, k: f"timetable?period_id={_period_of(w, k)}"),
    ("PUT /classes/{id}/timetable", OWN): _timetable("class_a"),
    ("PUT /classes/{id}/timetable", OTHER): _timetable("class_b"),
    ("PUT /classes/{id}/timetable", OTHER_SCHOOL): _timetable("class_x"),
    ("POST /classes/{id}/subgroups", OWN): _subgroup("class_a", "sa"),
    ("POST /classes/{id}/subgroups", OTHER): _subgroup("class_b", "sb"),
    ("POST /classes/{id}/subgroups", OTHER_SCHOOL): _subgroup("class_x", "sx"),
    ("POST /plans", OWN): _plan("class_a"),
    ("POST /plans", OTHER): _plan("class_b"),
    ("POST /plans", OTHER_SCHOOL): _plan("class_x"),
    ("GET /plans/coverage", OWN): _coverage("class_a"),
    ("GET /plans/coverage", OTHER): _coverage("class_b"),
    ("GET /plans/coverage", OTHER_SCHOOL): _coverage("class_x"),
    ("POST /imports/lessons", OWN): _import_lessons("class_a", "maths", "teacher"),
    ("POST /imports/lessons", OTHER_SCHOOL): _import_lessons("class_x", "maths_x", None),
    ("POST /imports/students", OWN): _import("class_a"),
    ("POST /imports/students", OTHER): _import("class_b"),
    ("POST /imports/students", OTHER_SCHOOL): _import("class_x"),
    # a job this school does not have: what another school's job is to it
    ("GET /jobs/{id}", OTHER_SCHOOL): _simple("GET", lambda w: "/jobs/00000000-0000-4000-8000-0000000000ab"),
    ("GET /students/{id}/movements", OWN): _simple("GET", lambda w: f"/students/{w.sa}/movements"),
    ("GET /students/{id}/movements", OTHER): _simple("GET", lambda w: f"/students/{w.sb}/movements"),
    ("GET /students/{id}/movements", OTHER_SCHOOL): _simple("GET", lambda w: f"/students/{w.sx}/movements"),
    ("POST /students/{id}/transfer", OWN): _move("transfer", "class_a"),
    ("POST /students/{id}/transfer", OTHER): _move("transfer", "class_b"),
    ("POST /students/{id}/transfer", OTHER_SCHOOL): _move("transfer", "class_x"),
    ("POST /students/{id}/departure", OWN): _move("departure", "class_a"),
    ("POST /students/{id}/departure", OTHER): _move("departure", "class_b"),
    ("POST /students/{id}/departure", OTHER_SCHOOL): _move("departure", "class_x"),
    ("POST /years/{id}/close", OWN): _close_year("a"),
    ("POST /years/{id}/close", OTHER_SCHOOL): _close_year("x"),
    ("GET /years/{id}/close-preview", OWN): _simple("GET", lambda w: f"/years/{w.year}/close-preview?promote=false"),
    ("GET /years/{id}/close-preview", OTHER_SCHOOL): _simple("GET", lambda w: f"/years/{w.year_x}/close-preview"),
    ("POST /messages", OWN): _send(_recipient),
    ("POST /messages", OTHER): _send(lambda w, role: w.pb),
    ("POST /messages", OTHER_SCHOOL): _send(lambda w, role: w.px),
    ("GET /messages", NONE): _simple("GET", lambda w: "/messages?folder=inbox"),
    ("GET /messages/recipients", NONE): _simple("GET", lambda w: "/messages/recipients?limit=5"),
    ("GET /messages/{id}", OWN): _read_letter(OWN),
    ("GET /messages/{id}", OTHER): _read_letter(OTHER),
    ("GET /messages/{id}", OTHER_SCHOOL): _read_letter(OTHER_SCHOOL),
    ("GET /messages/{id}/attachments/{attachment_id}", OWN): _read_attachment(OWN),
    ("GET /messages/{id}/attachments/{attachment_id}", OTHER): _read_attachment(OTHER),
    ("GET /messages/{id}/attachments/{attachment_id}", OTHER_SCHOOL): _read_attachment(OTHER_SCHOOL),
    ("GET /me/notification-settings", NONE): _simple("GET", lambda w: "/me/notification-settings"),
    ("PUT /me/notification-settings", NONE): _simple("PUT", lambda w: "/me/notification-settings",
                                                     lambda w: {"email": "daily"}),
    ("POST /news", NONE): _simple("POST", lambda w: "/news", lambda w: {
        "title": "Новость", "body": "Текст новости", "audience": {"school": True}}),
    ("GET /news", NONE): _simple("GET", lambda w: "/news"),
    ("GET /news/{id}", OWN): _news_of(OWN),
    ("GET /news/{id}", OTHER): _news_of(OTHER),
    ("GET /news/{id}", OTHER_SCHOOL): _news_of(OTHER_SCHOOL),
    # last in the table: a confirmed second factor changes how these users log in
    ("POST /me/totp", NONE): _simple("POST", lambda w: "/me/totp"),
    ("POST /me/totp/confirm", NONE): _confirm_totp,
}


# --- both owners of a journal write's rule: identity and the journal -------------------------
# route -> (path segments, body) -> ((action, resource type, resource id, context), (journal RPC, args)):
# what the gateway asks identity and then calls on the journal for that route.

def _seg(path: str, n: int) -> str:
    return path.strip("/").split("/")[n]


JOURNAL_WRITES = {
    "POST /lessons": lambda p, b: (
        ("lesson.write", "class", b["class_id"], {"subject_id": b.get("subject_id"), "subgroup_id": b.get(
            "subgroup_id"), "substitute_for": b.get("substitute_for")}), ("record_lesson", [b])),
    "PUT /lessons/{id}/marks": lambda p, b: (
        ("lesson.marks", "lesson", _seg(p, 1), {}), ("post_marks", [_seg(p, 1), b["marks"]])),
    "PUT /lessons/{id}/attendance": lambda p, b: (
        ("lesson.attendance", "lesson", _seg(p, 1), {}), ("record_attendance", [_seg(p, 1), b])),
    "PATCH /marks/{id}": lambda p, b: (("mark.correct", "mark", _seg(p, 1), {}), ("correct_mark", [_seg(p, 1), b])),
    "DELETE /marks/{id}": lambda p, b: (("mark.remove", "mark", _seg(p, 1), {}), ("remove_mark", [_seg(p, 1), b])),
    "PUT /final-marks": lambda p, b: (
        ("final.write", "student", b["student_id"], {"subject_id": b["subject_id"]}), ("post_final_mark", [b])),
    "POST /plans": lambda p, b: (
        ("class.plan", "class", b["class_id"], {"subject_id": b["subject_id"]}), ("create_plan", [b])),
    "POST /classes/{id}/subgroups": lambda p, b: (
        ("class.subgroups", "class", _seg(p, 1), {}), ("create_subgroup", [_seg(p, 1), b])),
    "POST /classes/{id}/students": lambda p, b: (
        ("class.enrol", "class", _seg(p, 1), {}), ("enroll_student", [_seg(p, 1), b])),
}


def test_every_journal_write_route_is_checked_on_both_sides():
    """The journal's write routes of the policy whose rule kernel.access_rules
    holds are all in JOURNAL_WRITES (and nothing else is)."""
    writes = {"POST /lessons", "PUT /lessons/{id}/marks", "PUT /lessons/{id}/attendance", "PATCH /marks/{id}",
              "DELETE /marks/{id}", "PUT /final-marks", "POST /plans", "POST /classes/{id}/subgroups",
              "POST /classes/{id}/students"}
    assert set(JOURNAL_WRITES) == writes and writes <= routes_of(read_policy())


def both_owners(world, verdicts, route, scope, role) -> str | None:
    """identity's decision and the journal's own verdict for one cell, on a
    fresh copy of the cell's data (the recipe runs again: the gateway's
    request already used the first); a disagreement as text, else None."""
    _, path, body, token = RECIPES[(route, scope)](world, role)
    (action, rtype, rid, context), (method, args) = JOURNAL_WRITES[route](path, body)
    central = verdicts.identity(token, action, rtype, rid, context)
    own, what = verdicts.journal(token, method, *args)
    if central["allowed"] == own:
        return None
    return (f"{route} [{scope}] {role}: identity {'allows' if central['allowed'] else 'refuses'} "
            f"({central['reason']}), the journal {'allows' if own else 'refuses'} ({what})")


@pytest.fixture(scope="module")
def verdicts(platform):
    from journal_verdicts import Verdicts
    v = Verdicts(platform)
    yield v
    v.close()


@pytest.mark.e2e
def test_access_matrix(world, verdicts):
    """Every cell of tests/access_policy.md, in the table's order; all
    mismatches are reported together. For the journal's write routes every
    cell is also asked of both owners of the rule directly, identity and the
    journal, which must agree (both allow or both refuse)."""
    cells = read_policy()
    rows = list(dict.fromkeys((route, scope) for route, scope, _ in cells))
    mismatches, disagreements = [], []
    for route, scope in rows:
        for role in ROLES:
            if route in JOURNAL_WRITES:
                disagreement = both_owners(world, verdicts, route, scope, role)
                if disagreement:
                    disagreements.append(disagreement)
            method, path, body, token = RECIPES[(route, scope)](world, role)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if isinstance(body, bytes):  # a file upload (POST /imports/students)
                resp = requests.request(method, f"{world.base}{PREFIX}{path}", data=body, timeout=30,
                                        headers={**headers, "Content-Type": "text/csv"})
            else:
                resp = requests.request(method, f"{world.base}{PREFIX}{path}", json=body, headers=headers,
                                        timeout=30)
            if resp.status_code != cells[(route, scope, role)]:
                mismatches.append(f"{route} [{scope}] {role}: expected {cells[(route, scope, role)]}, "
                                  f"got {resp.status_code} {resp.text[:160]}")
    assert not disagreements, "identity and the journal disagree:\n" + "\n".join(disagreements)
    assert not mismatches, "\n".join(mismatches)
