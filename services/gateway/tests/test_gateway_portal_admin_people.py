"""The administrator's people pages with fake service clients: the password
reset answers the new password once and its letter is a PDF made from what
the page sends back; the year close shows the summary before the order;
a teacher, a parent or a deputy gets the 404 page on every address."""
from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from test_gateway_portal_admin import (  # noqa: F401  (fixtures)
    ADMIN, CLASS, TEACHER, YEAR, admin, calls, csrf_of, get, post, school, sign_in_as,
)

PARENT, STUDENT = "parent-1", "student-1"
GETS = [f"/admin/classes/{CLASS}/students?year={YEAR}", f"/admin/students/{STUDENT}?year={YEAR}&class={CLASS}",
        f"/admin/years/{YEAR}/close", f"/admin/years/{YEAR}/close/jobs/00000000-0000-4000-8000-000000000b02",
        "/admin/jobs/00000000-0000-4000-8000-000000000b02/status"]
POSTS = [f"/admin/users/{TEACHER}/password-reset", f"/admin/users/{TEACHER}/letter",
         f"/admin/classes/{CLASS}/subgroups", f"/admin/classes/{CLASS}/admission", f"/admin/parents/{PARENT}/consent",
         f"/admin/students/{STUDENT}/transfer", f"/admin/students/{STUDENT}/departure", f"/admin/years/{YEAR}/close"]


def test_the_reset_shows_the_password_once_and_the_letter_carries_it(admin, school):
    school.rpc_answers[("identity", "reset_password")] = {"id": TEACHER, "login": "orlova",
                                                          "initial_password": "Kx7pQm2Rt9Wz4a"}
    answer = post(admin, f"/admin/users/{TEACHER}/password-reset", {}, page=f"/admin/users/{TEACHER}")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Kx7pQm2Rt9Wz4a" in html
    assert "Письмо семье" not in html  # a teacher has no family letter
    assert calls(school, "reset_password")[-1]["args"][1:] == (TEACHER,)
    assert "Kx7pQm2Rt9Wz4a" not in get(admin, f"/admin/users/{TEACHER}")[1]
    letter = admin.post(f"/admin/users/{TEACHER}/letter", data={"csrf": csrf_of(html), "password": "Kx7pQm2Rt9Wz4a",
                                                                 "kind": "user"})
    assert letter.status_code == 200 and letter.mimetype == "application/pdf"
    assert letter.headers["Content-Disposition"] == 'attachment; filename="letter-orlova.pdf"'
    text = PdfReader(io.BytesIO(letter.data)).pages[0].extract_text()
    assert "Kx7pQm2Rt9Wz4a" in text and "orlova" in text and "Орлова Анна Викторовна" in text
    # a family letter only for a student's or a parent's account; no letter without a password
    for data in ({"password": "x", "kind": "family"}, {"password": "", "kind": "user"}):
        refused = admin.post(f"/admin/users/{TEACHER}/letter", data={"csrf": csrf_of(html), **data})
        assert refused.status_code == 400 and refused.mimetype == "text/html"


def _roster(school):
    school.rpc_answers[("journal", "list_class_students")] = {"items": [
        {"id": STUDENT, "full_name": "Гусев Артём Викторович", "subgroups": []},
        {"id": "student-2", "full_name": "Белова Елизавета Павловна", "subgroups": []}], "next_cursor": None}


def test_the_year_close_shows_the_summary_and_needs_early_before_the_last_day(admin, school):
    _roster(school)
    school.rpc_answers[("journal", "preview_year_close")] = {
        "year_id": YEAR, "archived": False, "next_year_id": None, "promoted": 24, "graduated": 0, "held_back": 0,
        "already_enrolled": 0, "ends_on": "2027-05-31", "early_required": True,
        "created_classes": [{"id": None, "name": "6А"}],
        "classes": [{"from_class_id": CLASS, "from": "5А", "to_class_id": None, "to": "6А", "students": 24}]}
    status, html = get(admin, f"/admin/years/{YEAR}/close")
    assert status == 200 and "Переводятся в следующий класс</dt><dd>24" in html and "6А" in html
    assert 'id="close-early"' in html
    assert html.count('data-busy="') == 2 and "/assets/admin_ops.js" in html  # both forms say they are working
    assert calls(school, "preview_year_close")[-1]["args"][1:] == (YEAR, {"promote": True, "held_back": []})
    from gateway_fakes import remote_error
    school.rpc_answers[("journal", "start_close_year")] = remote_error(
        "rule", "YEAR_NOT_ENDED", "Год не окончен", details={"field": "early", "ends_on": "2027-05-31"})
    answer = post(admin, f"/admin/years/{YEAR}/close", {"order_no": "№ 5", "promote": "yes"})
    assert answer.status_code == 422 and "досрочно" in answer.get_data(as_text=True)
    assert calls(school, "start_close_year")[-1]["args"][1:] == (YEAR, {"order_no": "№ 5", "promote": True, "early": False,
                                                                  "held_back": []})


