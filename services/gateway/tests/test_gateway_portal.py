"""The portal (gateway.portal) with fake service clients: the sealed
session cookie and its key file, the CSRF check of every form, login with
the staff second factor, refreshing an expired access token, the central
access decision before a page (another child's diary is the 404 page) and
the HTML error pages."""
from __future__ import annotations

import os
import re
import stat

import grpc
import pytest

from ejournal.identity.v1 import identity_pb2
from ejournal.journal.v1 import journal_pb2

from gateway.portal import session as sessions

from gateway_fakes import grpc_error

PARENT, CHILD, OTHER = "parent-1", "child-1", "child-9"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def pair(signing_key, roles=("parent",), sub=PARENT, ttl=900):
    return identity_pb2.TokenPair(access_token=signing_key.token(sub=sub, roles=roles, ttl=ttl),
                                  refresh_token=f"refresh-{ttl}", expires_in=ttl, user_id=sub, roles=list(roles))


@pytest.fixture
def family(fake, signing_key):
    fake.identity.answers["Login"] = pair(signing_key)
    fake.identity.answers["GetProfile"] = identity_pb2.Profile(
        id=PARENT, login="mother", full_name="Иванова Мария Сергеевна", roles=["parent"],
        children=[identity_pb2.Child(id=CHILD, full_name="Иванов Пётр", class_id="class-1")])

    def authorize(request):
        allowed = request.resource_id != OTHER
        return identity_pb2.AuthorizeReply(allowed=allowed, reason="policy" if allowed else "",
                                           denial="" if allowed else "not_found")

    fake.identity.answers["Authorize"] = authorize
    fake.journal.answers["GetDiary"] = journal_pb2.Diary(
        student_id=CHILD, from_date="2026-11-30", to_date="2026-12-06",
        days=[journal_pb2.DiaryDay(date="2026-12-04", lessons=[journal_pb2.DiaryLesson(
            lesson_id="l-1", subject_id="s-1", subject="Алгебра", topic="Линейные уравнения",
            homework="§12", lesson_type="урок", attendance="absent",
            marks=[journal_pb2.DiaryMark(id="m-1", value=5, kind="control", weight=2, comment="Молодец")])])])
    return fake


def signed_in(client):
    page = client.get("/login")
    client.post("/login", data={"csrf": csrf_of(page.get_data(as_text=True)), "login": "mother", "password": "pw"})
    return client


def test_the_session_is_sealed_and_tamper_evident():
    sealer = sessions.Sealer(sessions.decode_key("q" * 43))
    sealed = sealer.seal({"access": "token", "csrf": "x"})
    assert "token" not in sealed and sealer.open(sealed) == {"access": "token", "csrf": "x"}
    assert sealer.open(sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]) is None
    assert sessions.Sealer(sessions.decode_key("r" * 43)).open(sealed) is None
    for junk in (None, "", "%%%", "a" * 5000):
        assert sealer.open(junk) is None
    with pytest.raises(sessions.SessionKeyError):
        sessions.decode_key("short")


def test_the_key_file_is_made_once_with_mode_0600(tmp_path):
    key = sessions.load_key(tmp_path, environ={})
    path = tmp_path / "keys" / "gateway-session.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sessions.load_key(tmp_path, environ={}) == key
    assert sessions.load_key(tmp_path, environ={sessions.KEY_ENV: "q" * 43}) == sessions.decode_key("q" * 43)


def test_login_sets_a_strict_httponly_cookie_and_opens_the_diary(client, family):
    page = client.get("/")
    assert page.status_code == 200 and "Вход" in page.get_data(as_text=True)
    answer = client.post("/login", data={"csrf": csrf_of(page.get_data(as_text=True)), "login": "mother",
                                         "password": "pw"})
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    diary = client.get("/diary")
    html = diary.get_data(as_text=True)
    assert diary.status_code == 200
    assert "Линейные уравнения" in html and "контрольная работа, вес 2 — Молодец" in html
    assert "отсутствовал(а)" in html and "<script>" not in html
    asked = [(r.action, r.resource_id) for r in family.identity.called("Authorize")]
    assert ("diary.read", CHILD) in asked  # the API route's decision, asked of identity


def test_secure_cookie_behind_a_trusted_proxy_only(client, family, app):
    page = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in page.headers["Set-Cookie"]  # nobody trusted: the header is ignored
    app.extensions["ejournal.gateway.portal.proxies"] = frozenset({"127.0.0.1"})
    page = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in page.headers["Set-Cookie"]


