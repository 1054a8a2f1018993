"""The portal's reports page with fake service clients: the form for the
roles that may see reports, the report's tables from its ``document``,
download links to the portal's own file route (the session, the same central
decision and reports' document stream as the API), the central decision on
the class before the report is read, a refusal shown beside the form, and
the 404 page for a parent."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from ejournal.identity.v1 import identity_pb2

from ejournal.reports.v1 import reports_pb2

from gateway.portal.texts import REPORT_KINDS
from gateway_fakes import remote_error

DEPUTY, CLASS, OTHER_CLASS, YEAR, PERIOD = "deputy-1", "class-5a", "class-6b", "year-1", "period-2"
PROGRESS = {
    "kind": "progress", "class": {"id": CLASS, "name": "5А"},
    "period": {"id": PERIOD, "name": "2 четверть", "starts_on": "2026-11-05", "ends_on": "2026-12-28"},
    "basis": "current_averages", "finals": {"posted": 0, "missing": 4, "students_missing": 2, "subjects_missing": 2},
    "subjects": [{"id": "math", "name": "Математика"}, {"id": "rus", "name": "Русский язык"}],
    "students": [
        {"id": "s1", "full_name": "Алексеева Мария", "average": 4.5, "subjects": [
            {"subject_id": "math", "marks": [5, 4], "count": 2, "average": 4.5, "weighted_average": 4.33,
             "rounded": 4, "final": None, "counted": 4},
            {"subject_id": "rus", "marks": [5], "count": 1, "average": 5, "weighted_average": 5, "rounded": 5,
             "final": None, "counted": 5}]},
        {"id": "s2", "full_name": "Ёлкин Пётр", "average": None, "subjects": [
            {"subject_id": "math", "marks": [], "count": 0, "average": None, "weighted_average": None,
             "rounded": None, "final": None, "counted": None},
            {"subject_id": "rus", "marks": [2], "count": 1, "average": 2, "weighted_average": 2, "rounded": 2,
             "final": None, "counted": 2}]}],
    "summary": {"students": 2, "pass_rate": 50.0, "quality": 50.0, "excellent": 0, "with_one_3": 0, "failing": 1,
                "without_marks": 0},
    "generated_at": "2026-12-01T09:00:00+00:00",
    "document": {
        "title": "Итоги успеваемости", "subtitle": "5А, 2 четверть", "orientation": "portrait",
        "header": {"school": "Школа", "class": "5А", "period": "2 четверть",
                   "printed_at": "2026-12-01T09:00:00+00:00"},
        "sections": [
            {"title": "Отметки учеников", "table": {
                "columns": [{"key": "name", "title": "Ученик", "type": "text"},
                            {"key": "math", "title": "Математика", "type": "int"},
                            {"key": "rus", "title": "Русский язык", "type": "int"},
                            {"key": "average", "title": "Средний балл", "type": "number"}],
                "rows": [{"name": "Алексеева Мария", "math": 4, "rus": 5, "average": 4.5},
                         {"name": "Ёлкин Пётр", "math": None, "rus": 2, "average": None}],
                "totals": None}, "chart": None, "note": "Основание: текущие средневзвешенные отметки."},
            {"title": "Итоги", "table": {
                "columns": [{"key": "label", "title": "Показатель", "type": "text"},
                            {"key": "value", "title": "Значение", "type": "percent"}],
                "rows": [{"label": "Успеваемость", "value": 50.0}], "totals": None}, "chart": None, "note": None}],
        "signatures": ["Классный руководитель"]}}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in_as(client, fake, signing_key, user_id, roles, classes=()):
    fake.identity.answers["Login"] = identity_pb2.TokenPair(
        access_token=signing_key.token(sub=user_id, roles=roles), refresh_token="r", expires_in=900,
        user_id=user_id, roles=list(roles))
    fake.identity.answers["GetProfile"] = identity_pb2.Profile(
        id=user_id, login="u", full_name="Завуч Ирина Петровна", roles=list(roles),
        classes=[identity_pb2.ClassRef(id=c, role="class_teacher") for c in classes])
    page = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(page.get_data(as_text=True)), "login": "u",
                                         "password": "pw"})
    assert answer.status_code == 303


@pytest.fixture
def school(fake):
    fake.rpc_answers[("journal", "list_years")] = {"items": [{
        "id": YEAR, "name": "2026/2027", "starts_on": "2026-09-01", "ends_on": "2027-05-31", "closed": False,
        "periods": [{"id": "period-1", "name": "1 четверть", "kind": "quarter", "starts_on": "2026-09-01",
                     "ends_on": "2026-10-26"},
                    {"id": PERIOD, "name": "2 четверть", "kind": "quarter", "starts_on": "2026-11-05",
                     "ends_on": "2026-12-28"}]}], "next_cursor": None}
    fake.rpc_answers[("journal", "list_classes")] = {"items": [
        {"id": CLASS, "name": "5А", "year_id": YEAR, "grade": 5, "letter": "А", "class_teacher": None, "size": 2},
        {"id": OTHER_CLASS, "name": "6Б", "year_id": YEAR, "grade": 6, "letter": "Б", "class_teacher": None,
         "size": 25}], "next_cursor": None}
    fake.rpc_answers[("reports", "report")] = lambda ctx, kind, params: PROGRESS if kind == "progress" else {
        "kind": kind, "document": {"title": REPORT_KINDS[kind], "subtitle": None, "orientation": "portrait",
                                   "header": {"school": "Школа", "class": None, "period": None,
                                              "printed_at": "2026-12-01T09:00:00+00:00"},
                                   "sections": [], "signatures": []}}
    fake.rpc_answers[("reports", "list_archives")] = {"items": []}
    return fake


def report_page(client, **query):
    params = {"kind": "progress", "year": YEAR, "period": PERIOD, "class": CLASS, **query}
    answer = client.get("/reports", query_string=params)
    return answer.status_code, answer.get_data(as_text=True)


def test_the_deputy_sees_the_form_and_the_menu_entry(client, school, signing_key):
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    answer = client.get("/reports")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert 'href="/reports"' in html and ">Отчёты</a>" in html  # the menu
    for label in ("Отчёт", "Учебный год", "Период", "Месяц", "Класс"):
        assert f">{label}</label>" in html
    assert '<option value="progress" selected>Итоги успеваемости класса</option>' in html
    assert '<option value="journal-monitoring">Мониторинг ведения журнала</option>' in html
    assert ">5А</option>" in html and ">6Б</option>" in html  # the administration: every class
    assert "Весь учебный год" in html
    assert not [c for c in school.rpc_calls if c["service"] == "reports" and c["method"] == "report"]  # no report before the form is sent
    # once sent, the form says the report is being made (the long work's script)
    assert 'data-busy="Отчёт формируется' in html and "/assets/admin_ops.js" in html


def test_the_report_is_asked_of_reports_with_the_api_s_parameters(client, school, signing_key):
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    cases = [({}, {"class_id": CLASS, "period_id": PERIOD}),
             ({"period": YEAR}, {"class_id": CLASS, "year_id": YEAR}),
             ({"kind": "attendance", "period": "month", "month": "2026-11"}, {"class_id": CLASS, "month": "2026-11"}),
             ({"kind": "journal-monitoring", "class": "", "month": "2026-11"}, {"month": "2026-11"})]
    for query, params in cases:
        status, html = report_page(client, **query)
        assert status == 200, (query, html[:300])
        call = [c for c in school.rpc_calls if c["service"] == "reports" and c["method"] == "report"][-1]
        assert call["method"] == "report" and call["args"][1:] == (query.get("kind", "progress"), params), query


def test_the_report_is_drawn_from_its_document(client, school, signing_key):
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    status, html = report_page(client)
    assert status == 200, html[:500]
    asked = [(r.action, r.resource_id) for r in school.identity.called("Authorize")]
    assert ("report.read", CLASS) in asked
    text = unescape(html)
    assert "Итоги успеваемости" in text and "5А, 2 четверть" in text
    table = text[text.index("Отметки учеников"):]
    for expected in ("Алексеева Мария", "Ёлкин Пётр", "Математика", "Русский язык", "4,50"):
        assert expected in table
    assert "50,0%" in text and "Успеваемость" in text and "текущие средневзвешенные" in text


def test_the_report_s_files_are_a_job_with_a_progress_page_then_their_links(client, school, signing_key):
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    _, html = report_page(client)
    [action] = [unescape(a) for a in re.findall(r'<form method="post" action="(/reports/progress/files[^"]*)"', html)]
    assert parse_qs(urlsplit(action).query) == {"class_id": [CLASS], "period_id": [PERIOD]}
    assert "/api/v1/reports" not in html
    job = "00000000-0000-4000-8000-000000000b0b"
    school.rpc_answers[("reports", "start_report_files")] = {"job_id": job, "status": "queued"}
    answer = client.post(action, data={"csrf": csrf_of(html)})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/reports/jobs/{job}")
    call = [c for c in school.rpc_calls if c["method"] == "start_report_files"][-1]
    assert call["args"][1:] == ("progress", {"class_id": CLASS, "period_id": PERIOD, "year_id": None,
                                             "month": None})
    running = {"id": job, "kind": "report_files", "status": "running", "done": 1, "total": 2, "stage": "xlsx",
               "created_at": "2026-10-01T08:00:00+00:00", "finished_at": None}
    school.rpc_answers[("reports", "get_job")] = running
    page = client.get(f"/reports/jobs/{job}").get_data(as_text=True)
    assert "Таблица (XLSX): 1 из 2." in page and 'role="progressbar"' in page and 'aria-valuenow="1"' in page
    assert client.get(f"/reports/jobs/{job}/status").get_json()["done"] is False
    files = [{"format": fmt, "content_type": "x", "filename": f"Итоги успеваемости 5А.{fmt}",
              "filename_ascii": f"progress-5A.{fmt}", "size": 3} for fmt in ("pdf", "xlsx")]
    school.rpc_answers[("reports", "get_job")] = {**running, "status": "done", "done": 2, "stage": "done",
                                                  "result": {"files": files}}
    page = client.get(f"/reports/jobs/{job}").get_data(as_text=True)
    assert f'href="/reports/jobs/{job}/pdf"' in page and f'href="/reports/jobs/{job}/xlsx"' in page
    assert 'role="progressbar"' not in page
    import base64
    school.rpc_answers[("reports", "job_file")] = {
        "content_base64": base64.b64encode(b"%PDF").decode(), "content_type": "application/pdf",
        "filename": "Итоги успеваемости 5А.pdf", "filename_ascii": "progress-5A.pdf", "size": 4}
    answer = client.get(f"/reports/jobs/{job}/pdf")
    assert answer.status_code == 200 and answer.data == b"%PDF" and "attachment" in answer.headers[
        "Content-Disposition"]


def _document_stream(payload: bytes, content_type: str, ascii_name: str, name: str):
    return iter([reports_pb2.DocumentChunk(data=payload[:5], content_type=content_type, filename_ascii=ascii_name,
                                           filename=name, size=len(payload)),
                 reports_pb2.DocumentChunk(data=payload[5:])])


def test_a_file_is_streamed_from_reports_after_the_decision_on_the_class(client, school, signing_key):
    school.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True)
    school.reports.answers["Document"] = lambda request: _document_stream(
        b"%PDF-1.7 report", "application/pdf", "progress-5A.pdf", "Итоги успеваемости 5А.pdf")
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    answer = client.get(f"/reports/progress/pdf?class_id={CLASS}&period_id={PERIOD}")
    assert answer.status_code == 200 and answer.data == b"%PDF-1.7 report"
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"] == (
        "attachment; filename=\"progress-5A.pdf\"; filename*=UTF-8''"
        "%D0%98%D1%82%D0%BE%D0%B3%D0%B8%20%D1%83%D1%81%D0%BF%D0%B5%D0%B2%D0%B0%D0%B5%D0%BC%D0%BE%D1%81%D1%82%D0%B8"
        "%205%D0%90.pdf")
    request = school.reports.called("Document")[-1]
    assert (request.actor_id, request.kind, request.format, request.class_id, request.period_id) == \
        (DEPUTY, "progress", "pdf", CLASS, PERIOD)
    assert list(request.roles) == ["deputy"]
    asked = [(r.action, r.resource_id) for r in school.identity.called("Authorize")]
    assert ("report.read", CLASS) in asked


def test_a_file_the_decision_refuses_or_of_an_unknown_kind_is_the_404_page(client, school, signing_key):
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    assert client.get(f"/reports/salaries/pdf?class_id={CLASS}").status_code == 404
    assert client.get(f"/reports/progress/json?class_id={CLASS}").status_code == 404
    school.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found")
    assert client.get(f"/reports/progress/xlsx?class_id={CLASS}&period_id={PERIOD}").status_code == 404
    assert school.reports.called("Document") == []


def test_a_parent_or_a_stranger_gets_no_file(client, school, signing_key):
    assert client.get(f"/reports/progress/pdf?class_id={CLASS}").status_code in (302, 303)  # to the login
    sign_in_as(client, school, signing_key, "parent-1", ("parent",))
    assert client.get(f"/reports/progress/pdf?class_id={CLASS}").status_code == 404
    assert school.reports.called("Document") == []


def test_a_document_is_drawn_generically_with_totals_and_chart(client, school, signing_key):
    document = {
        "title": "Посещаемость", "subtitle": "5А класс", "orientation": "portrait",
        "header": {"school": "Школа № 17", "class": "5А", "period": "2 четверть",
                   "printed_at": "2026-12-01T09:00:00+00:00"},
        "sections": [{"title": "По ученикам", "table": {
            "columns": [{"key": "name", "title": "Ученик", "type": "text"},
                        {"key": "missed", "title": "Пропущено", "type": "int"},
                        {"key": "share", "title": "Присутствие", "type": "percent"},
                        {"key": "day", "title": "Последний пропуск", "type": "date"},
                        {"key": "avg", "title": "Средний", "type": "number"}],
            "rows": [{"name": "Алексеева Мария", "missed": 3, "share": 96.5, "day": "2026-11-20", "avg": 4.5},
                     {"name": "Ёлкин Пётр", "missed": 0, "share": None, "day": None, "avg": None}],
            "totals": {"name": "Итого", "missed": 3}}, "chart": None, "note": "Пропуски по всем предметам."},
            {"title": "По неделям", "table": None, "chart": {
                "type": "bar", "title": "Пропущено уроков", "labels": ["01.12", "08.12"],
                "series": [{"name": "Уроков", "values": [4, None]}]}, "note": None}],
        "signatures": ["Классный руководитель"]}
    school.rpc_answers[("reports", "report")] = {**PROGRESS, "document": document}
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    status, html = report_page(client)
    assert status == 200
    text = unescape(html)
    assert "Школа № 17" in text and "Посещаемость" in text and "Пропуски по всем предметам." in text
    assert "96,5%" in text and "20.11.2026" in text and "4,50" in text
    assert "<tfoot>" in html and "Итого" in text
    assert '<meter min="0" max="4" value="4"' in html and "Пропущено уроков" in text
    assert "Отметки учеников" not in text  # the document given, not the progress one


def test_a_teacher_is_offered_only_own_classes(client, school, signing_key):
    school.rpc_answers[("journal", "list_my_classes")] = {"items": [
        {"class": {"id": OTHER_CLASS, "name": "6Б", "year_id": YEAR}, "subject": {"id": "math", "name": "Математика"},
         "subgroup": None, "source": "assignment"}], "next_cursor": None}
    sign_in_as(client, school, signing_key, "teacher-1", ("teacher",))
    html = client.get("/reports").get_data(as_text=True)
    assert ">6Б</option>" in html and ">5А</option>" not in html
    assert ">Отчёты</a>" in html


def test_a_refusal_of_the_reports_service_is_shown_beside_the_form(client, school, signing_key):
    school.rpc_answers[("reports", "report")] = remote_error(
        "rule", "PERIOD_NOT_IN_CLASS_YEAR", "Период не относится к учебному году класса.")
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    status, html = report_page(client)
    assert status == 422
    assert 'role="alert">Период не относится к учебному году класса.' in html
    assert "<form" in html


def test_a_bad_month_is_a_message_not_a_crash(client, school, signing_key):
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    status, html = report_page(client, month="2026-13")
    assert status == 400 and "Месяц указан неверно" in html


def test_unknown_kind_or_a_class_the_decision_refuses_is_the_404_page(client, school, signing_key):
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    assert report_page(client, kind="salaries")[0] == 404
    school.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found")
    status, html = report_page(client)  # the decision on the class says no
    assert status == 404 and "Страница не найдена" in html
    assert not [c for c in school.rpc_calls if c["service"] == "reports" and c["method"] == "report"]


def test_a_parent_has_no_reports(client, school, signing_key):
    sign_in_as(client, school, signing_key, "parent-1", ("parent",))
    answer = client.get("/reports")
    assert answer.status_code == 404
    home = client.get("/notifications").get_data(as_text=True)
    assert ">Отчёты</a>" not in home


def test_a_class_of_another_year_redraws_the_form_without_a_report(client, school, signing_key):
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    status, html = report_page(client, **{"class": "class-of-last-year"})
    assert status == 200 and "Периоды и классы обновлены" in html
    assert '<option value="class-5a" selected>5А</option>' in html
    assert not [c for c in school.rpc_calls if c["service"] == "reports" and c["method"] == "report"]


def test_the_administration_may_ask_for_all_classes_a_teacher_may_not(client, school, signing_key):
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    html = client.get("/reports").get_data(as_text=True)
    assert '<option value="">Все классы</option>' in html
    status, _ = report_page(client, kind="class-fill", **{"class": ""})
    assert status == 200
    call = [c for c in school.rpc_calls if c["service"] == "reports" and c["method"] == "report"][-1]
    assert call["args"][1:] == ("class-fill", {"period_id": PERIOD})


ARCHIVE = {"id": "arch-1", "year": {"id": YEAR, "name": "2026/2027"}, "class": {"id": CLASS, "name": "5А"},
           "order_no": "№ 77-о", "files": [{"format": "pdf", "content_type": "application/pdf", "size": 204800},
                                           {"format": "xlsx", "content_type": "application/vnd.openxmlformats-"
                                            "officedocument.spreadsheetml.sheet", "size": 51200}],
           "created_at": "2027-06-01T10:00:00+00:00"}


def test_the_administration_sees_the_year_s_archived_journals_and_downloads_them(client, school, signing_key):
    import base64
    school.rpc_answers[("reports", "list_archives")] = {"items": [ARCHIVE]}
    school.rpc_answers[("reports", "archive_file")] = {
        "content_base64": base64.b64encode(b"%PDF-1.7 journal").decode(), "content_type": "application/pdf",
        "filename": "Журнал 5А 2026-2027.pdf", "filename_ascii": "journal-archive-arch-1.pdf", "size": 16}
    sign_in_as(client, school, signing_key, DEPUTY, ("deputy",))
    html = client.get("/reports").get_data(as_text=True)
    assert "Архив журналов за 2026/2027" in html and "№ 77-о" in html and "200 КБ" in html
    assert 'href="/reports/archives/arch-1/pdf"' in html and 'href="/reports/archives/arch-1/xlsx"' in html
    call = [c for c in school.rpc_calls if c["method"] == "list_archives"][-1]
    assert call["args"][1:] == (YEAR,)
    answer = client.get("/reports/archives/arch-1/pdf")
    assert answer.status_code == 200 and answer.data == b"%PDF-1.7 journal"
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="journal-archive-arch-1.pdf"; '
                                                            "filename*=UTF-8''")
    assert client.get("/reports/archives/arch-1/doc").status_code == 404


def test_a_teacher_sees_no_archive_and_gets_no_file(client, school, signing_key):
    school.rpc_answers[("journal", "list_my_classes")] = {"items": [], "next_cursor": None}
    sign_in_as(client, school, signing_key, "teacher-1", ("teacher",))
    html = client.get("/reports").get_data(as_text=True)
    assert "Архив журналов" not in html
    assert client.get("/reports/archives/arch-1/pdf").status_code in (403, 404)
    assert not [c for c in school.rpc_calls if c["method"] in ("list_archives", "archive_file")]
