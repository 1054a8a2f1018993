"""The administrator's portal pages with fake service clients: users
(search, create with several roles and the initial password shown once,
roles, unlock), the year with its periods, classes, subjects with their
emphasis and teachers' assignments. Each write is the API route's service
call with the API's body; a refusal is shown beside the form; a teacher or
a parent gets the 404 page on every address of the section."""
from __future__ import annotations

import re
from html import unescape

import pytest

from ejournal.identity.v1 import identity_pb2

from gateway import openapi
from gateway.openapi_portal import PAGES
from gateway_fakes import remote_error

ADMIN, YEAR, CLASS, SUBJECT, TEACHER = "admin-1", "year-1", "class-5a", "subject-1", "teacher-1"
YEARS = {"items": [{"id": YEAR, "name": "2026/2027", "starts_on": "2026-09-01", "ends_on": "2027-05-31",
                    "closed": False, "periods": [
                        {"id": "p1", "name": "1 четверть", "kind": "quarter", "starts_on": "2026-09-01",
                         "ends_on": "2026-10-26"}]}], "next_cursor": None}
USERS = {"items": [
    {"id": TEACHER, "login": "orlova", "full_name": "Орлова Анна Викторовна", "roles": ["teacher", "class_teacher"],
     "locked": False},
    {"id": "user-2", "login": "petrov", "full_name": "Петров Иван", "roles": ["parent"], "locked": True}],
    "next_cursor": None}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in_as(client, fake, signing_key, user_id, roles):
    fake.identity.answers["Login"] = identity_pb2.TokenPair(
        access_token=signing_key.token(sub=user_id, roles=roles), refresh_token="r", expires_in=900,
        user_id=user_id, roles=list(roles))
    fake.identity.answers["GetProfile"] = identity_pb2.Profile(
        id=user_id, login="u", full_name="Администратор Школы", roles=list(roles))
    page = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(page.get_data(as_text=True)), "login": "u",
                                         "password": "pw"})
    assert answer.status_code == 303


@pytest.fixture
def school(fake):
    fake.rpc_answers[("journal", "list_years")] = YEARS
    fake.rpc_answers[("journal", "list_classes")] = {"items": [
        {"id": CLASS, "name": "5А", "year_id": YEAR, "grade": 5, "letter": "А",
         "class_teacher": {"id": TEACHER, "full_name": "Орлова Анна Викторовна"}, "size": 24}], "next_cursor": None}
    fake.rpc_answers[("journal", "list_subjects")] = {"items": [
        {"id": SUBJECT, "name": "Математика", "emphasis": True},
        {"id": "subject-2", "name": "Музыка", "emphasis": False}], "next_cursor": None}
    fake.rpc_answers[("identity", "list_users")] = USERS
    fake.rpc_answers[("identity", "get_user")] = lambda ctx, user_id: {
        "id": user_id, "login": "orlova", "full_name": "Орлова Анна Викторовна", "roles": ["teacher"],
        "email": None, "active": True}
    return fake


@pytest.fixture
def admin(client, school, signing_key):
    sign_in_as(client, school, signing_key, ADMIN, ("admin",))
    return client


def get(client, path, **query):
    answer = client.get(path, query_string=query)
    return answer.status_code, answer.get_data(as_text=True)


def post(client, path, data, page=None):
    html = client.get(page or path).get_data(as_text=True)
    return client.post(path, data={"csrf": csrf_of(html), **data})


def calls(fake, method):
    return [c for c in fake.rpc_calls if c["method"] == method]


# -- the menu and the section ------------------------------------------------------------------------

def test_the_admin_sees_the_menu_entry_and_the_section(admin):
    status, html = get(admin, "/admin")
    assert status == 200
    assert 'href="/admin" aria-current="page">Администрирование</a>' in html
    for label in ("Пользователи", "Учебный год", "Классы", "Предметы", "Назначения учителей"):
        assert f">{label}</a>" in html


