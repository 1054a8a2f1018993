"""A report's files (PDF and XLSX) made as a job, so that a big report
shows its progress instead of a frozen form. Starting one builds the report
at once (its access and parameters answer with the same errors as
``report``) and keeps it with the job (reports.store.ReportJob); the job
runs from this service's own ``job_queued`` event, published through the
outbox with the row, and renders each file in turn into the row. The event
is acknowledged after the job ends: a worker that dies leaves it to
RabbitMQ's redelivery, and since rendering writes nothing but the job's own
row, a job found still running is run again."""
from __future__ import annotations

import base64
import datetime as dt
import logging

from nameko.timer import timer
from sqlalchemy import delete

from kernel.errors import ServiceError
from kernel.events import utcnow
from kernel.db import new_id
from kernel.nameko import on_event, service_rpc
from kernel.nameko.handlers import run_queued_jobs

from reports import build, documents, events, store
from reports.errors import JobNotFound, ValidationError, text

log = logging.getLogger(__name__)

CONSUMER = "reports.job_queued"
FILES = ("pdf", "xlsx")
# a report job's files are kept this long after it ended (the hourly timer deletes older ones)
KEEP = dt.timedelta(days=7)
PURGE_SECONDS = 3600


def job_view(job) -> dict:
    """``{id, kind, status, done, total, stage, created_at, finished_at,
    result | error}``; a done job's result lists its files."""
    view = {"id": job.id, "kind": "report_files", "status": job.status, "done": job.done, "total": job.total,
            "stage": job.stage, "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None}
    if job.status == "done":
        view["result"] = job.result
    elif job.status == "failed":
        view["error"] = job.error
    return view


class ReportJobs:
    """RPCs that start a report's files as a job, read it and its files; the runner."""

    @service_rpc
    def start_report_files(self, ctx, kind, params):
        """The PDF and XLSX of the report ``kind`` with ``params`` (as
        :meth:`report`) made as a job: the report's own refusals answer at
        once; ``{job_id, status}``."""
        from reports.service import school_name

        who = build.require_caller(ctx)
        with self.db.transaction() as session:
            report = build.Builder(session, who, school_name=school_name(), now=utcnow()).build(kind, params)
            job = store.ReportJob(id=new_id(), kind=str(kind), school_id=who.school_id, started_by=who.actor_id,
                                  status="queued", done=0, total=len(FILES), stage="queued",
                                  params={"report": report}, created_at=utcnow())
            session.add(job)
            session.flush()
            self.outbox.add(session, events.JOB_QUEUED, {"job_id": job.id, "kind": "report_files"}, ctx)
        return {"job_id": job.id, "status": "queued"}

    @service_rpc
    def get_job(self, ctx, job_id):
        """A report job's state; only the one who started it and the
        school's administration see it (anyone else: NOT_FOUND)."""
        job = self._visible_job(ctx, job_id)
        return job_view(job)

    @service_rpc
    def job_file(self, ctx, job_id, fmt):
        """A done job's file: ``{content_base64, content_type, filename,
        filename_ascii, size}`` (as ``archive_file``); NOT_FOUND for a job
        not seen or not done."""
        if fmt not in FILES:
            raise ValidationError(text("archive_format_unknown", format=str(fmt)[:20]), details={"field": "format"})
        job = self._visible_job(ctx, job_id)
        data = getattr(job, fmt)
        if job.status != "done" or data is None:
            raise JobNotFound()
        meta = next(f for f in job.result["files"] if f["format"] == fmt)
        return {"content_base64": base64.b64encode(data).decode("ascii"), "content_type": meta["content_type"],
                "filename": meta["filename"], "filename_ascii": meta["filename_ascii"], "size": len(data)}

    def _visible_job(self, ctx, job_id):
        who = build.require_caller(ctx)
        with self.db.transaction() as session:
            job = session.get(store.ReportJob, str(job_id or ""))
            if job is None or job.school_id != who.school_id or not (
                    job.started_by == who.actor_id or build.ADMINISTRATION & who.roles):
                raise JobNotFound(details={"field": "job_id"})
            session.expunge(job)
        return job

    @on_event(events.REPORTS, events.JOB_QUEUED)
    def run_job(self, body):
        """Make the files of each ``job_queued`` event's job (the module's docstring)."""
        run_queued_jobs(self, CONSUMER, body, self._run_job)

    run_job.ejournal_consumer = CONSUMER

    def _run_job(self, job_id: str) -> bool | None:
        """Make the job's files; False for a job already ended, None for no such job."""
        with self.db.transaction() as session:
            job = session.get(store.ReportJob, job_id, with_for_update=True) if job_id else None
            if job is None:
                return None
            if job.status in ("done", "failed"):
                return False
            job.status, job.stage, job.started_at = "running", "started", utcnow()
            report = (job.params or {}).get("report") or {}
        files, error = [], None
        try:
            for n, fmt in enumerate(FILES):
                self._progress(job_id, fmt, n)
                data = documents.render_bytes(report, fmt)
                ascii_name, russian = build.filename(report, fmt)
                files.append((fmt, data, {"format": fmt, "content_type": documents.CONTENT_TYPES[fmt],
                                          "filename": russian, "filename_ascii": ascii_name, "size": len(data)}))
        except ServiceError as exc:
            error = {"error": exc.code, "message": exc.message, "details": exc.details}
        except Exception:  # noqa: BLE001 - kept on the job: the caller polls for it
            log.exception("report job %s failed", job_id)
            error = {"error": "JOB_FAILED", "message": text("job_failed"), "details": {}}
        with self.db.transaction() as session:
            job = session.get(store.ReportJob, job_id, with_for_update=True)
            if job is None or job.status != "running":
                return True
            job.finished_at, job.params = utcnow(), None
            if error is not None:
                job.status, job.stage, job.error = "failed", "failed", error
                return True
            for fmt, data, _ in files:
                setattr(job, fmt, data)
            job.status, job.stage, job.done = "done", "done", len(FILES)
            job.result = {"title": build.title(report), "files": [meta for _, _, meta in files]}
        return True

    @timer(interval=PURGE_SECONDS)
    def purge_report_jobs(self):
        """Delete report jobs (and their files) that ended more than KEEP ago; how many."""
        with self.db.transaction() as session:
            deleted = session.execute(delete(store.ReportJob).where(
                store.ReportJob.finished_at < utcnow() - KEEP)).rowcount or 0
        if deleted:
            log.info("deleted %d report jobs", deleted)
        return deleted

    def _progress(self, job_id: str, stage: str, done: int) -> None:
        with self.db.transaction() as session:
            job = session.get(store.ReportJob, job_id)
            if job is not None and job.status == "running":
                job.stage, job.done = stage, done
