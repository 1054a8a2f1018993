"""The teacher's and class teacher's portal pages with fake service
clients: my classes, the journal grid with its evidence, warnings and
flags, a lesson, marks and attendance entered with the form's
Idempotency-Key (JSON for the page's script, a redirect without it), a
mark's correction and history, the class list with parents and consent,
a letter to all parents, and the central decision before each page."""
from __future__ import annotations

import re

import pytest

from ejournal.identity.v1 import identity_pb2
from ejournal.journal.v1 import journal_pb2

TEACHER, CLASS, SUBJECT, PERIOD, LESSON = "teacher-1", "class-1", "subject-1", "period-1", "lesson-1"
PUPIL, PUPIL2 = "pupil-1", "pupil-2"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def key_of(html: str, form_id: str) -> str:
    form = html[html.index(f'id="{form_id}"'):]
    return re.search(r'name="key" value="([^"]+)"', form).group(1)


@pytest.fixture
def teacher(fake, signing_key):
    fake.identity.answers["Login"] = identity_pb2.TokenPair(
        access_token=signing_key.token(sub=TEACHER, roles=("teacher", "class_teacher")), refresh_token="r",
        expires_in=900, user_id=TEACHER, roles=["teacher", "class_teacher"])
    fake.identity.answers["GetProfile"] = identity_pb2.Profile(
        id=TEACHER, login="t", full_name="Смирнова Ольга Николаевна", roles=["teacher", "class_teacher"],
        classes=[identity_pb2.ClassRef(id=CLASS, role="class_teacher")])
    fake.rpc_answers[("journal", "list_my_classes")] = {"items": [
        {"class": {"id": CLASS, "name": "5А", "year_id": "y"}, "subject": {"id": SUBJECT, "name": "Математика"},
         "subgroup": None, "source": "assignment"}], "next_cursor": None}
    fake.rpc_answers[("journal", "list_years")] = {"items": [{"id": "y", "name": "2026/2027", "periods": [
        {"id": PERIOD, "name": "2 четверть", "kind": "quarter", "starts_on": "2026-11-01",
         "ends_on": "2026-12-28"}]}], "next_cursor": None}
    fake.journal.answers["GetClassJournal"] = journal_pb2.ClassJournal(
        class_id=CLASS, subject_id=SUBJECT, period_id=PERIOD, starts_on="2026-11-01", ends_on="2026-12-28",
        class_name="5А", subject_name="Математика", year_id="y", year_name="2026/2027",
        periods=[journal_pb2.GridPeriod(id=PERIOD, name="2 четверть", kind="quarter", starts_on="2026-11-01",
                                        ends_on="2026-12-28")],
        students=[journal_pb2.GridStudent(id=PUPIL, full_name="Иванов Пётр"),
                  journal_pb2.GridStudent(id=PUPIL2, full_name="Сидоров Илья")],
        lessons=[journal_pb2.GridLesson(id=LESSON, date="2026-12-03", topic="Дроби", lesson_type="урок",
                                           teacher_id=TEACHER, late=True)],
        marks=[journal_pb2.GridMark(id="mark-1", lesson_id=LESSON, student_id=PUPIL, value=4, kind="control",
                                       weight=2, version=1)],
        attendance=[journal_pb2.GridAttendance(lesson_id=LESSON, student_id=PUPIL2, status="absent",
                                                  version=1)],
        finals=[journal_pb2.GridFinal(id="f-1", student_id=PUPIL, period_id=PERIOD, period_kind="quarter",
                                         value=4)],
        at_risk=[journal_pb2.GridRisk(student_id=PUPIL2, reasons=["FEW_MARKS"], marks_count=0, required=3)])
    fake.rpc_answers[("journal", "plan_coverage")] = {"period_id": PERIOD, "items": [
        {"plan_id": "p", "class_id": CLASS, "class_name": "5А", "subject_id": SUBJECT, "subject_name": "Математика",
         "teacher_id": TEACHER, "planned_hours": 40, "taught_hours": 10, "percent": 25.0, "expected_by_today": 30,
         "behind": True}]}
    return fake


def signed_in(client):
    page = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(page.get_data(as_text=True)), "login": "t",
                                         "password": "pw"})
    assert answer.status_code == 303
    return client