ADMIN_GETS = ["/admin", "/admin/users", f"/admin/users/{TEACHER}", "/admin/years", "/admin/classes",
              "/admin/subjects", "/admin/assignments", f"/admin/classes/{CLASS}/timetable?year={YEAR}",
              f"/admin/classes/{CLASS}/import?year={YEAR}",
              f"/admin/classes/{CLASS}/import/jobs/00000000-0000-4000-8000-000000000b01?year={YEAR}"]
ADMIN_POSTS = ["/admin/users", f"/admin/users/{TEACHER}/roles", f"/admin/users/{TEACHER}/unlock", "/admin/years",
               "/admin/classes", "/admin/subjects", f"/admin/subjects/{SUBJECT}", "/admin/assignments",
               f"/admin/classes/{CLASS}/timetable", f"/admin/classes/{CLASS}/import"]


def test_every_page_of_the_section_is_listed_in_the_openapi_document():
    listed = {(rule, method) for rule, method, _ in PAGES}
    for path in ADMIN_GETS:
        rule = path.split("?")[0].replace(TEACHER, "{user_id}").replace(CLASS, "{class_id}")
        rule = rule.replace("00000000-0000-4000-8000-000000000b01", "{job_id}")
        assert (rule, "get") in listed
    for path in ADMIN_POSTS:
        rule = path.replace(TEACHER, "{user_id}").replace(SUBJECT, "{subject_id}").replace(CLASS, "{class_id}")
        assert (rule, "post") in listed
    assert "/admin/users/{user_id}/roles" in openapi.PATHS


@pytest.mark.parametrize("roles", [("teacher", "class_teacher"), ("parent",), ("deputy",)])
def test_anyone_but_the_admin_gets_the_404_page_on_every_address(client, school, signing_key, roles):
    sign_in_as(client, school, signing_key, "someone", roles)
    home = client.get("/notifications").get_data(as_text=True)
    assert "Администрирование" not in home
    token = csrf_of(home)
    for path in ADMIN_GETS:
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "Страница не найдена" in answer.get_data(as_text=True)
    for path in ADMIN_POSTS:
        answer = client.post(path, data={"csrf": token, "roles": "admin", "name": "x", "emphasis": "yes",
                                         "login": "x", "full_name": "x", "teacher_id": TEACHER, "class_id": CLASS,
                                         "subject_id": SUBJECT, "hours_per_week": "2"})
        assert answer.status_code == 404, path
    writes = {"create_user", "set_roles", "unlock_login", "open_year", "create_class", "create_subject",
              "update_subject", "assign_teacher", "set_timetable", "start_import_students"}
    assert not [c for c in school.rpc_calls if c["method"] in writes]


def test_a_form_without_its_csrf_token_changes_nothing(admin, school):
    answer = admin.post("/admin/subjects", data={"name": "Химия"})
    assert answer.status_code == 403
    assert not calls(school, "create_subject")


# -- users ---------------------------------------------------------------------------------------------

def test_the_search_asks_identity_as_get_users_does(admin, school):
    status, html = get(admin, "/admin/users", q="орл", role="teacher")
    assert status == 200
    call = calls(school, "list_users")[-1]
    assert call["service"] == "identity" and call["args"][1:3] == ("орл", "teacher")
    assert "Орлова Анна Викторовна" in html and "учитель, классный руководитель" in html
    assert "заблокирован" in html
    assert '<label for="user-q">ФИО или логин</label>' in html and '<label for="user-role">Роль</label>' in html
    assert '<option value="teacher" selected>учитель</option>' in html


def test_an_unknown_role_in_the_search_is_ignored(admin, school):
    status, _ = get(admin, "/admin/users", role="king")
    assert status == 200 and calls(school, "list_users")[-1]["args"][2] is None


def test_a_user_is_created_with_two_roles_and_the_password_is_shown_once(admin, school):
    school.rpc_answers[("identity", "create_user")] = {"id": "new-1", "login": "ivanova",
                                                       "initial_password": "Xq7-pass-word"}
    html = admin.get("/admin/users").get_data(as_text=True)
    answer = admin.post("/admin/users", data={"csrf": csrf_of(html), "full_name": " Иванова Ольга ",
                                              "login": "ivanova", "roles": ["teacher", "class_teacher"]})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 201
    call = calls(school, "create_user")[-1]
    assert call["service"] == "identity"
    assert call["args"][1] == {"login": "ivanova", "full_name": "Иванова Ольга", "roles": ["teacher", "class_teacher"]}
    assert "Xq7-pass-word" in page and "Пароль показан только сейчас" in page
    assert "учитель, классный руководитель" in page
    again = admin.get("/admin/users").get_data(as_text=True)
    assert "Xq7-pass-word" not in again  # never kept


