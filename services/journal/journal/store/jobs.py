"""Queries of the jobs (long work run from the journal's own event): each
change of a job is its own short transaction, apart from the work's."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kernel.db import new_id
from journal.store.models import Job


def add_job(session: Session, *, kind: str, school_id: str, started_by: str, ctx: dict, params: dict,
            at: dt.datetime) -> Job:
    """A queued job (the caller publishes ``job_queued`` in the same transaction)."""
    job = Job(id=new_id(), kind=kind, school_id=school_id, started_by=started_by, status="queued", done=0, total=0,
              stage="queued", ctx=ctx, params=params, created_at=at)
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, *, school_id: str, job_id: str) -> Job | None:
    """The school's job ``job_id``."""
    job = session.get(Job, job_id)
    return job if job is not None and job.school_id == school_id else None


def lock_job(session: Session, *, job_id: str) -> Job | None:
    """The job, locked until the transaction ends (one delivery claims it)."""
    return session.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()


def set_progress(session: Session, *, job_id: str, stage: str, done: int, total: int) -> None:
    """Record how far a running job is."""
    job = session.get(Job, job_id)
    if job is not None and job.status == "running":
        job.stage, job.done, job.total = stage, done, total


def finish(job: Job, *, at: dt.datetime, result: dict | None = None, error: dict | None = None) -> None:
    """End ``job`` (locked by the caller): done with ``result`` or failed with ``error``."""
    job.status = "failed" if error is not None else "done"
    job.result, job.error, job.params = result, error, None
    job.stage = job.status
    if error is None:
        job.done = job.total = max(job.total, job.done, 1)
    job.finished_at = at


def forget_credentials(session: Session, *, older_than: dt.datetime) -> int:
    """Erase the initial passwords of done jobs that ended before
    ``older_than`` and were never collected; how many jobs."""
    jobs = session.execute(select(Job).where(Job.status == "done", Job.finished_at < older_than,
                                             Job.result.is_not(None))).scalars()
    forgotten = 0
    for job in jobs:
        if (job.result or {}).get("credentials"):
            job.result = {**job.result, "credentials": [], "credentials_forgotten": len(job.result["credentials"])}
            forgotten += 1
    return forgotten


def purge(session: Session, *, older_than: dt.datetime) -> int:
    """Delete ended jobs finished before ``older_than``; how many."""
    return session.execute(delete(Job).where(Job.finished_at < older_than)).rowcount or 0