def test_the_plan_s_coverage_has_its_own_page(client, teacher):
    signed_in(client)
    plan = f"/teaching/classes/{CLASS}/plan?subject={SUBJECT}&amp;period={PERIOD}"
    assert plan in journal_page(client)
    page = client.get(plan.replace("&amp;", "&"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "План и его выполнение: 5А, Математика" in html
    assert "отставание" in html and "25,0%" in html and f"/teaching/classes/{CLASS}/journal?subject={SUBJECT}" in html
    asked = [(r.action, r.resource_id) for r in teacher.identity.called("Authorize")]
    assert ("plan.coverage", CLASS) in asked
    assert client.get(f"/teaching/classes/{CLASS}/plan?subject={SUBJECT}").status_code == 404  # no period


def journal_page(client):
    page = client.get(f"/teaching/classes/{CLASS}/journal?subject={SUBJECT}")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return page.get_data(as_text=True)


def test_my_classes_and_the_journal_grid(client, teacher):
    signed_in(client)
    home = client.get("/")
    assert home.headers["Location"].endswith("/teaching")
    html = client.get("/teaching").get_data(as_text=True)
    assert "5А" in html and "Журнал: Математика" in html and f"/teaching/class/{CLASS}" in html
    before = len(teacher.rpc_calls)
    html = journal_page(client)
    assert "Журнал: 5А, Математика" in html and "Иванов Пётр" in html and "поздно" in html
    assert "/teaching/marks/mark-1" in html and ">Н</abbr>" in html
    assert "4,00" in html and "отметок меньше" in html
    assert 'for="mark-pupil-1"' in html and 'form="marks-form"' in html and "<script>" not in html
    asked = [(r.action, r.resource_id) for r in teacher.identity.called("Authorize")]
    assert ("class.journal.read", CLASS) in asked
    # the grid's own answer carries the names, the periods and the students at risk: no other read of them
    assert not [c for c in teacher.rpc_calls[before:] if c["method"] in (
        "list_years", "list_my_classes", "list_subjects", "students_at_risk", "plan_coverage")]
    # the grid's own answer names the class and offers its year's periods and the whole year
    assert '<option value="period-1" selected>2 четверть (1 ноября — 28 декабря)</option>' in html
    assert '<option value="y">Весь год (2026/2027)</option>' in html


def test_marks_are_one_write_with_the_form_s_key(client, teacher):
    signed_in(client)
    html = journal_page(client)
    teacher.rpc_answers[("journal", "post_marks")] = {"marks": [
        {"id": "mark-2", "student_id": PUPIL2, "value": 5, "kind": "oral", "weight": 1, "comment": None}]}
    form = {"csrf": csrf_of(html), "key": key_of(html, "marks-form"), "class": CLASS, "subject": SUBJECT,
            "kind": "oral", "weight": "1", f"mark-{PUPIL2}": "5", f"mark-{PUPIL}": ""}
    answer = client.post(f"/teaching/lessons/{LESSON}/marks", data=form, headers={"X-Requested-With": "fetch"})
    assert answer.status_code == 200 and answer.json["ok"] and answer.json["marks"][0]["id"] == "mark-2"
    call = [c for c in teacher.rpc_calls if c["method"] == "post_marks"][-1]
    assert call["args"][1:] == (LESSON, [{"student_id": PUPIL2, "value": 5, "kind": "oral", "weight": 1}])
    assert call["kwargs"] == {"idempotency_key": form["key"]}
    # without the script: the journal again, with the lesson's column open
    answer = client.post(f"/teaching/lessons/{LESSON}/marks", data=form)
    assert answer.status_code == 303 and f"lesson={LESSON}" in answer.headers["Location"]
    # a form without its key is refused, nothing posted
    calls = len(teacher.rpc_calls)
    answer = client.post(f"/teaching/lessons/{LESSON}/marks", data={**form, "key": "x"},
                         headers={"X-Requested-With": "fetch"})
    assert answer.status_code == 400 and "Форма устарела" in answer.json["message"]
    assert len(teacher.rpc_calls) == calls


def test_attendance_sends_only_changes(client, teacher):
    signed_in(client)
    html = journal_page(client)
    teacher.rpc_answers[("journal", "record_attendance")] = {"entries": []}
    form = {"csrf": csrf_of(html), "key": key_of(html, "att-form"), "class": CLASS, "subject": SUBJECT,
            f"att-{PUPIL}": "late", f"was-{PUPIL}": "", f"att-{PUPIL2}": "absent", f"was-{PUPIL2}": "absent"}
    answer = client.post(f"/teaching/lessons/{LESSON}/attendance", data=form,
                         headers={"X-Requested-With": "fetch"})
    assert answer.json["ok"] and answer.json["saved"] == 1
    call = [c for c in teacher.rpc_calls if c["method"] == "record_attendance"][-1]
    assert call["args"][1:] == (LESSON, {"entries": [{"student_id": PUPIL, "status": "late"}]})


def test_a_lesson_is_recorded(client, teacher):
    signed_in(client)
    html = journal_page(client)
    teacher.rpc_answers[("journal", "record_lesson")] = {"id": "lesson-2"}
    answer = client.post(f"/teaching/classes/{CLASS}/lessons", data={
        "csrf": csrf_of(html), "key": key_of(html, "lesson-form"), "subject": SUBJECT, "date": "2026-12-04",
        "topic": "Сложение дробей", "lesson_type": "урок", "work_type": "", "homework": "№ 12"})
    assert answer.status_code == 303 and "lesson=lesson-2" in answer.headers["Location"]
    call = [c for c in teacher.rpc_calls if c["method"] == "record_lesson"][-1]
    assert call["args"][1] == {"class_id": CLASS, "subject_id": SUBJECT, "date": "2026-12-04",
                               "topic": "Сложение дробей", "lesson_type": "урок", "homework": "№ 12"}


def test_a_mark_is_corrected_with_a_reason(client, teacher):
    signed_in(client)
    teacher.rpc_answers[("journal", "mark_history")] = {"mark_id": "mark-1", "verified": True, "problems": [],
                                                        "items": [{"version": 1, "value": 4, "kind": "control",
                                                                   "weight": 2, "comment": None, "removed": False,
                                                                   "by": TEACHER, "at": "2026-12-03T10:00:00+00:00",
                                                                   "reason": None, "hash": "h"}]}
    page = client.get("/teaching/marks/mark-1?back=/teaching")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Версия 1" in html and 'href="/teaching"' in html
    journal_page(client)  # a mark opened from the grid leads back to the journal shown last
    back = client.get("/teaching/marks/mark-1").get_data(as_text=True)
    assert f'href="/teaching/classes/{CLASS}/journal?subject={SUBJECT}">← К журналу' in back
    teacher.rpc_answers[("journal", "correct_mark")] = {"id": "mark-1"}
    answer = client.post("/teaching/marks/mark-1", data={
        "csrf": csrf_of(html), "key": key_of(html, "correct-title"), "value": "5", "kind": "control", "weight": "2",
        "comment": "", "reason": "Ошибка при вводе", "back": "/teaching"})
    assert answer.status_code == 303
    call = [c for c in teacher.rpc_calls if c["method"] == "correct_mark"][-1]
    assert call["args"][1:] == ("mark-1", {"reason": "Ошибка при вводе", "value": 5, "kind": "control",
                                           "weight": 2, "comment": None})



def test_a_mark_s_page_names_whose_it_is_and_it_is_cancelled_with_a_reason(client, teacher):
    """R-J7: the student, the lesson and who made each version; a cancellation is one write with its key."""
    signed_in(client)
    teacher.rpc_answers[("journal", "mark_history")] = {
        "mark_id": "mark-1", "verified": True, "problems": [],
        "items": [{"version": 1, "value": 4, "kind": "control", "weight": 2, "comment": None, "removed": False,
                   "by": TEACHER, "by_name": "Смирнова Ольга Николаевна", "at": "2026-12-03T10:00:00+00:00",
                   "reason": None, "hash": "h"}],
        "student": {"id": PUPIL, "full_name": "Иванов Пётр"},
        "lesson": {"id": LESSON, "date": "2026-12-03", "topic": "Дроби", "subject": {"id": SUBJECT,
                   "name": "Математика"}, "class": {"id": CLASS, "name": "5А"}}}
    html = client.get("/teaching/marks/mark-1").get_data(as_text=True)
    assert "Иванов Пётр" in html and "5А, Математика, 3 декабря 2026 — Дроби" in html
    assert "Смирнова Ольга Николаевна" in html and 'for="remove-reason"' in html
    key = key_of(html, "remove-title")
    teacher.rpc_answers[("journal", "remove_mark")] = {"id": "mark-1", "removed": True}
    answer = client.post("/teaching/marks/mark-1/remove", data={"csrf": csrf_of(html), "key": key,
                                                                "reason": "Выставлена не тому ученику"})
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/teaching/marks/mark-1")
    call = [c for c in teacher.rpc_calls if c["method"] == "remove_mark"][-1]
    assert call["args"][1:] == ("mark-1", {"reason": "Выставлена не тому ученику"})
    assert call["kwargs"]["idempotency_key"] == key
    asked = [(r.action, r.resource_id) for r in teacher.identity.called("Authorize")]
    assert ("mark.remove", "mark-1") in asked


def test_the_class_list_and_a_letter_to_all_parents(client, teacher):
    signed_in(client)
    teacher.rpc_answers[("journal", "list_class_students")] = {
        "items": [{"id": PUPIL, "full_name": "Иванов Пётр", "subgroups": []}], "next_cursor": None,
        "families": True, "class": {"id": CLASS, "name": "5А", "year_id": "y"}}
    teacher.rpc_answers[("identity", "class_families")] = {PUPIL: {"parents": [
        {"id": "par-1", "full_name": "Иванова Мария", "consent": True, "consent_signed_on": "2026-09-01"},
        {"id": "par-2", "full_name": "Иванов Алексей", "consent": False, "consent_signed_on": None}]}}
    html = client.get(f"/teaching/class/{CLASS}").get_data(as_text=True)
    assert "<h1>5А: список класса</h1>" in html  # the class's name from the list's own answer
    assert "Иванова Мария" in html and "consent-yes" in html and "consent-no" in html
    assert "дано 1 сентября 2026" in html  # the date signed of the latest decision
    # the «Активность родителей» tab opens the weekly page (R-A6), not the monthly report
    assert f'<a href="/teaching/class/{CLASS}/parents-activity">Активность родителей</a>' in html
    html = client.get(f"/teaching/class/{CLASS}/letter").get_data(as_text=True)
    assert "Получатели: 2" in html
    teacher.rpc_answers[("messaging", "send_message")] = {"id": "msg-1", "thread_id": "t",
                                                          "recipients": ["par-1", "par-2"]}
    answer = client.post(f"/teaching/class/{CLASS}/letter", data={
        "csrf": csrf_of(html), "subject": "Собрание", "body": "В четверг в 18:00"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/mail/msg-1")
    call = [c for c in teacher.rpc_calls if c["method"] == "send_message"][-1]
    assert call["args"][1] == {"to": [], "to_parents_of_class": CLASS, "subject": "Собрание",
                               "body": "В четверг в 18:00"}


def test_a_parent_gets_the_404_page_for_the_journal(client, fake, signing_key):
    fake.identity.answers["Login"] = identity_pb2.TokenPair(
        access_token=signing_key.token(sub="parent-1", roles=("parent",)), refresh_token="r", expires_in=900,
        user_id="parent-1", roles=["parent"])
    fake.identity.answers["GetProfile"] = identity_pb2.Profile(id="parent-1", login="p", full_name="Мама",
                                                               roles=["parent"])
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found")
    signed_in(client)
    for url in (f"/teaching/classes/{CLASS}/journal?subject={SUBJECT}", f"/teaching/class/{CLASS}",
                "/teaching/marks/mark-1"):
        answer = client.get(url)
        assert answer.status_code == 404 and "Страница не найдена" in answer.get_data(as_text=True), url
    assert not fake.journal.called("GetClassJournal")


def test_a_final_mark_shows_its_warnings(client, teacher):
    signed_in(client)
    html = journal_page(client)
    teacher.rpc_answers[("journal", "post_final_mark")] = {
        "id": "f-2", "student_id": PUPIL2, "value": 3, "warnings": [
            {"code": "THIN_EVIDENCE", "message": "Текущих отметок меньше, чем требует положение: 0 из 3"}]}
    key = re.search(r'name="key" value="([^"]+-2)"', html).group(1)
    answer = client.post(f"/teaching/classes/{CLASS}/finals", data={
        "csrf": csrf_of(html), "key": key, "subject": SUBJECT, "student": PUPIL2, "period_id": PERIOD, "value": "3"},
        headers={"X-Requested-With": "fetch"})
    assert answer.json["ok"] and "Итоговая оценка 3 выставлена" in answer.json["message"]
    assert "0 из 3" in answer.json["message"]
    call = [c for c in teacher.rpc_calls if c["method"] == "post_final_mark"][-1]
    assert call["args"][1] == {"student_id": PUPIL2, "subject_id": SUBJECT, "period_id": PERIOD, "value": 3}
    assert call["kwargs"] == {"idempotency_key": key}


def test_the_administration_opens_a_class_journal_without_classes_of_its_own(client, teacher, signing_key):
    from gateway.errors import ApiError
    teacher.identity.answers["Login"] = identity_pb2.TokenPair(
        access_token=signing_key.token(sub="deputy-1", roles=("deputy",)), refresh_token="r", expires_in=900,
        user_id="deputy-1", roles=["deputy"])
    teacher.identity.answers["GetProfile"] = identity_pb2.Profile(id="deputy-1", login="d", full_name="Завуч",
                                                                  roles=["deputy"])
    teacher.rpc_answers[("journal", "list_my_classes")] = ApiError(403, "FORBIDDEN")
    teacher.rpc_answers[("journal", "list_subjects")] = {"items": [{"id": SUBJECT, "name": "Математика"}],
                                                         "next_cursor": None}
    signed_in(client)
    html = journal_page(client)
    assert "Математика" in html and "Иванов Пётр" in html and "Мои классы" not in html.split("<main")[0]


PARENTS_WEEK = {
    "class": {"id": CLASS, "name": "5А"}, "week": {"starts_on": "2026-10-05", "ends_on": "2026-10-11"},
    "parents": [
        {"parent_id": "par-2", "full_name": "Борисов Олег", "children": [{"id": PUPIL2, "full_name": "Сидоров Илья"}],
         "days_active": 0, "logins": 0, "actions": 0, "last_seen": None},
        {"parent_id": "par-1", "full_name": "Иванова Мария",
         "children": [{"id": PUPIL, "full_name": "Иванов Пётр"}, {"id": "pupil-3", "full_name": "Иванова Ева"}],
         "days_active": 2, "logins": 3, "actions": 17, "last_seen": "2026-10-08"}],
    "totals": {"parents": 2, "active": 1}}


def test_the_class_teacher_sees_which_parents_came_in_a_week(client, teacher):
    """R-A6: the tab opens the weekly page; reports is asked for the week's
    Monday; the table, the totals line, the weeks around it and the monthly
    report are on the page."""
    signed_in(client)
    teacher.rpc_answers[("reports", "parents_activity")] = PARENTS_WEEK
    teacher.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="policy")
    html = client.get(f"/teaching/class/{CLASS}/parents-activity?week=2026-10-08").get_data(as_text=True)
    call = [c for c in teacher.rpc_calls if c["method"] == "parents_activity"][-1]
    assert call["service"] == "reports" and call["args"][1:] == (CLASS, "2026-10-05")
    (ask,) = [r for r in teacher.identity.called("Authorize") if r.action == "class.journal.read"][-1:]
    assert (ask.resource_type, ask.resource_id) == ("class", CLASS)
    assert "<h1>5А: активность родителей</h1>" in html
    assert "5 октября 2026 — 11 октября 2026" in html
    assert "Заходили 1 из 2 родителей" in html
    assert f'href="/teaching/class/{CLASS}/parents-activity?week=2026-09-28"' in html
    assert f'href="/teaching/class/{CLASS}/parents-activity?week=2026-10-12"' in html
    assert f'/reports?kind=user-activity&amp;month=2026-10&amp;class={CLASS}' in html
    assert f'href="/teaching/class/{CLASS}/parents-activity" aria-current="page"' in html
    rows = re.findall(r"<tr class=\"(\w+)\"><th scope=\"row\">([^<]+)</th>(.*?)</tr>", html, re.S)
    assert [(r[0], r[1]) for r in rows] == [("inactive", "Борисов Олег"), ("active", "Иванова Мария")]
    assert "не заходил(а)" in rows[0][2] and "8 октября 2026" in rows[1][2]
    assert "Иванов Пётр, Иванова Ева" in rows[1][2] and 'data-label="Действий">17<' in rows[1][2]
    # a bad week is the error page, reports is not asked
    before = len(teacher.rpc_calls)
    answer = client.get(f"/teaching/class/{CLASS}/parents-activity?week=08.10.2026")
    assert answer.status_code == 400 and len(teacher.rpc_calls) == before


def test_parents_activity_page_is_404_to_whom_reports_refuses(client, teacher):
    from gateway_fakes import remote_error
    signed_in(client)
    teacher.rpc_answers[("reports", "parents_activity")] = remote_error("not_found", "NOT_FOUND", "Класс не найден")
    answer = client.get(f"/teaching/class/{CLASS}/parents-activity")
    assert answer.status_code == 404 and "Страница не найдена" in answer.get_data(as_text=True)
    teacher.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found")
    before = len(teacher.rpc_calls)
    assert client.get("/teaching/class/class-2/parents-activity").status_code == 404
    assert len(teacher.rpc_calls) == before