def test_a_user_without_roles_or_with_a_taken_login_is_refused_beside_the_form(admin, school):
    answer = post(admin, "/admin/users", {"full_name": "Иванова Ольга", "login": "ivanova"})
    assert answer.status_code == 400 and "Выберите хотя бы одну роль" in answer.get_data(as_text=True)
    school.rpc_answers[("identity", "create_user")] = remote_error("conflict", "LOGIN_TAKEN",
                                                                   "Логин ivanova уже занят.")
    answer = post(admin, "/admin/users", {"full_name": "Иванова Ольга", "login": "ivanova", "roles": "teacher"})
    html = unescape(answer.get_data(as_text=True))
    assert answer.status_code == 400 and 'role="alert">Логин ivanova уже занят.' in html
    assert 'value="Иванова Ольга"' in html and 'id="new-role-teacher" name="roles" value="teacher" checked' in html


def test_a_bad_email_is_the_api_s_validation_message(admin, school):
    answer = post(admin, "/admin/users", {"full_name": "Иванова", "login": "iv", "roles": "teacher",
                                          "email": "not-an-email"})
    assert answer.status_code == 400 and "почт" in answer.get_data(as_text=True)
    assert not calls(school, "create_user")


def test_the_user_card_changes_roles_and_unlocks(admin, school):
    status, html = get(admin, f"/admin/users/{TEACHER}")
    assert "<title>Орлова Анна Викторовна — Электронный дневник</title>" in html  # the title is the name only
    assert status == 200 and "Орлова Анна Викторовна" in html
    assert 'id="role-teacher" name="roles" value="teacher" checked' in html
    school.rpc_answers[("identity", "set_roles")] = lambda ctx, uid, roles: {"id": uid, "roles": roles}
    answer = post(admin, f"/admin/users/{TEACHER}/roles", {"roles": ["teacher", "deputy"]},
                  page=f"/admin/users/{TEACHER}")
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/admin/users/{TEACHER}")
    call = calls(school, "set_roles")[-1]
    assert call["service"] == "identity" and call["args"][1:] == (TEACHER, ["teacher", "deputy"])
    assert "Роли сохранены: учитель, завуч" in admin.get(answer.headers["Location"]).get_data(as_text=True)
    school.rpc_answers[("identity", "unlock_login")] = {"user_id": TEACHER, "cleared": 3}
    answer = post(admin, f"/admin/users/{TEACHER}/unlock", {}, page=f"/admin/users/{TEACHER}")
    assert answer.status_code == 303 and calls(school, "unlock_login")[-1]["args"][1:] == (TEACHER,)
    assert "сброшено неудачных попыток: 3" in admin.get(answer.headers["Location"]).get_data(as_text=True)


def test_the_user_card_asks_the_central_decision_on_the_user(admin, school):
    school.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found")
    assert get(admin, f"/admin/users/{TEACHER}")[0] == 404
    assert not calls(school, "get_user")


def test_the_own_card_offers_no_roles_form(admin, school):
    status, html = get(admin, f"/admin/users/{ADMIN}")
    assert status == 200 and "Свои роли изменить нельзя" in html and "Сохранить роли" not in html


def test_removing_every_role_is_refused(admin, school):
    answer = post(admin, f"/admin/users/{TEACHER}/roles", {}, page=f"/admin/users/{TEACHER}")
    assert answer.status_code == 400 and not calls(school, "set_roles")


# -- the year and its periods --------------------------------------------------------------------------

def test_the_years_page_lists_years_with_periods(admin, school):
    status, html = get(admin, "/admin/years")
    assert status == 200 and "2026/2027" in html and "1 четверть" in html and "четверть" in html
    for i in range(4):
        assert f'<label for="period-{i}-starts_on">Начало</label>' in html


