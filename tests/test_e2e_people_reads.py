"""The people reads end to end, through the gateway on the whole platform:
whom the admin and a class teacher find in ``GET /users`` (R-A2, R-A3),
whom a parent and a student may write to (``GET /messages/recipients``,
R-M1 after R-A3: exactly those ``POST /messages`` accepts), and one news
item for its audience only (``GET /news/{id}``, R-M4). Every answer is
checked against the OpenAPI document."""
from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator

from gateway import openapi
from kernel import limits
from localrun.client import Api

from e2e_support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
P = openapi.API_PREFIX


def documented(response, path: str) -> dict:
    """The JSON body of a GET ``path`` answer, after checking it against the document."""
    doc = openapi.document()
    entry = doc["paths"][P + path]["get"]["responses"][str(response.status_code)]
    if "$ref" in entry:
        entry = doc["components"]["responses"][entry["$ref"].rsplit("/", 1)[-1]]
    schema = entry["content"]["application/json"]["schema"]
    errors = [e.message for e in Draft202012Validator({**schema, "components": doc["components"]})
              .iter_errors(response.json())]
    assert not errors, (path, response.status_code, errors)
    return response.json()


def walk(api: Api, path: str) -> list[dict]:
    """Every item of a list read, page by page."""
    items, cursor = [], None
    while True:
        url = path + (("&" if "?" in path else "?") + f"cursor={cursor}" if cursor else "")
        page = documented(api.request("GET", url, expect=200), path.split("?")[0])
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


@pytest.fixture(scope="module")
def town(platform):
    """Class 5А (class teacher, maths teacher, two families) and 5Б (one
    family), every name carrying this run's token ``u``."""
    env, base = platform.env, platform.url
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    u = uuid.uuid4().hex[:8]
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    start = (today - dt.timedelta(days=30)).isoformat()
    year = admin.post("/years", {"name": f"Год {u}", "starts_on": start,
                                 "ends_on": (today + dt.timedelta(days=200)).isoformat(),
                                 "periods": [{"name": "1 полугодие", "kind": "half_year", "starts_on": start,
                                              "ends_on": (today + dt.timedelta(days=60)).isoformat()}]})
    maths = admin.post("/subjects", {"name": f"Математика {u}"})["id"]
    w = {"u": u, "admin": admin, "base": base}

    def user(api, key, name, roles):
        w[key] = api.post("/users", {"login": f"{key}.{u}", "full_name": f"{name} {u}", "roles": roles,
                                     "password": PASSWORD})["id"]

    user(admin, "ct", "Смирнова Ольга", ["teacher", "class_teacher"])
    user(admin, "ctb", "Орлов Павел", ["teacher", "class_teacher"])
    user(admin, "maths", "Кузнецов Игорь", ["teacher"])
    user(admin, "deputy", "Морозова Елена", ["deputy"])
    user(admin, "editor", "Зайцева Нина", ["news_editor"])
    c5a = admin.post("/classes", {"year_id": year["id"], "grade": 5, "letter": "А", "class_teacher_id": w["ct"]})
    c5b = admin.post("/classes", {"year_id": year["id"], "grade": 5, "letter": "Б", "class_teacher_id": w["ctb"]})
    w["c5a"], w["c5b"] = c5a["id"], c5b["id"]
    admin.post("/assignments", {"teacher_id": w["maths"], "class_id": w["c5a"], "subject_id": maths,
                                "hours_per_week": 5})
    for teacher_key, klass, families in (("ct", "c5a", (("s1", "Ёлкина Алёна", "p1", "Ёлкина Мария"),
                                                        ("s2", "Петров Борис", "p2", "Петров Иван"))),
                                         ("ctb", "c5b", (("s3", "Сидоров Глеб", "p3", "Сидорова Анна"),))):
        teacher = Api(base).login(f"{teacher_key}.{u}", PASSWORD)
        for s, s_name, p, p_name in families:
            user(teacher, s, s_name, ["student"])
            user(teacher, p, p_name, ["parent"])
            teacher.post(f"/students/{w[s]}/parents", {"parent_id": w[p], "relation": "мать"}, expect=201)
            teacher.put(f"/parents/{w[p]}/consent", {"given": True, "signed_on": today.isoformat()}, expect=200)
            teacher.post(f"/classes/{w[klass]}/students", {"student_id": w[s], "order_no": "1-у", "on": start},
                         expect=201)
    for key in ("ct", "deputy", "editor", "p1", "p3", "s1"):
        w["api_" + key] = Api(base).login(f"{key}.{u}", PASSWORD)
    return w


def ids(items) -> set:
    return {i["id"] for i in items}


def test_r_a2_the_admin_finds_users_by_name_or_login_case_insensitively_page_by_page(town):
    u, admin = town["u"], town["admin"]
    everyone = walk(admin, f"/users?q={u.upper()}&limit=2")
    assert len(everyone) == 11 and [i["full_name"] for i in everyone] == sorted(i["full_name"] for i in everyone)
    assert ids(walk(admin, f"/users?q={u}&limit=100")) == ids(everyone)
    assert ids(walk(admin, "/users?q=ЁЛКИНА")) & ids(everyone) == {town["s1"], town["p1"]}
    assert ids(walk(admin, "/users?q=елкина")) & ids(everyone) == {town["s1"], town["p1"]}
    assert ids(walk(admin, f"/users?q=АЛЁНА {u.upper()}")) == {town["s1"]}
    assert ids(walk(admin, f"/users?q=алена {u}")) == {town["s1"]}
    assert ids(walk(admin, f"/users?q=p1.{u.upper()}")) == {town["p1"]}
    parents = walk(admin, f"/users?q={u}&role=parent")
    assert ids(parents) == {town["p1"], town["p2"], town["p3"]}
    assert parents[0].keys() == {"id", "login", "full_name", "roles", "locked"} and not parents[0]["locked"]


