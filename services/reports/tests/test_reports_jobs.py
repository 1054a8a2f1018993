"""A report's files made as a job on the real RabbitMQ and PostgreSQL: the
report's refusals answer at once, the job renders the PDF and the XLSX
(progress per file) from the service's own event, keeps them for the one who
started it and the administration, keeps a failure, and a job a dead worker
left running is run again."""
from __future__ import annotations

import base64

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import update

from kernel.db import make_engine, new_id
from kernel.events import utcnow
from reports import store
from reports.errors import JobNotFound, NotAllowed


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def started(container, ctx, kind, params) -> str:
    with entrypoint_waiter(container, "run_job", timeout=30):
        answer = call(container, "start_report_files", ctx, kind, params)
        assert answer["status"] == "queued"
    return answer["job_id"]


@pytest.fixture
def klass(school):
    year = school.year()
    class_id = school.school_class(year["year_id"])
    school.student(class_id, "Алексеева Мария")
    return {"class_id": class_id, "period_id": year["periods"][0]["id"]}


def test_a_report_job_renders_both_files_for_its_starter_and_the_administration(container, school, ctx_for, klass):
    teacher = ctx_for(school.school_id, "class_teacher", "teacher")
    job_id = started(container, teacher, "progress", klass)
    job = call(container, "get_job", teacher, job_id)
    assert (job["kind"], job["status"], job["stage"], job["done"], job["total"]) == (
        "report_files", "done", "done", 2, 2)
    assert [f["format"] for f in job["result"]["files"]] == ["pdf", "xlsx"]
    # the title as the report says it (a year's slash kept), the file name without what a file cannot hold
    assert job["result"]["title"].startswith("Итоги успеваемости") and "/" not in job["result"]["files"][0]["filename"]
    pdf = call(container, "job_file", teacher, job_id, "pdf")
    assert base64.b64decode(pdf["content_base64"]).startswith(b"%PDF") and pdf["filename"].endswith(".pdf")
    xlsx = call(container, "job_file", ctx_for(school.school_id, "deputy"), job_id, "xlsx")
    assert base64.b64decode(xlsx["content_base64"])[:2] == b"PK"
    for stranger in (ctx_for(school.school_id, "teacher"), ctx_for(new_id(), "deputy")):
        with pytest.raises(JobNotFound):
            call(container, "get_job", stranger, job_id)
        with pytest.raises(JobNotFound):
            call(container, "job_file", stranger, job_id, "pdf")


def test_a_refused_report_starts_no_job(container, school, ctx_for, klass):
    with pytest.raises(NotAllowed):
        call(container, "start_report_files", {**ctx_for(school.school_id), "roles": ["parent"]}, "progress", klass)


def test_a_failing_render_is_kept_and_a_job_left_running_runs_again(container, school, ctx_for, klass, db_url,
                                                                    monkeypatch, rabbit_config):
    from reports import documents

    teacher = ctx_for(school.school_id, "class_teacher", "teacher")
    real = documents.render_bytes
    monkeypatch.setattr(documents, "render_bytes", lambda report, fmt: 1 / 0)
    job = call(container, "get_job", teacher, started(container, teacher, "progress", klass))
    assert job["status"] == "failed" and job["error"]["error"] == "JOB_FAILED" and "result" not in job

    monkeypatch.setattr(documents, "render_bytes", real)
    job_id = started(container, teacher, "progress", klass)
    engine = make_engine(db_url)
    with engine.begin() as conn:  # as a worker that died half-way left it
        conn.execute(update(store.ReportJob.__table__).where(store.ReportJob.__table__.c.id == job_id).values(
            status="running", stage="pdf", done=0, finished_at=None, params={"report": call(
                container, "report", teacher, "progress", klass)}, result=None, pdf=None, xlsx=None))
    engine.dispose()
    env = {"id": new_id(), "type": "job_queued", "occurred_at": utcnow().isoformat(), "producer": "reports",
           "school_id": school.school_id, "actor_id": None, "payload": {"job_id": job_id, "kind": "report_files"},
           "version": 1}
    with entrypoint_waiter(container, "run_job", timeout=30):
        event_dispatcher(rabbit_config)("reports", "job_queued", env)
    job = call(container, "get_job", teacher, job_id)
    assert job["status"] == "done" and job["done"] == 2


def test_report_jobs_older_than_a_week_are_deleted_with_their_files(container, school, ctx_for, klass, db_url):
    import datetime as dt

    teacher = ctx_for(school.school_id, "class_teacher", "teacher")
    old, new = (started(container, teacher, "progress", klass) for _ in range(2))
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(store.ReportJob.__table__).where(store.ReportJob.__table__.c.id == old).values(
            finished_at=utcnow() - dt.timedelta(days=8)))
    engine.dispose()
    assert call(container, "purge_report_jobs") == 1
    assert call(container, "get_job", teacher, new)["status"] == "done"
    with pytest.raises(JobNotFound):
        call(container, "get_job", teacher, old)