def test_another_child_s_diary_is_the_404_page(client, family):
    signed_in(client)
    answer = client.get(f"/diary?child={OTHER}")
    assert answer.status_code == 404 and "Страница не найдена" in answer.get_data(as_text=True)
    assert not family.journal.called("GetDiary")  # refused before the journal is asked
    unknown = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert unknown.status_code == 404 and "Страница не найдена" in unknown.get_data(as_text=True)
    assert client.get("/no-such-page").is_json  # a script still gets JSON


def test_a_form_without_its_token_is_refused(client, family):
    signed_in(client)
    family.rpc_answers[("messaging", "set_notification_settings")] = {"email": "off"}
    for data in ({"email": "off"}, {"email": "off", "csrf": "forged"}):
        answer = client.post("/profile/notifications", data=data)
        assert answer.status_code == 403 and "Форма устарела" in answer.get_data(as_text=True)
    assert not family.rpc_calls
    assert client.post("/login", data={"login": "mother", "password": "pw"}).status_code == 403


def test_pages_need_a_session(client, family):
    answer = client.get("/diary?week=2026-12-01")
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/login?next=")


def test_staff_second_factor_step(client, fake, signing_key):
    calls = []

    def login(request):
        calls.append((request.login, request.password, request.totp_code))
        if not request.totp_code:
            raise grpc_error(grpc.StatusCode.UNAUTHENTICATED, "TOTP_REQUIRED", "Введите код")
        if request.totp_code != "123456":
            raise grpc_error(grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS", "Неверный логин или пароль")
        return pair(signing_key, roles=("secretary",), sub="staff-1")

    fake.identity.answers["Login"] = login
    fake.identity.answers["GetProfile"] = identity_pb2.Profile(id="staff-1", login="sec", full_name="Белова",
                                                               roles=["secretary"])
    page = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(page.get_data(as_text=True)), "login": "sec",
                                         "password": "секретный-пароль-7"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/login/code"
    step = client.get("/login/code").get_data(as_text=True)
    assert "секретный-пароль-7" not in step  # the password stays sealed in the cookie
    wrong = client.post("/login/code", data={"csrf": csrf_of(step), "code": "000000"})
    assert wrong.status_code == 401 and "Неверный или уже использованный код" in wrong.get_data(as_text=True)
    right = client.post("/login/code", data={"csrf": csrf_of(step), "code": "123456"})
    assert right.status_code == 303
    assert calls[-1] == ("sec", "секретный-пароль-7", "123456")
    assert client.get("/").headers["Location"] == "/notifications"


def test_an_expired_access_token_is_refreshed(client, family, signing_key):
    family.identity.answers["Login"] = pair(signing_key, ttl=10)  # due at once
    family.identity.answers["Refresh"] = pair(signing_key, ttl=900)
    signed_in(client)
    assert client.get("/diary").status_code == 200
    assert [r.refresh_token for r in family.identity.called("Refresh")] == ["refresh-10"]
    assert client.get("/diary").status_code == 200
    assert len(family.identity.called("Refresh")) == 1  # the new pair was kept in the cookie


def test_a_refused_refresh_ends_the_session(client, family, signing_key):
    family.identity.answers["Login"] = pair(signing_key, ttl=10)
    family.identity.answers["Refresh"] = grpc_error(grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN", "нет")
    signed_in(client)
    answer = client.get("/diary")
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/login")
    assert "Сеанс завершён" in client.get("/login").get_data(as_text=True)


def test_a_service_away_is_the_503_page(client, family):
    signed_in(client)
    family.journal.answers["GetDiary"] = grpc_error(grpc.StatusCode.UNAVAILABLE)
    answer = client.get("/diary")
    assert answer.status_code == 503 and "Служба временно недоступна" in answer.get_data(as_text=True)
    assert answer.mimetype == "text/html"


def test_a_bad_week_is_a_clear_400_page(client, family):
    signed_in(client)
    answer = client.get("/diary?week=yesterday")
    assert answer.status_code == 400 and "ГГГГ-ММ-ДД" in answer.get_data(as_text=True)


def test_portal_logins_and_pages_are_in_the_access_log(app, client, family):
    from gateway.app import ACCESS_LOG

    class Sink:
        events = []

        def record(self, event):
            self.events.append(event)

    app.extensions[ACCESS_LOG] = Sink()
    signed_in(client)
    client.get("/diary")
    client.get("/assets/portal.css")
    routes = [(e["payload"]["user_id"], e["payload"]["route"], e["payload"]["status"]) for e in Sink.events]
    assert routes == [(PARENT, "/login", 303), (PARENT, "/diary", 200)]


def test_too_large_an_upload_is_a_clear_page(client, family):
    signed_in(client)
    answer = client.post("/mail/new", data={"csrf": "x", "subject": "s", "body": "b",
                                            "ids": "a" * (2 * 1024 * 1024)})
    assert answer.status_code == 413 and "Слишком большой запрос" in answer.get_data(as_text=True)


def _finals_and_timetable(family):
    family.journal.answers["GetDiary"] = journal_pb2.Diary(
        student_id=CHILD, from_date="2026-11-30", to_date="2026-12-06",
        finals=[journal_pb2.DiaryFinal(period_id="q1", period="1 четверть", period_kind="quarter", subject_id="s-1",
                                       subject="Алгебра", value=4)],
        timetable=[journal_pb2.DiarySlot(weekday=1, number=2, subject_id="s-2", subject="История",
                                         teacher_id="t-2", teacher="Петров Иван", room="12")])
    family.rpc_answers[("journal", "student_final_marks")] = {"year_id": "y", "next_cursor": None, "items": [
        {"id": "f-1", "period": {"id": "q1", "name": "1 четверть", "kind": "quarter"},
         "subject": {"id": "s-1", "name": "Алгебра"}, "value": 4, "late": False},
        {"id": "f-2", "period": {"id": "q1", "name": "1 четверть", "kind": "quarter"},
         "subject": {"id": "s-2", "name": "История"}, "value": 5, "late": False},
        {"id": "f-3", "period": {"id": "q2", "name": "2 четверть", "kind": "quarter"},
         "subject": {"id": "s-1", "name": "Алгебра"}, "value": 3, "late": True}]}
    family.rpc_answers[("journal", "forecast")] = {"student_id": CHILD, "period_id": "q2", "period_kind": "quarter",
                                                   "items": [{"subject_id": "s-2", "predicted": 5, "confidence": 0.8,
                                                              "marks_count": 4, "required": 3,
                                                              "weighted_average": 4.75}]}


def test_the_parent_sees_final_marks_by_period(client, family):
    _finals_and_timetable(family)
    signed_in(client)
    answer = client.get("/results")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html[:500]
    table = html[html.index('class="cards finals"'):html.index("</table>")]
    assert table.index("1 четверть") < table.index("2 четверть")
    algebra = table[table.index("Алгебра"):]
    algebra = algebra[:algebra.index("</tr>")]
    assert re.findall(r'mark mark-(\d)', algebra) == ["4", "3"] and "с опозданием" in algebra
    history = table[table.index("История"):]
    assert re.findall(r'mark mark-(\d)', history[:history.index("</tr>")]) == ["5"] and "—" in history
    assert "История" in html[html.index("forecast-title"):]  # the forecast's subject named from the reads
    call = [c for c in family.rpc_calls if c["method"] == "student_final_marks"][-1]
    assert call["args"][1] == CHILD
    asked = {(r.action, r.resource_id) for r in family.identity.called("Authorize")}
    assert ("diary.read", CHILD) in asked
    assert len(family.journal.called("GetDiary")) == 1  # one week's diary, no scraping of months


def test_a_forecast_subject_without_lessons_this_week_is_named(client, family):
    """The forecast names its own subjects: one with no lesson in the week's
    diary and no final mark yet is shown by its name, not as a bare row."""
    _finals_and_timetable(family)
    family.rpc_answers[("journal", "forecast")]["items"].append(
        {"subject_id": "s-9", "subject": "Литература", "predicted": 4, "confidence": 0.7, "marks_count": 5,
         "required": 3, "weighted_average": 4.2})
    signed_in(client)
    html = client.get("/results").get_data(as_text=True)
    assert "Литература" in html[html.index("forecast-title"):]


def test_final_marks_of_another_child_are_the_404_page(client, family):
    _finals_and_timetable(family)
    signed_in(client)
    assert client.get(f"/results?child={OTHER}").status_code == 404
    assert not [c for c in family.rpc_calls if c["method"] == "student_final_marks"]


def test_the_timetable_comes_with_the_diary(client, family):
    _finals_and_timetable(family)
    signed_in(client)
    html = client.get("/timetable").get_data(as_text=True)
    assert "Понедельник" in html and "История" in html and "Петров Иван" in html and "каб. 12" in html
    assert not [c for c in family.rpc_calls if c["method"] in ("forecast", "get_timetable")]


RECIPIENTS = {"items": [
    {"id": "teacher-7", "full_name": "Смирнова Ольга Николаевна", "role": "class_teacher",
     "class": {"id": "class-1", "name": "5А"}},
    {"id": "teacher-8", "full_name": "Петров Иван", "role": "teacher"}], "next_cursor": None}


def test_compose_lists_the_allowed_recipients_with_role_and_class(client, family):
    family.rpc_answers[("messaging", "recipients")] = RECIPIENTS
    signed_in(client)
    html = client.get("/mail/new").get_data(as_text=True)
    assert "Смирнова Ольга Николаевна — классный руководитель, 5А" in html and "Петров Иван — учитель" in html
    assert 'name="to" value="teacher-7"' in html and 'for="q"' in html and 'name="ids"' not in html
    call = [c for c in family.rpc_calls if c["method"] == "recipients"][-1]
    assert call["args"][1:] == (None, 50, None)
    client.get("/mail/new?q=Смир")
    assert [c for c in family.rpc_calls if c["method"] == "recipients"][-1]["args"][1] == "Смир"
    fragment = client.get("/mail/recipients?q=Пет&chosen=teacher-7").get_data(as_text=True)
    assert "Петров Иван" in fragment and "teacher-7" not in fragment and "<html" not in fragment


def test_the_find_button_keeps_the_form_and_what_was_chosen(client, family):
    family.rpc_answers[("messaging", "recipients")] = RECIPIENTS
    signed_in(client)
    token = csrf_of(client.get("/mail/new").get_data(as_text=True))
    answer = client.post("/mail/new", data={"csrf": token, "do": "search", "q": "Пет", "to": "teacher-7",
                                            "who-teacher-7": "Смирнова О. Н.", "subject": "Тема", "body": "Текст"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Смирнова О. Н." in html and 'value="Тема"' in html and ">Текст<" in html
    chosen = html[html.index('id="chosen"'):html.index("</ul>", html.index('id="chosen"'))]
    assert 'value="teacher-7" checked' in chosen
    results = html[html.index('id="recipient-results"'):]
    assert 'value="teacher-7"' not in results and 'value="teacher-8"' in results  # not listed twice
    assert not [c for c in family.rpc_calls if c["method"] == "send_message"]


def test_a_letter_goes_to_the_recipients_picked(client, family):
    family.rpc_answers[("messaging", "recipients")] = RECIPIENTS
    family.rpc_answers[("messaging", "send_message")] = {"id": "msg-1", "thread_id": "msg-1"}
    signed_in(client)
    token = csrf_of(client.get("/mail/new").get_data(as_text=True))
    answer = client.post("/mail/new", data={"csrf": token, "to": ["teacher-7", "teacher-8", "teacher-7"],
                                            "subject": " Вопрос ", "body": "Здравствуйте"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/mail/msg-1")
    sent = [c for c in family.rpc_calls if c["method"] == "send_message"][-1]["args"][1]
    assert sent == {"to": ["teacher-7", "teacher-8"], "subject": "Вопрос", "body": "Здравствуйте"}
    asked = {(r.action, r.resource_id) for r in family.identity.called("Authorize")}
    assert {r for a, r in asked if r in ("teacher-7", "teacher-8")} == {"teacher-7", "teacher-8"}
    refused = client.post("/mail/new", data={"csrf": token, "to": "../x", "subject": "s", "body": "b"})
    assert refused.status_code == 400
    nobody = client.post("/mail/new", data={"csrf": token, "subject": "s", "body": "b"})
    assert nobody.status_code == 400 and "хотя бы одного получателя" in nobody.get_data(as_text=True)


def test_a_recipient_the_decision_refuses_is_not_written_to(client, family):
    family.rpc_answers[("messaging", "recipients")] = RECIPIENTS
    signed_in(client)
    token = csrf_of(client.get("/mail/new").get_data(as_text=True))
    answer = client.post("/mail/new", data={"csrf": token, "to": OTHER, f"who-{OTHER}": "Сидоров Илья",
                                            "subject": "s", "body": "b"})
    assert answer.status_code == 400 and "Сидоров Илья" in answer.get_data(as_text=True)
    assert not [c for c in family.rpc_calls if c["method"] == "send_message"]


def test_pages_read_a_dict_s_key_before_its_attribute(app):
    """The pages draw the services' answers (dicts): ``x.name`` is the key,
    also where a key shadows a dict method; the methods still work where it
    does not."""
    template = app.jinja_env.from_string(
        "{{ a.id }}|{{ a.items|join(',') }}|{% for k, v in b.items() %}{{ k }}={{ v }}{% endfor %}|"
        "{{ b.get('x') }}|{{ a.missing is undefined }}")
    assert template.render(a={"id": "7", "items": [1, 2]}, b={"x": "y"}) == "7|1,2|x=y|y|True"
