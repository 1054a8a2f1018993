"""The administrator's operations pages and the office's pages with fake
service clients: a backup's and a drill's status (page and JSON) read from
the catalogue, the drill run off the request, the logs' filters passed to
identity, the news form's checks before messaging, and the 404 page for
everyone the pages are not for."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from test_gateway_portal_admin import ADMIN, calls, get, post, sign_in_as

BACKUP = "backup-1"


def row(**extra):
    return {"id": BACKUP, "started_at": "2026-12-07T10:00:00+00:00", "finished_at": "2026-12-07T10:01:00+00:00",
            "status": "done", "size": 4096, "targets": ["local"], "verified": True, "trigger": "manual",
            "drilled_at": None, "drill_ok": None, "failed_targets": [], "retention": "rotation",
            "expires_at": None, **extra}


@pytest.fixture
def ops(fake):
    fake.rpc_answers[("backup", "list_backups")] = {"items": [row()], "next_cursor": None}
    fake.rpc_answers[("backup", "backup_schedule")] = {"targets": [
        {"target": "local", "kind": "local", "location": "local", "every_hours": 24.0, "last_copy_at": None,
         "next_run_at": "2026-12-08T03:00:00+00:00", "failing": False}], "next_run_at": "2026-12-08T03:00:00+00:00"}
    people = [
        {"id": "user-7", "login": "sokolova", "full_name": "Соколова Елена", "roles": ["deputy"], "locked": False},
        {"id": "user-8", "login": "sokolov", "full_name": "Соколов Иван", "roles": ["teacher"], "locked": False}]
    fake.rpc_answers[("identity", "list_users")] = lambda ctx, q, role, limit, cursor: {"items": [
        p for p in people if not q or q.lower() in p["login"] or q.lower() in p["full_name"].lower()],
        "next_cursor": None}
    fake.rpc_answers[("identity", "list_access")] = {"items": [], "next_cursor": None}
    fake.rpc_answers[("identity", "list_audit")] = {"items": [], "next_cursor": None}
    return fake


@pytest.fixture
def admin(client, ops, signing_key):
    sign_in_as(client, ops, signing_key, ADMIN, ("admin",))
    return client


def test_the_backups_page_lists_the_catalogue_and_the_schedule(admin):
    status, html = get(admin, "/admin/backups")
    assert status == 200
    assert "диск сервера" in html and "Создать копию сейчас" in html and "Проверить восстановление" in html
    assert f'href="/admin/backups/{BACKUP}/archive"' in html


def test_a_started_backup_opens_its_status_page_and_its_json(admin, ops):
    ops.rpc_answers[("backup", "request_backup")] = {"id": BACKUP, "status": "running"}
    ops.rpc_answers[("backup", "list_backups")] = {"items": [row(status="running", finished_at=None)],
                                                   "next_cursor": None}
    answer = post(admin, "/admin/backups", {}, page="/admin/backups")
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/admin/backups/{BACKUP}")
    status, html = get(admin, f"/admin/backups/{BACKUP}")
    assert status == 200 and 'data-done="false"' in html and ">Обновить</a>" in html
    assert admin.get(f"/admin/backups/{BACKUP}/status").get_json()["done"] is False
    ops.rpc_answers[("backup", "list_backups")] = {"items": [row()], "next_cursor": None}
    assert admin.get(f"/admin/backups/{BACKUP}/status").get_json() == {"done": True, "ok": True,
                                                                         "text": "Копия создана."}
    assert admin.get("/admin/backups/no-such/status").status_code == 404


def test_a_drill_runs_off_the_request_and_its_outcome_is_read_from_the_catalogue(admin, ops):
    started = []

    def drill(ctx, backup_id):
        started.append(backup_id)
        time.sleep(0.2)
        return {"ok": True, "checked_rows": 10, "mismatches": []}

    ops.rpc_answers[("backup", "restore_drill")] = drill
    answer = post(admin, f"/admin/backups/{BACKUP}/drill", {}, page="/admin/backups")
    assert answer.status_code == 303
    status_page = answer.headers["Location"]
    assert "/admin/backups/backup-1/drill?since=" in status_page
    page = admin.get(status_page)
    assert page.status_code == 200 and "Идёт проверка восстановления" in page.get_data(as_text=True)
    for _ in range(50):
        if started:
            break
        time.sleep(0.05)
    assert started == [BACKUP]
    since = dt.datetime.fromisoformat(status_page.split("since=")[1].replace("%2B", "+").replace("%3A", ":"))
    json_url = status_page.replace("/drill?", "/drill/status?")
    assert admin.get(json_url).get_json()["done"] is False
    # an earlier drill does not count; one recorded after the start does
    ops.rpc_answers[("backup", "list_backups")] = {"items": [row(
        drilled_at=(since - dt.timedelta(hours=1)).isoformat(), drill_ok=True)], "next_cursor": None}
    assert admin.get(json_url).get_json()["done"] is False
    ops.rpc_answers[("backup", "list_backups")] = {"items": [row(
        drilled_at=(since + dt.timedelta(seconds=5)).isoformat(), drill_ok=False)], "next_cursor": None}
    state = admin.get(json_url).get_json()
    assert state["done"] is True and state["ok"] is False and "не пройдена" in state["text"]


def test_a_refused_drill_is_shown_on_its_status_page(admin, ops):
    from gateway_fakes import remote_error
    ops.rpc_answers[("backup", "restore_drill")] = remote_error("conflict", "CONFLICT", "Архив копии не найден")
    answer = post(admin, f"/admin/backups/{BACKUP}/drill", {}, page="/admin/backups")
    json_url = answer.headers["Location"].replace("/drill?", "/drill/status?")
    for _ in range(50):
        state = admin.get(json_url).get_json()
        if state["done"]:
            break
        time.sleep(0.05)
    assert state["done"] is True and state["ok"] is False and "Архив копии не найден" in state["text"], state


def test_a_drill_of_an_unfinished_backup_is_not_started(admin, ops):
    ops.rpc_answers[("backup", "list_backups")] = {"items": [row(status="running")], "next_cursor": None}
    answer = post(admin, f"/admin/backups/{BACKUP}/drill", {}, page="/admin/backups")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/admin/backups")
    assert calls(ops, "restore_drill") == []


def test_the_access_log_passes_its_filters_and_grows_by_a_page(admin, ops):
    status, html = get(admin, "/admin/access-log", who="sokolova", **{"from": "2026-12-01", "to": "2026-12-07"})
    assert status == 200
    assert calls(ops, "list_access")[-1]["args"][1:] == ("user-7", "2026-12-01", "2026-12-07", 50)
    ops.rpc_answers[("identity", "list_access")] = {"items": [
        {"id": f"a{i}", "user_id": "user-7", "roles": ["deputy"], "method": "GET", "route": "/api/v1/me",
         "resource_id": None, "status": 200, "address": "10.0.0.1", "correlation_id": "c",
         "at": "2026-12-07T10:00:00+00:00"} for i in range(50)], "next_cursor": None}
    status, html = get(admin, "/admin/access-log", user="user-7")
    assert "Соколова Елена" in html and "rows=100" in html
    # a search finding two people offers both and reads no log
    before = len(calls(ops, "list_access"))
    status, html = get(admin, "/admin/access-log", who="соколов")
    assert "выберите одного" in html and len(calls(ops, "list_access")) == before
    status, html = get(admin, "/admin/access-log", **{"from": "7 декабря"})
    assert status == 400 and "ГГГГ-ММ-ДД" in html


def test_the_audit_passes_the_user_and_the_action(admin, ops):
    status, _ = get(admin, "/admin/audit", user="user-8", action="roles_changed", **{"from": "2026-12-01"})
    assert status == 200
    called = calls(ops, "list_audit")[-1]
    assert called["args"][1:] == ("user-8", "roles_changed", 50)
    assert called["kwargs"] == {"from_date": "2026-12-01", "to_date": None}


def test_the_audit_shows_what_changed_in_words(admin, ops):
    ops.rpc_answers[("identity", "list_audit")] = {"items": [
        {"id": "a1", "at": "2026-12-07T10:00:00+00:00", "action": "roles_changed", "actor_id": None,
         "target_id": "user-8", "before": {"roles": ["teacher"]}, "after": {"roles": ["teacher", "class_teacher"]}},
        {"id": "a2", "at": "2026-12-07T10:01:00+00:00", "action": "consent_recorded", "actor_id": None,
         "target_id": "user-9", "before": {"given": True}, "after": {"given": False}},
        {"id": "a3", "at": "2026-12-07T10:02:00+00:00", "action": "login_locked", "actor_id": None,
         "target_id": "user-9", "before": None, "after": {"failures": 5, "address": "10.0.0.7", "new": 1}},
    ], "next_cursor": None}
    status, html = get(admin, "/admin/audit")
    assert status == 200
    assert "роли: учитель → роли: учитель, классный руководитель" in html
    assert "согласие: дано → согласие: отозвано" in html
    assert "— → неудачных входов: 5; адрес: 10.0.0.7; new: 1" in html
    assert "{&#34;" not in html and '{"' not in html


@pytest.mark.parametrize("roles", [("teacher", "class_teacher"), ("parent",), ("deputy",), ("secretary",)])
def test_the_operations_pages_are_the_404_page_for_anyone_but_the_admin(client, ops, signing_key, roles):
    sign_in_as(client, ops, signing_key, "someone", roles)
    for path in ("/admin/backups", f"/admin/backups/{BACKUP}", f"/admin/backups/{BACKUP}/status",
                 f"/admin/backups/{BACKUP}/archive", "/admin/access-log", "/admin/audit"):
        assert client.get(path).status_code == 404, path
    assert not [c for c in ops.rpc_calls if c["service"] == "backup"]


@pytest.mark.parametrize("roles", [("teacher", "class_teacher"), ("parent",), ("admin",), ("secretary",)])
def test_the_office_pages_are_the_404_page_for_anyone_but_the_director_and_the_deputy(client, ops, signing_key,
                                                                                      roles):
    sign_in_as(client, ops, signing_key, "someone", roles)
    for path in ("/office", "/office/at-risk", "/office/coverage", "/office/lessons", "/office/lessons/l1",
                 "/office/marks/m1"):
        assert client.get(path).status_code == 404, path


def test_the_news_form_checks_the_links_and_the_audience_before_messaging(client, ops, signing_key):
    sign_in_as(client, ops, signing_key, "sec-1", ("secretary",))
    ops.rpc_answers[("journal", "list_classes")] = {"items": [{"id": "class-1", "name": "5А"}], "next_cursor": None}
    ops.rpc_answers[("messaging", "post_news")] = {"id": "n1"}
    base = {"title": "Собрание", "body": "В 18:00", "kind": "announcement", "audience": "school",
            "link_title": ["Повестка", ""], "link_url": ["", ""]}
    answer = post(client, "/news/new", base)
    assert answer.status_code == 400 and "и название, и адрес" in answer.get_data(as_text=True)
    answer = post(client, "/news/new", {**base, "audience": "parents"})
    assert answer.status_code == 400
    answer = post(client, "/news/new", {**base, "link_url": ["ftp://x", ""]})
    assert answer.status_code == 400 and "ссылки на документы" in answer.get_data(as_text=True)
    assert calls(ops, "post_news") == []
    answer = post(client, "/news/new", {**base, "audience": "parents", "class_id": "class-1",
                                        "link_url": ["/docs/p.pdf", ""]})
    assert answer.status_code == 303
    assert calls(ops, "post_news")[-1]["args"][1] == {
        "title": "Собрание", "body": "В 18:00", "kind": "announcement", "audience": {"parents_of_class": "class-1"},
        "links": [{"title": "Повестка", "url": "/docs/p.pdf"}]}
    assert client.get("/news/new").status_code == 200


def test_the_news_form_is_the_404_page_for_a_teacher(client, ops, signing_key):
    sign_in_as(client, ops, signing_key, "t-1", ("teacher",))
    assert client.get("/news/new").status_code == 404


def test_the_at_risk_page_asks_the_class_s_period_and_falls_back_when_the_year_changed(client, ops, signing_key):
    from test_gateway_portal_admin import YEARS
    sign_in_as(client, ops, signing_key, "deputy-1", ("deputy",))
    ops.rpc_answers[("journal", "list_years")] = YEARS
    ops.rpc_answers[("journal", "list_classes")] = {"items": [{"id": "class-5a", "name": "5А"}], "next_cursor": None}
    ops.rpc_answers[("journal", "list_subjects")] = {"items": [{"id": "s1", "name": "Математика"}],
                                                    "next_cursor": None}
    ops.rpc_answers[("journal", "students_at_risk")] = {"class_id": "class-5a", "period_id": "p1", "items": [
        {"student_id": "st1", "full_name": "Шубин Лев", "subjects": [
            {"subject_id": "s1", "reasons": ["LOW_FORECAST"], "predicted": 2}]}]}
    status, html = get(client, "/office/at-risk", year="year-1", **{"class": "class-of-another-year",
                                                                    "period": "period-of-another-year"})
    assert status == 200
    assert calls(ops, "students_at_risk")[-1]["args"][1:] == ("class-5a", "p1")
    assert "Шубин Лев" in html and "Математика" in html and "прогноз — 2" in html
    assert get(client, "/office/at-risk", year="no-such-year")[0] == 404