def test_a_year_is_opened_with_its_filled_periods_only(admin, school):
    school.rpc_answers[("journal", "open_year")] = lambda ctx, body: {"id": "y2", "name": body["name"],
                                                                      "periods": body["periods"]}
    data = {"name": "2027/2028", "starts_on": "2027-09-01", "ends_on": "2028-05-31",
            "period-0-name": "1 полугодие", "period-0-kind": "half_year", "period-0-starts_on": "2027-09-01",
            "period-0-ends_on": "2027-12-28", "period-1-name": "2 полугодие", "period-1-kind": "half_year",
            "period-1-starts_on": "2028-01-09", "period-1-ends_on": "2028-05-31",
            "period-2-kind": "quarter", "period-3-kind": "quarter"}
    answer = post(admin, "/admin/years", data)
    assert answer.status_code == 303
    body = calls(school, "open_year")[-1]["args"][1]
    assert body == {"name": "2027/2028", "starts_on": "2027-09-01", "ends_on": "2028-05-31", "periods": [
        {"name": "1 полугодие", "kind": "half_year", "starts_on": "2027-09-01", "ends_on": "2027-12-28"},
        {"name": "2 полугодие", "kind": "half_year", "starts_on": "2028-01-09", "ends_on": "2028-05-31"}]}
    assert "Учебный год 2027/2028 открыт, периодов: 2" in admin.get("/admin/years").get_data(as_text=True)


