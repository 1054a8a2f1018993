"""Long work as jobs: a student import or a year close started here is kept
as a row (journal.store.Job) that any gateway worker can read, and runs from
the journal's own ``job_queued`` event, published through the outbox with
the row. The event is acknowledged only after the job ends, so a worker
that dies leaves it to RabbitMQ's redelivery:

- a year close commits its archive and the job's result in one
  transaction; a job found still running was rolled back entirely and is
  run again;
- an import's accounts are made in identity before its one enrolment
  transaction (which also ends the job); a job found still running is
  failed ``JOB_INTERRUPTED`` and the same file imported again completes it
  (every step is idempotent by login).

A job of an ended state is a duplicate delivery and is left alone."""
from __future__ import annotations

import logging
import time

from sqlalchemy.exc import DBAPIError

from kernel.context import CallContext
from kernel.errors import ServiceError
from kernel.events import utcnow
from kernel.nameko import on_event, service_rpc
from kernel.nameko.handlers import run_queued_jobs

from journal import domain, errors, events, store

log = logging.getLogger("journal.jobs")

IMPORT_STUDENTS = "import_students"
CLOSE_YEAR = "close_year"
CONSUMER = "journal.job_queued"
# a running job writes its progress at most this often (and at every new stage)
PROGRESS_EVERY = 0.5


class NoProgress:
    """The progress of a synchronous call: nobody reads it."""

    def __call__(self, stage: str, done: int, total: int) -> None:
        pass

    def complete(self, session, result: dict) -> None:
        pass

    def inside(self, session):
        return self


NO_PROGRESS = NoProgress()


class Progress:
    """A running job's progress, each write its own short transaction;
    :meth:`complete` ends the job inside the work's own transaction."""

    def __init__(self, db, job_id: str, clock=time.monotonic):
        self.db, self.job_id, self.clock = db, job_id, clock
        self._stage, self._at = None, 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        if stage == self._stage and done < total and now - self._at < PROGRESS_EVERY:
            return
        self._stage, self._at = stage, now
        try:
            with self.db.transaction() as s:
                store.jobs.set_progress(s, job_id=self.job_id, stage=stage, done=done, total=total)
        except DBAPIError:  # only the bar lags behind: the work goes on
            log.warning("job %s: progress not written", self.job_id, exc_info=True)

    def inside(self, session):
        """The progress to tell from inside the work's write transaction
        ``session``: none on SQLite, whose one writer at a time is that
        transaction (a progress write would wait for it)."""
        return NO_PROGRESS if session.get_bind().dialect.name == "sqlite" else self

    def complete(self, session, result: dict) -> None:
        job = store.jobs.lock_job(session, job_id=self.job_id)
        if job is not None and job.status == "running":
            store.jobs.finish(job, at=utcnow(), result=result)


def error_body(exc: ServiceError) -> dict:
    """A job's ``error``: the API's error body."""
    return {"error": exc.code, "message": exc.message, "details": exc.details}


