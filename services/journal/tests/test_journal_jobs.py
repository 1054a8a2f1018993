"""Long work as jobs on real RabbitMQ + PostgreSQL: a student import and a
year close started as jobs run from the journal's own ``job_queued`` event;
their progress, result or error is kept on the job; only the one who started
it and the school's administration see it; a job a dead worker left running
is failed (the import) or run again without applying twice (the close)."""
from __future__ import annotations

import datetime as dt

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter

from journal import errors, store
from journal.entrypoints import jobs
from kernel.db import new_id
from kernel.events import utcnow

from test_journal_imports import ROWS, csv_file, setup, upload  # noqa: F401  (fixture)


def started(journal, method, *args) -> str:
    """Start a job and wait until its run has ended: its id."""
    with entrypoint_waiter(journal.container, "run_job", timeout=20):
        answer = journal.call(method, *args)
        assert answer["status"] == "queued"
    return answer["job_id"]


def code_of(fn, *args) -> str:
    with pytest.raises(errors.ServiceError) as exc:
        fn(*args)
    return exc.value.code


def test_an_import_job_reports_progress_and_keeps_its_result(journal, make, setup, monkeypatch):
    monkeypatch.setattr(jobs, "PROGRESS_EVERY", 0)  # every step written
    seen = []
    create_user = setup["identity"].create_user

    def watching(ctx, data):  # identity is called mid-run: what does the job say by then?
        [job] = make.rows(store.Job)
        seen.append((job.status, job.stage, job.done, job.total))
        return create_user(ctx, data)

    journal.identity.create_user.side_effect = watching
    job_id = started(journal, "start_import_students", setup["ctx"], upload(setup, csv_file(*ROWS)))
    assert seen == [("running", "accounts", n, 5) for n in range(5)]
    # a progress poll (reveal=False) does not take the initial passwords
    assert journal.call("get_job", setup["ctx"], job_id, False)["result"]["credentials"] == []
    job = journal.call("get_job", setup["ctx"], job_id)
    assert (job["kind"], job["status"], job["stage"], job["done"], job["total"]) == (
        "import_students", "done", "done", 3, 3)  # the last stage: the file's rows enrolled
    assert job["result"]["applied"] is True and (job["result"]["created"], job["result"]["updated"]) == (2, 0)
    assert len(job["result"]["credentials"]) == 5 and "error" not in job
    assert len(make.rows(store.Enrolment, class_id=setup["klass"].id)) == 2
    [row] = make.rows(store.Job, id=job_id)
    assert row.params is None and row.finished_at is not None  # the upload is not kept
    # the passwords were shown once: the job keeps only how many there were
    assert row.result["credentials"] == [] and row.result["credentials_shown"] == 5
    again = journal.call("get_job", setup["ctx"], job_id)["result"]
    assert again["credentials"] == [] and again["credentials_shown"] == 5
    # the school's administration sees it, without the initial passwords; others do not see it at all
    admin = make.person("admin")
    assert journal.call("get_job", make.ctx(admin, "admin"), job_id)["result"]["credentials"] == []
    other = make.person("teacher", "class_teacher")
    assert code_of(journal.call, "get_job", make.ctx(other, "teacher", "class_teacher"), job_id) == "NOT_FOUND"
    stranger = make.person("admin")
    assert code_of(journal.call, "get_job", make.ctx(stranger, "admin", school_id=new_id()), job_id) == "NOT_FOUND"


def test_an_import_job_with_bad_rows_is_done_with_every_bad_row_and_nothing_applied(journal, make, setup):
    bad = [ROWS[0], "Сидоров Олег;;м;sidorov.o;Сидорова Ольга;s@example.ru;sidorova.o;мать"]
    job = journal.call("get_job", setup["ctx"],
                       started(journal, "start_import_students", setup["ctx"], upload(setup, csv_file(*bad))))
    assert job["status"] == "done" and job["result"]["applied"] is False
    assert [e["row"] for e in job["result"]["errors"]] == [3]
    assert make.rows(store.Enrolment) == []


def test_a_failing_import_job_keeps_its_error_and_refusals_answer_at_once(journal, make, setup):
    setup["identity"].fail_create_after = 2
    job = journal.call("get_job", setup["ctx"],
                       started(journal, "start_import_students", setup["ctx"], upload(setup, csv_file(*ROWS))))
    assert job["status"] == "failed" and job["error"]["error"] == "IMPORT_INCOMPLETE"
    assert job["error"]["details"]["accounts_created"] == 2 and "result" not in job
    other = make.person("teacher", "class_teacher")
    assert code_of(journal.call, "start_import_students", make.ctx(other, "teacher", "class_teacher"),
                   upload(setup, csv_file(*ROWS))) == "FORBIDDEN"
    assert code_of(journal.call, "start_import_students", setup["ctx"],
                   upload(setup, "Имя;Фамилия\nА;Б".encode())) == "VALIDATION_ERROR"
    assert len(make.rows(store.Job)) == 1