def test_r_a3_a_class_teacher_lists_the_families_of_their_class(town):
    ct = town["api_ct"]
    families = {town[k] for k in ("s1", "p1", "s2", "p2")}
    eventually(lambda: ids(walk(ct, "/users")) == families, timeout=30)  # identity learns the class from events
    assert ids(walk(ct, "/users?role=student")) == {town["s1"], town["s2"]}


@pytest.mark.parametrize("who", ["p1", "s1", "deputy", "editor"])
def test_r_a3_families_and_other_staff_cannot_list_users(town, who):
    response = town["api_" + who].request("GET", "/users", expect=403)
    assert documented(response, "/users")["error"] == "FORBIDDEN"


@pytest.mark.parametrize("query", ["limit=0", f"limit={limits.LIST_LIMIT_MAX + 1}", "cursor=%2A%2A%2A", "role=wizard"])
def test_a_bad_page_is_400(town, query):
    response = town["admin"].request("GET", f"/users?{query}", expect=400)
    assert documented(response, "/users")["error"] == "VALIDATION_ERROR"
    response = town["api_p1"].request("GET", f"/messages/recipients?{query}")
    assert response.status_code == (200 if query.startswith("role") else 400)


def test_r_m1_a_parent_may_write_to_exactly_whom_the_list_names(town):
    p1 = town["api_p1"]
    listed = eventually(lambda: (lambda items: items if town["maths"] in ids(items) else None)(
        walk(p1, "/messages/recipients?limit=1")), timeout=30)
    mine = {i["id"]: i for i in listed}
    assert {town["ct"], town["maths"], town["deputy"]} <= set(mine)
    assert not {town["ctb"], town["p2"], town["p3"], town["s3"], town["editor"]} & set(mine)
    assert mine[town["ct"]]["role"] == "class_teacher" and mine[town["ct"]]["class"]["id"] == town["c5a"]
    assert mine[town["maths"]]["role"] == "teacher" and "class" not in mine[town["maths"]]
    for to in (town["ct"], town["maths"], town["deputy"]):
        p1.post("/messages", {"to": [to], "subject": "Вопрос", "body": "Добрый день"}, expect=201)
    for to in (town["p2"], town["ctb"]):
        refused = p1.request("POST", "/messages", json={"to": [to], "subject": "Вопрос", "body": "Текст"})
        assert refused.status_code == 403 and refused.json()["error"] == "RECIPIENT_NOT_ALLOWED"
    named = walk(p1, "/messages/recipients?q=СМИРНОВА")
    assert town["ct"] in ids(named) and town["maths"] not in ids(named)


def test_r_m1_staff_find_a_family_with_its_class(town):
    found = walk(town["api_ct"], "/messages/recipients?q=ЁЛКИНА")
    by_id = {i["id"]: i for i in found if i["full_name"].endswith(town["u"])}
    assert set(by_id) == {town["s1"], town["p1"]}
    assert by_id[town["s1"]]["class"] == {"id": town["c5a"], "name": "5А"} and by_id[town["s1"]]["role"] == "student"
    assert by_id[town["p1"]]["class"]["id"] == town["c5a"] and by_id[town["p1"]]["role"] == "parent"


def test_r_m4_a_news_item_is_read_by_its_audience_only(town):
    deputy, editor = town["api_deputy"], town["api_editor"]
    link = {"title": "Приказ", "url": "https://school.test/order.pdf"}
    school_news = editor.post("/news", {"title": "Праздник", "body": "В субботу", "audience": {"school": True},
                                        "links": [link]}, expect=201)
    class_b = deputy.post("/news", {"title": "Собрание 5Б", "body": "В пятницу", "kind": "announcement",
                                    "audience": {"class_id": town["c5b"]}}, expect=201)
    p1, p3 = town["api_p1"], town["api_p3"]
    item = eventually(lambda: (lambda r: r.json() if r.status_code == 200 else None)(
        p1.request("GET", f"/news/{school_news['id']}")), timeout=30)
    assert item["body"] == "В субботу" and item["links"] == [link] and item["audience"] == {"school": True}
    assert item["author"] == {"id": town["editor"], "full_name": f"Зайцева Нина {town['u']}"}
    assert item["published_at"] == school_news["created_at"]
    documented(p1.request("GET", f"/news/{school_news['id']}", expect=200), "/news/{id}")
    assert documented(p1.request("GET", f"/news/{class_b['id']}", expect=404), "/news/{id}")["error"] == "NOT_FOUND"
    assert eventually(lambda: p3.request("GET", f"/news/{class_b['id']}").status_code == 200, timeout=30)
    listed = {i["id"]: i for i in walk(p3, "/news?limit=50")}
    assert listed[class_b["id"]]["body"] == "В пятницу" and listed[class_b["id"]]["links"] == []
    assert deputy.request("GET", "/news/no-such-item").status_code == 404