def job_view(job, *, own: bool, reveal: bool = True) -> dict:
    """The job as ``get_job`` answers it. The import's initial passwords
    are for the one who started it only, and once: the first answer that
    reveals them erases them from the job (``credentials_shown`` then says
    how many there were)."""
    view = {"id": job.id, "kind": job.kind, "status": job.status, "done": job.done, "total": job.total,
            "stage": job.stage, "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None}
    if job.status == "done":
        result = dict(job.result or {})
        if result.get("credentials"):
            if own and reveal:
                job.result = {**result, "credentials": [], "credentials_shown": len(result["credentials"])}
            else:
                result["credentials"] = []
        view["result"] = result
    elif job.status == "failed":
        view["error"] = job.error
    return view


class Jobs:
    """RPCs that start long work as jobs, the job's status, and the runner."""

    @service_rpc
    def start_import_students(self, ctx, upload):
        """:meth:`import_students` as a job: the same checks of the class,
        the caller and the file answer at once; ``{job_id, status}``."""
        actor = CallContext.from_rpc(ctx)
        self._import_target(actor, upload)
        return self._queue(actor, IMPORT_STUDENTS, {"upload": upload})

    @service_rpc
    def start_close_year(self, ctx, year_id, data):
        """:meth:`close_year` as a job (admin): a malformed order, a year not
        found, already closed or not ended (without ``early``) answer at
        once; ``{job_id, status}``."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN)
        year_id = domain.common.ident(year_id, "year_id")
        spec = domain.movements.validate_close(data)
        with self.db.transaction() as s:
            year = store.structure.get_year(s, school_id=actor.school_id, year_id=year_id)
        if year is None:
            raise errors.NotFound(errors.text("year_not_found"), details={"field": "year_id"})
        if year.archived:
            raise errors.YearAlreadyClosed(details={"year_id": year.id})
        today = domain.common.school_today(utcnow(), self.settings.timezone)
        domain.movements.check_year_ended(year.ends_on, today, early=spec.early)
        return self._queue(actor, CLOSE_YEAR, {"year_id": year_id, "data": data})

    @service_rpc
    def get_job(self, ctx, job_id, reveal=True):
        """A job's state: ``{id, kind, status, done, total, stage, result |
        error}``. Only the one who started it and the school's
        administration see it; anyone else gets 404 ``NOT_FOUND``. A done
        import's initial passwords are in the first answer to its starter
        with ``reveal`` (a progress poll asks without), then nowhere."""
        actor = CallContext.from_rpc(ctx)
        job_id = domain.common.ident(job_id, "job_id")
        with self.db.transaction() as s:
            job = store.jobs.get_job(s, school_id=actor.school_id, job_id=job_id)
            own = job is not None and job.started_by == actor.actor_id
            if job is None or not (own or actor.has(*domain.common.ADMINISTRATION)):
                raise errors.NotFound(errors.text("job_not_found"), details={"field": "job_id"})
            view = job_view(job, own=own, reveal=bool(reveal))
        return view  # the passwords' erasure committed before they are answered

    def _queue(self, actor, kind: str, params: dict) -> dict:
        with self._write() as s:
            job = store.jobs.add_job(s, kind=kind, school_id=actor.school_id, started_by=actor.actor_id,
                                     ctx=actor.as_dict(), params=params, at=utcnow())
            self.outbox.add(s, events.JOB_QUEUED, {"job_id": job.id, "kind": kind}, actor.as_dict())
        return {"job_id": job.id, "status": "queued"}

    @on_event(events.PRODUCER, events.JOB_QUEUED)
    def run_job(self, body):
        """Run the job of each ``job_queued`` event (see the module's docstring)."""
        run_queued_jobs(self, CONSUMER, body, self._run_job)

    run_job.ejournal_consumer = CONSUMER

    def _run_job(self, job_id: str) -> bool | None:
        """Run (or end as interrupted) the job ``job_id``; False for a job
        already ended, None for no such job."""
        with self.db.transaction() as s:
            job = store.jobs.lock_job(s, job_id=job_id)
            if job is None:
                return None
            if job.status in ("done", "failed"):
                return False
            if job.status == "running" and job.kind != CLOSE_YEAR:
                log.warning("job %s found interrupted", job_id)
                store.jobs.finish(job, at=utcnow(), error=error_body(errors.JobInterrupted()))
                return True
            job.status, job.stage, job.started_at = "running", "started", utcnow()
            kind, ctx, params = job.kind, dict(job.ctx), dict(job.params or {})
        progress = Progress(self.db, job_id)
        result, error = None, None
        try:
            if kind == IMPORT_STUDENTS:
                result = self._import_students(ctx, params["upload"], progress)
            elif kind == CLOSE_YEAR:
                result = self._close_year(ctx, params["year_id"], params["data"], progress)
            else:
                raise errors.ValidationError(details={"field": "kind"})
        except ServiceError as exc:
            error = error_body(exc)
        except Exception:  # noqa: BLE001 - kept on the job: the caller polls for it
            log.exception("job %s (%s) failed", job_id, kind)
            error = {"error": "JOB_FAILED", "message": errors.text("job_failed"), "details": {}}
        with self.db.transaction() as s:
            job = store.jobs.lock_job(s, job_id=job_id)
            if job is not None and job.status == "running":
                store.jobs.finish(job, at=utcnow(), result=result, error=error)
        return True