def test_a_year_without_periods_or_with_a_bad_date_is_refused(admin, school):
    answer = post(admin, "/admin/years", {"name": "2027/2028", "starts_on": "2027-09-01", "ends_on": "2028-05-31"})
    assert answer.status_code == 400 and "хотя бы один период" in answer.get_data(as_text=True)
    answer = post(admin, "/admin/years", {"name": "2027/2028", "starts_on": "2027-09-01", "ends_on": "2028-05-31",
                                          "period-0-name": "1 четверть", "period-0-kind": "quarter",
                                          "period-0-starts_on": "2027-13-01", "period-0-ends_on": "2027-10-30"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "периоды" in html and 'value="1 четверть"' in html
    assert not calls(school, "open_year")
    school.rpc_answers[("journal", "open_year")] = remote_error("rule", "PERIODS_OVERLAP", "Периоды пересекаются.")
    answer = post(admin, "/admin/years", {"name": "2027/2028", "starts_on": "2027-09-01", "ends_on": "2028-05-31",
                                          "period-0-name": "1 четверть", "period-0-kind": "quarter",
                                          "period-0-starts_on": "2027-09-01", "period-0-ends_on": "2027-10-30"})
    assert answer.status_code == 400 and "Периоды пересекаются." in answer.get_data(as_text=True)


# -- classes ---------------------------------------------------------------------------------------------

def test_the_classes_page_lists_the_year_s_classes_and_offers_class_teachers(admin, school):
    status, html = get(admin, "/admin/classes")
    assert status == 200 and "5А" in html and "Орлова Анна Викторовна" in html
    assert calls(school, "list_classes")[-1]["args"][1] == {"limit": 200, "year_id": YEAR}
    assert calls(school, "list_users")[-1]["args"][2] == "class_teacher"
    assert get(admin, "/admin/classes", year="year-unknown")[0] == 404


def test_a_class_is_created_with_its_class_teacher(admin, school):
    school.rpc_answers[("journal", "create_class")] = {"id": "c2", "name": "6Б"}
    answer = post(admin, "/admin/classes", {"year": YEAR, "grade": "6", "letter": "б", "class_teacher_id": TEACHER})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/admin/classes?year={YEAR}")
    assert calls(school, "create_class")[-1]["args"][1] == {"year_id": YEAR, "grade": 6, "letter": "Б",
                                                            "class_teacher_id": TEACHER}
    assert "Класс 6Б создан" in admin.get(answer.headers["Location"]).get_data(as_text=True)


def test_a_bad_grade_or_a_missing_class_teacher_is_refused(admin, school):
    answer = post(admin, "/admin/classes", {"year": YEAR, "grade": "шесть", "letter": "Б",
                                            "class_teacher_id": TEACHER})
    assert answer.status_code == 400 and "Параллель" in answer.get_data(as_text=True)
    answer = post(admin, "/admin/classes", {"year": YEAR, "grade": "12", "letter": "Б", "class_teacher_id": ""})
    assert answer.status_code == 400
    assert not calls(school, "create_class")


# -- subjects --------------------------------------------------------------------------------------------

def test_subjects_are_listed_created_and_their_emphasis_changed(admin, school):
    status, html = get(admin, "/admin/subjects")
    assert status == 200 and "Математика" in html and "Снять акцент" in html and "Сделать акцентным" in html
    school.rpc_answers[("journal", "create_subject")] = lambda ctx, body: {"id": "s3", **body}
    answer = post(admin, "/admin/subjects", {"name": "Химия", "emphasis": ""})
    assert answer.status_code == 303 and calls(school, "create_subject")[-1]["args"][1] == {"name": "Химия"}
    answer = post(admin, "/admin/subjects", {"name": "Черчение", "emphasis": "yes"})
    assert calls(school, "create_subject")[-1]["args"][1] == {"name": "Черчение", "emphasis": True}
    school.rpc_answers[("journal", "update_subject")] = lambda ctx, sid, body: {"id": sid, "name": "Музыка", **body}
    answer = post(admin, "/admin/subjects/subject-2", {"emphasis": "yes"}, page="/admin/subjects")
    assert answer.status_code == 303
    assert calls(school, "update_subject")[-1]["args"][1:] == ("subject-2", {"emphasis": True})
    assert "«Музыка»: для итоговой оценки нужны" in admin.get("/admin/subjects").get_data(as_text=True)


def test_a_duplicate_subject_is_refused_beside_the_form(admin, school):
    school.rpc_answers[("journal", "create_subject")] = remote_error("conflict", "SUBJECT_EXISTS",
                                                                     "Такой предмет уже есть.")
    answer = post(admin, "/admin/subjects", {"name": "Математика"})
    assert answer.status_code == 400 and "Такой предмет уже есть." in answer.get_data(as_text=True)


# -- assignments ------------------------------------------------------------------------------------------

def test_a_teacher_is_assigned_with_the_api_s_body(admin, school):
    status, html = get(admin, "/admin/assignments")
    assert status == 200 and '<label for="assign-hours">Часов в неделю</label>' in html
    assert calls(school, "list_users")[-1]["args"][2] == "teacher"
    school.rpc_answers[("journal", "assign_teacher")] = lambda ctx, body: {"id": "a1", **body}
    answer = post(admin, "/admin/assignments", {"year": YEAR, "teacher_id": TEACHER, "class_id": CLASS,
                                                "subject_id": SUBJECT, "hours_per_week": "4,5"})
    assert answer.status_code == 303
    assert calls(school, "assign_teacher")[-1]["args"][1] == {"teacher_id": TEACHER, "class_id": CLASS,
                                                              "subject_id": SUBJECT, "hours_per_week": 4.5}
    authorize = school.identity.called("Authorize")[-1]
    assert authorize.resource_id == CLASS  # the decision of POST /assignments on the class
    assert "Учитель назначен" in admin.get("/admin/assignments").get_data(as_text=True)


def test_bad_hours_or_a_refused_assignment_are_shown_beside_the_form(admin, school):
    answer = post(admin, "/admin/assignments", {"teacher_id": TEACHER, "class_id": CLASS, "subject_id": SUBJECT,
                                                "hours_per_week": "много"})
    assert answer.status_code == 400 and "Часов в неделю" in answer.get_data(as_text=True)
    answer = post(admin, "/admin/assignments", {"teacher_id": TEACHER, "class_id": CLASS, "subject_id": SUBJECT,
                                                "hours_per_week": "0"})
    assert answer.status_code == 400
    assert not calls(school, "assign_teacher")
    school.rpc_answers[("journal", "assign_teacher")] = remote_error("rule", "NOT_A_TEACHER",
                                                                     "Пользователь не учитель.")
    answer = post(admin, "/admin/assignments", {"teacher_id": TEACHER, "class_id": CLASS, "subject_id": SUBJECT,
                                                "hours_per_week": "2"})
    assert answer.status_code == 400 and "Пользователь не учитель." in answer.get_data(as_text=True)


# -- a class's timetable ------------------------------------------------------------------------------------

WEEK = {"class_id": CLASS, "period_id": "p1", "slots": [
    {"weekday": 2, "number": 1, "subject_id": SUBJECT, "teacher_id": TEACHER, "room": "12", "subgroup_id": None}]}
TIMETABLE = f"/admin/classes/{CLASS}/timetable?year={YEAR}"


def test_the_timetable_page_shows_the_class_s_week_in_editable_rows(admin, school):
    school.rpc_answers[("journal", "get_timetable")] = WEEK
    status, html = get(admin, f"/admin/classes/{CLASS}/timetable", year=YEAR)
    assert status == 200 and "Расписание 5А" in html
    assert calls(school, "get_timetable")[-1]["args"][1:] == (CLASS, "p1")
    assert '<option value="2" selected>Вторник</option>' in html and 'name="slot-0-room" maxlength="30" size="6" value="12"' in html
    assert '<label class="sr-only" for="slot-6-weekday">День, строка 7</label>' in html  # six spare rows
    assert 'name="rows" value="7"' in html
    assert "/admin/classes/class-5a/timetable?year=year-1" in get(admin, "/admin/classes")[1]  # linked from the list


def test_a_timetable_of_a_class_outside_the_year_or_refused_is_the_404_page(admin, school):
    assert get(admin, "/admin/classes/class-9z/timetable", year=YEAR)[0] == 404
    assert get(admin, f"/admin/classes/{CLASS}/timetable")[0] == 404  # no year
    assert not calls(school, "get_timetable")


def test_the_timetable_asks_the_central_decision_on_the_class(admin, school):
    school.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found")
    assert get(admin, f"/admin/classes/{CLASS}/timetable", year=YEAR)[0] == 404
    assert not calls(school, "get_timetable")


def _week_form(**rows):
    data = {"year": YEAR, "period": "p1", "rows": "3"}
    for i, row in rows.items():
        for key, value in row.items():
            data[f"slot-{i[1:]}-{key}"] = value
    return data


def test_the_week_is_saved_with_the_api_s_body(admin, school):
    school.rpc_answers[("journal", "get_timetable")] = WEEK
    school.rpc_answers[("journal", "set_timetable")] = lambda ctx, cid, body: {"class_id": cid, **body}
    answer = post(admin, f"/admin/classes/{CLASS}/timetable", _week_form(
        r0={"weekday": "1", "number": "2", "subject_id": SUBJECT, "teacher_id": TEACHER, "room": "12"},
        r1={"weekday": "", "number": "", "subject_id": "", "teacher_id": "", "room": ""},
        r2={"weekday": "3", "number": "1", "subject_id": SUBJECT, "teacher_id": TEACHER, "room": ""}), page=TIMETABLE)
    assert answer.status_code == 303
    assert calls(school, "set_timetable")[-1]["args"][1:] == (CLASS, {"period_id": "p1", "slots": [
        {"weekday": 1, "number": 2, "subject_id": SUBJECT, "teacher_id": TEACHER, "room": "12"},
        {"weekday": 3, "number": 1, "subject_id": SUBJECT, "teacher_id": TEACHER}]})
    assert "Расписание 5А сохранено: уроков в неделю — 2" in admin.get(answer.headers["Location"]).get_data(as_text=True)


def test_conflicts_are_shown_in_their_rows(admin, school):
    school.rpc_answers[("journal", "get_timetable")] = WEEK
    school.rpc_answers[("journal", "set_timetable")] = remote_error(
        "conflict", "TIMETABLE_CONFLICT", "Учитель или кабинет заняты в это время", {"conflicts": [
            {"slot": 1, "kind": "teacher", "teacher_id": TEACHER, "class_id": "c9", "class_name": "9Б",
             "weekday": 3, "number": 1},
            {"slot": 1, "kind": "room", "room": "12", "with_slot": 0, "weekday": 3, "number": 1}]})
    answer = post(admin, f"/admin/classes/{CLASS}/timetable", _week_form(
        r0={"weekday": "3", "number": "1", "subject_id": SUBJECT, "teacher_id": "user-2", "room": "12"},
        r2={"weekday": "3", "number": "1", "subject_id": SUBJECT, "teacher_id": TEACHER, "room": "12"}), page=TIMETABLE)
    html = unescape(answer.get_data(as_text=True))
    assert answer.status_code == 409
    assert 'role="alert">Учитель или кабинет заняты в это время' in html
    row = html.split('<tr class="conflict">')[1].split("</tr>")[0]
    note = html.split('<tr class="conflict conflict-note">')[1].split("</tr>")[0]
    assert "Строка 2" in row and 'aria-describedby="slot-1-conflicts"' in row
    assert 'id="slot-1-conflicts"' in note
    assert "Орлова Анна Викторовна уже ведёт урок в это время в классе 9Б." in note
    assert "Кабинет 12 занят в это время в строке 1." in note
    assert html.count('<tr class="conflict">') == 1


def test_a_row_without_its_day_is_refused_before_the_journal(admin, school):
    school.rpc_answers[("journal", "get_timetable")] = WEEK
    answer = post(admin, f"/admin/classes/{CLASS}/timetable", _week_form(
        r0={"weekday": "", "number": "1", "subject_id": SUBJECT, "teacher_id": TEACHER}), page=TIMETABLE)
    assert answer.status_code == 400 and "укажите день недели" in answer.get_data(as_text=True)
    assert not calls(school, "set_timetable")


# -- a class's students from a spreadsheet ---------------------------------------------------------------------

IMPORT = f"/admin/classes/{CLASS}/import?year={YEAR}"


def _upload(admin, content=b"a;b\n", name="class.csv", **fields):
    from io import BytesIO
    html = admin.get(IMPORT).get_data(as_text=True)
    data = {"csrf": csrf_of(html), "year": YEAR, "order_no": "№ 12-у", "on": "2026-09-01", **fields}
    if content is not None:
        data["file"] = (BytesIO(content), name)
    return admin.post(f"/admin/classes/{CLASS}/import", data=data, content_type="multipart/form-data")


JOB = "00000000-0000-4000-8000-000000000b01"


def _job(status, result=None, **extra):
    return {"id": JOB, "kind": "import_students", "status": status, "done": 2, "total": 5, "stage": "accounts",
            "created_at": "2026-09-01T08:00:00+00:00", "finished_at": None,
            **({"result": result} if result is not None else {}), **extra}


def test_every_bad_row_is_shown_with_its_number_and_nothing_is_applied(admin, school):
    school.rpc_answers[("journal", "start_import_students")] = {"job_id": JOB, "status": "queued"}
    status, html = get(admin, f"/admin/classes/{CLASS}/import", year=YEAR)
    assert status == 200 and '<label for="import-file">Файл CSV или XLSX</label>' in html
    answer = _upload(admin, "ФИО ученика;логин\nИванов;iv\n".encode(), "5a.csv")
    assert answer.status_code == 303
    page = answer.headers["Location"]
    assert f"/admin/classes/{CLASS}/import/jobs/{JOB}?year={YEAR}&order_no=" in page
    call = calls(school, "start_import_students")[-1]
    body = call["args"][1]
    import base64
    assert base64.b64decode(body["content_b64"]).decode() == "ФИО ученика;логин\nИванов;iv\n"
    assert {k: body[k] for k in ("filename", "class_id", "order_no", "on")} == {
        "filename": "5a.csv", "class_id": CLASS, "order_no": "№ 12-у", "on": "2026-09-01"}
    # while it runs: the bar, the stage in words, the JSON it polls, and no form
    school.rpc_answers[("journal", "get_job")] = _job("running")
    running = admin.get(page)
    html = running.get_data(as_text=True)
    assert running.status_code == 200 and 'role="progressbar"' in html and 'aria-valuenow="2"' in html
    assert "Создание учётных записей: 2 из 5." in html and 'data-every="1000"' in html
    assert 'id="import-file"' not in html and ">Обновить</a>" in html
    status_url = f"/admin/jobs/{JOB}/status"
    assert f'data-status-url="{status_url}"' in html
    assert admin.get(status_url).get_json() == {"done": False, "ok": None, "text": "Создание учётных записей: 2 из 5.",
                                                "value": 2, "max": 5}
    assert calls(school, "get_job")[-1]["args"][1:] == (JOB, False)  # a poll never takes the passwords
    admin.get(page)
    assert calls(school, "get_job")[-1]["args"][1:] == (JOB, True)
    # once over: what the form used to answer
    school.rpc_answers[("journal", "get_job")] = _job("done", {
        "applied": False, "created": 0, "updated": 0,
        "errors": [{"row": 3, "message": "Нет логина ученика"}, {"row": 7, "message": "Дата рождения неверна"}]})
    assert admin.get(status_url).get_json()["done"] is True
    html = admin.get(page).get_data(as_text=True)
    assert "строк с ошибками — 2" in html and 'role="progressbar"' not in html
    assert 'value="№ 12-у"' in html and 'value="2026-09-01"' in html  # the form under the rows keeps the order
    assert "Строка 3</th><td data-label=\"Причина\">Нет логина ученика" in html
    assert "Строка 7</th><td data-label=\"Причина\">Дата рождения неверна" in html


def test_a_clean_file_is_applied_and_the_passwords_shown_on_its_job_page(admin, school):
    school.rpc_answers[("journal", "start_import_students")] = {"job_id": JOB, "status": "queued"}
    school.rpc_answers[("journal", "get_job")] = _job("done", {
        "applied": True, "created": 2, "updated": 0, "unchanged": 0, "errors": [],
        "credentials": [{"row": 2, "login": "ivanov", "initial_password": "Pw-1-secret"}]})
    answer = admin.get(_upload(admin, b"x", "5a.xlsx").headers["Location"])
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Файл загружен" in html and "Pw-1-secret" in html
    assert "Pw-1-secret" not in admin.get(IMPORT).get_data(as_text=True)
    # shown once: the journal keeps only how many there were
    school.rpc_answers[("journal", "get_job")] = _job("done", {
        "applied": True, "created": 2, "updated": 0, "unchanged": 0, "errors": [], "credentials": [],
        "credentials_shown": 1})
    html = admin.get(answer.request.path + "?" + answer.request.query_string.decode()).get_data(as_text=True)
    assert "Файл загружен" in html and "уже были показаны" in html and "сбросьте его в карточке" in html


def test_a_failed_import_job_is_a_message_beside_the_form_and_another_kind_is_404(admin, school):
    school.rpc_answers[("journal", "get_job")] = _job("failed", error={
        "error": "IMPORT_INCOMPLETE", "message": "Загрузка прервана", "details": {}})
    answer = admin.get(f"/admin/classes/{CLASS}/import/jobs/{JOB}?year={YEAR}")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Не выполнено: Загрузка прервана" in html and 'id="import-file"' in html
    school.rpc_answers[("journal", "get_job")] = {**_job("running"), "kind": "close_year"}
    assert admin.get(f"/admin/classes/{CLASS}/import/jobs/{JOB}?year={YEAR}").status_code == 404
    school.rpc_answers[("journal", "get_job")] = remote_error("not_found", "NOT_FOUND", "Задание не найдено")
    assert admin.get(f"/admin/jobs/{JOB}/status").status_code == 404


def test_no_file_a_wrong_type_or_a_broken_file_is_a_message(admin, school):
    assert _upload(admin, content=None).status_code == 400
    answer = _upload(admin, b"x", "notes.pdf")
    assert answer.status_code == 400 and "CSV или XLSX" in answer.get_data(as_text=True)
    assert not calls(school, "start_import_students")
    school.rpc_answers[("journal", "start_import_students")] = remote_error("bad_request", "VALIDATION_ERROR",
                                                                            "Файл повреждён")
    answer = _upload(admin, b"x", "5a.xlsx")
    assert answer.status_code == 400 and "Файл повреждён" in answer.get_data(as_text=True)