def test_the_students_kept_back_are_chosen_before_the_summary_and_go_with_the_order(admin, school):
    _roster(school)
    school.rpc_answers[("journal", "preview_year_close")] = {
        "year_id": YEAR, "archived": False, "next_year_id": None, "promoted": 23, "graduated": 0, "held_back": 1,
        "already_enrolled": 0, "ends_on": "2026-05-31", "early_required": False, "created_classes": [],
        "classes": [{"from_class_id": CLASS, "from": "5А", "to_class_id": None, "to": "6А", "students": 23}]}
    answer = admin.get(f"/admin/years/{YEAR}/close?promote=yes&held={STUDENT}&held={STUDENT}")
    status, html = answer.status_code, answer.get_data(as_text=True)
    assert status == 200 and "Остаются на повторное обучение</dt><dd>1" in html
    assert f'id="held-{STUDENT}" name="held" value="{STUDENT}" checked' in html
    assert 'id="held-student-2" name="held" value="student-2">' in html  # not chosen
    assert f'<input type="hidden" name="held" value="{STUDENT}">' in html  # the order carries the choice
    assert calls(school, "preview_year_close")[-1]["args"][1:] == (YEAR, {"promote": True, "held_back": [STUDENT]})
    school.rpc_answers[("journal", "start_close_year")] = {"job_id": JOB, "status": "queued"}
    answer = post(admin, f"/admin/years/{YEAR}/close", {"order_no": "№ 7", "promote": "yes", "held": STUDENT})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/admin/years/{YEAR}/close/jobs/{JOB}")
    assert calls(school, "start_close_year")[-1]["args"][1:] == (YEAR, {"order_no": "№ 7", "promote": True, "early": False,
                                                                  "held_back": [STUDENT]})
    # without promotion nobody is kept back, and a malformed id is the 404 page
    admin.get(f"/admin/years/{YEAR}/close?promote=no&held={STUDENT}")
    assert calls(school, "preview_year_close")[-1]["args"][1:] == (YEAR, {"promote": False, "held_back": []})
    assert admin.get(f"/admin/years/{YEAR}/close?held=../x").status_code == 404


JOB = "00000000-0000-4000-8000-000000000b02"


def _close_job(status, **extra):
    return {"id": JOB, "kind": "close_year", "status": status, "done": 3, "total": 24, "stage": "promoting",
            "created_at": "2026-06-01T08:00:00+00:00", "finished_at": None, **extra}


def test_the_year_close_runs_as_a_job_with_its_progress_then_its_summary(admin, school):
    page = f"/admin/years/{YEAR}/close/jobs/{JOB}"
    school.rpc_answers[("journal", "get_job")] = _close_job("running")
    preview_calls = len(calls(school, "preview_year_close"))
    answer = admin.get(page)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Перевод учеников: 3 из 24." in html
    assert 'role="progressbar"' in html and 'aria-valuenow="3"' in html and 'aria-valuemax="24"' in html
    assert f'data-status-url="/admin/jobs/{JOB}/status"' in html and ">Обновить</a>" in html
    assert 'id="close-order"' not in html
    assert len(calls(school, "preview_year_close")) == preview_calls  # it would wait for the year the close locks
    school.rpc_answers[("journal", "list_years")] = {"items": [{
        "id": YEAR, "name": "2025/2026", "starts_on": "2025-09-01", "ends_on": "2026-05-31", "closed": True,
        "periods": []}], "next_cursor": None}
    school.rpc_answers[("journal", "get_job")] = _close_job("done", result={
        "year_id": YEAR, "order_no": "№ 7", "archived": True, "next_year_id": None, "promoted": 23, "graduated": 0,
        "held_back": 1, "already_enrolled": 0, "created_classes": [], "classes": []})
    html = admin.get(page).get_data(as_text=True)
    assert "Учебный год закрыт" in html and "Переведены в следующий класс</dt><dd>23" in html
    assert 'role="progressbar"' not in html
    school.rpc_answers[("journal", "get_job")] = _close_job("failed", error={
        "error": "NO_NEXT_YEAR", "message": "Нет следующего учебного года", "details": {}})
    assert "Не выполнено: Нет следующего учебного года" in admin.get(page).get_data(as_text=True)


@pytest.mark.parametrize("roles", [("teacher", "class_teacher"), ("parent",), ("deputy",)])
def test_anyone_but_the_admin_gets_the_404_page(client, school, signing_key, roles):
    sign_in_as(client, school, signing_key, "someone", roles)
    token = csrf_of(client.get("/notifications").get_data(as_text=True))
    for path in GETS:
        assert client.get(path).status_code == 404, path
    for path in POSTS:
        answer = client.post(path, data={"csrf": token, "password": "Kx7pQm2Rt9Wz4a", "kind": "user",
                                         "class_id": CLASS, "given": "yes", "signed_on": "2026-09-01",
                                         "order_no": "1", "on": "2026-09-01", "to_class_id": "c2"})
        assert answer.status_code == 404, path
    writes = {"reset_password", "create_subgroup", "enroll_student", "record_consent", "transfer_student",
              "record_departure", "start_close_year", "preview_year_close", "get_job"}
    assert not [c for c in school.rpc_calls if c["method"] in writes]