def closing_school(make):
    admin = make.person("admin")
    old = make.year(starts_on=dt.date(2025, 9, 1), ends_on=dt.date(2026, 5, 31))
    make.year(starts_on=dt.date(2026, 9, 1), ends_on=dt.date(2027, 5, 31))
    klass = make.klass(old, grade=5, letter="А")
    for _ in range(3):
        make.enrol(make.person("student"), klass, on=dt.date(2025, 9, 1))
    return make.ctx(admin, "admin"), old


def test_a_close_job_closes_once(journal, make):
    ctx, old = closing_school(make)
    job_id = started(journal, "start_close_year", ctx, old.id, {"order_no": "№ 9", "promote": True})
    job = journal.call("get_job", ctx, job_id)
    assert (job["kind"], job["status"], job["done"], job["total"]) == ("close_year", "done", 1, 1)
    assert job["result"]["archived"] is True and job["result"]["promoted"] == 3
    assert make.rows(store.Year, id=old.id)[0].archived is True
    assert code_of(journal.call, "start_close_year", ctx, old.id, {"order_no": "№ 10"}) == "YEAR_ALREADY_CLOSED"
    assert code_of(journal.call, "start_close_year", ctx, new_id(), {"order_no": "№ 10"}) == "NOT_FOUND"
    current = make.year()  # ends in the future: closing it now needs early
    assert code_of(journal.call, "start_close_year", ctx, current.id, {"order_no": "№ 11"}) == "YEAR_NOT_ENDED"


def redeliver(journal, service_config, job_id, kind):
    env = {"id": new_id(), "type": "job_queued", "occurred_at": utcnow().isoformat(), "producer": "journal",
           "school_id": None, "actor_id": None, "payload": {"job_id": job_id, "kind": kind}, "version": 1}
    with entrypoint_waiter(journal.container, "run_job", timeout=20):
        event_dispatcher(service_config)("journal", "job_queued", env)


def left_running(make, kind, ctx, params) -> str:
    """A job as a worker that died while running it left it."""
    job = store.Job(id=new_id(), kind=kind, school_id=ctx["school_id"], started_by=ctx["actor_id"], status="running",
                    done=1, total=5, stage="accounts", ctx=ctx, params=params, created_at=utcnow(),
                    started_at=utcnow())
    make._save(job)
    return job.id


def test_an_interrupted_import_is_failed_and_a_redelivered_close_runs_once(journal, make, setup, service_config):
    job_id = left_running(make, "import_students", setup["ctx"], {"upload": upload(setup, csv_file(*ROWS))})
    redeliver(journal, service_config, job_id, "import_students")
    job = journal.call("get_job", setup["ctx"], job_id)
    assert job["status"] == "failed" and job["error"]["error"] == "JOB_INTERRUPTED"
    assert journal.identity.create_user.call_count == 0

    ctx, old = closing_school(make)
    job_id = left_running(make, "close_year", ctx, {"year_id": old.id, "data": {"order_no": "№ 9", "promote": True}})
    redeliver(journal, service_config, job_id, "close_year")
    redeliver(journal, service_config, job_id, "close_year")  # a duplicate of an ended job changes nothing
    job = journal.call("get_job", ctx, job_id)
    assert job["status"] == "done" and job["result"]["promoted"] == 3
    assert len(make.events("year_closed")) == 1


def test_initial_passwords_nobody_came_for_are_erased_after_an_hour(journal, make, setup):
    job_id = started(journal, "start_import_students", setup["ctx"], upload(setup, csv_file(*ROWS)))
    with make.sessions() as s, s.begin():
        assert store.jobs.forget_credentials(s, older_than=utcnow() - dt.timedelta(hours=1)) == 0
        assert store.jobs.forget_credentials(s, older_than=utcnow() + dt.timedelta(seconds=1)) == 1
    [row] = make.rows(store.Job, id=job_id)
    assert row.result["credentials"] == [] and row.result["credentials_forgotten"] == 5
    assert journal.call("get_job", setup["ctx"], job_id)["result"]["credentials"] == []
