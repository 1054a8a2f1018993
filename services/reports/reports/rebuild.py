"""Rebuild reports' projections from the owning services' Export streams
(the gRPC ``ejournal.export.v1.Export`` backup reads): ``python -m
reports.rebuild`` (``make reports-rebuild``).

A new or damaged reports database is recovered from the journal's and
identity's own tables instead of their event history. The projections are
emptied and refilled in one transaction, so a report read meanwhile sees the
old rows or the new ones, never a half-built state; the kernel's tables
(outbox, processed events, dead letters) are kept, so an event handled
before is still not applied twice, and an event that arrives after the
export is applied on top (every projection write is an idempotent upsert).

A source is any object with ``export(backup_id)`` yielding ``(table, rows,
revision)`` (:class:`ExportSource`), so tests may pass plain iterators.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import uuid
from collections import Counter, defaultdict

from sqlalchemy import delete

from kernel.bulk import insert_rows
from kernel.db import make_engine, session_factory, transaction
from reports import store

log = logging.getLogger(__name__)

# every projection (the kernel's outbox, processed_events and dead_letters stay)
PROJECTIONS = (store.Year, store.Period, store.Subject, store.SchoolClass, store.Enrolment, store.Assignment,
               store.Mark, store.FinalMark, store.Person, store.ParentLink, store.Lesson, store.Attendance,
               store.AttendanceCorrection, store.Movement, store.Plan, store.AccessDay, store.AccessSeen)
BATCH = 2000
_NS = uuid.UUID("6f1d3c0e-6a0b-4d8e-9b5e-2f4c1a7d9e10")  # ids of rows that have no event id


def _date(value):
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _time(value):
    if not isinstance(value, str):
        return value
    at = dt.datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)


def _derived_id(*parts) -> str:
    return str(uuid.uuid5(_NS, ":".join(str(p) for p in parts)))


class Rebuilder:
    """Maps the owners' exported rows to projection rows, in the order the
    export sends tables (parents first: lessons before marks)."""

    def __init__(self, session):
        self.s = session
        self.lessons: dict = {}
        self.attendance: dict = {}
        self.enrolments: list = []
        self.plan_topics: Counter = Counter()
        self.counts: Counter = Counter()
        self.pending: dict = defaultdict(list)

    def _put(self, model, row: dict, keys: tuple) -> None:
        batch = self.pending[model]
        batch.append(row)
        if len(batch) >= BATCH:
            self._flush(model)

    def _flush(self, model) -> None:
        rows = self.pending.pop(model, [])
        if rows:
            keys = [c.name for c in model.__table__.primary_key.columns]
            unique = list({tuple(r[k] for k in keys): r for r in rows}.values())
            insert_rows(self.s, (model.__table__, unique, keys))
            self.counts[model.__tablename__] += len(unique)

    def flush(self) -> None:
        for model in list(self.pending):
            self._flush(model)

    # -- journal ---------------------------------------------------------------
    def journal(self, table: str, rows: list[dict]) -> None:
        handler = getattr(self, "j_" + table, None)
        if handler is not None:
            for row in rows:
                handler(row)

    def j_years(self, r):
        self._put(store.Year, {"id": r["id"], "school_id": r["school_id"], "name": r["name"],
                               "starts_on": _date(r["starts_on"]), "ends_on": _date(r["ends_on"])}, ("id",))

    def j_periods(self, r):
        self._put(store.Period, {"id": r["id"], "school_id": r["school_id"], "year_id": r["year_id"],
                                 "name": r["name"], "kind": r["kind"], "starts_on": _date(r["starts_on"]),
                                 "ends_on": _date(r["ends_on"])}, ("id",))

    def j_subjects(self, r):
        self._put(store.Subject, {"id": r["id"], "school_id": r["school_id"], "name": r["name"],
                                  "emphasis": bool(r.get("emphasis"))}, ("id",))

    def j_classes(self, r):
        self._put(store.SchoolClass, {"id": r["id"], "school_id": r["school_id"], "year_id": r["year_id"],
                                      "grade": r["grade"], "letter": r["letter"], "name": r["name"],
                                      "class_teacher_id": r.get("class_teacher_id")}, ("id",))

    def j_enrolments(self, r):
        row = {"class_id": r["class_id"], "student_id": r["student_id"], "school_id": r["school_id"],
               "order_no": r.get("order_no"), "enrolled_on": _date(r.get("enrolled_on")),
               "left_on": _date(r.get("left_on")), "left_order_no": r.get("left_order_no"),
               "left_reason": r.get("left_reason"), "_id": r["id"]}
        self.enrolments.append(row)

    def j_assignments(self, r):
        hours = r.get("hours_per_week")
        self._put(store.Assignment, {"id": r["id"], "school_id": r["school_id"], "teacher_id": r["teacher_id"],
                                     "class_id": r["class_id"], "subject_id": r["subject_id"],
                                     "hours_per_week": None if hours is None else float(hours),
                                     "subgroup_id": r.get("subgroup_id")}, ("id",))

    def j_lessons(self, r):
        day = _date(r["date"])
        self.lessons[r["id"]] = (r["class_id"], r["subject_id"], day)
        homework = r.get("homework")
        self._put(store.Lesson, {
            "id": r["id"], "school_id": r["school_id"], "class_id": r["class_id"], "subject_id": r["subject_id"],
            "teacher_id": r["teacher_id"], "date": day, "topic": (r.get("topic") or None) and r["topic"][:500],
            "lesson_type": r.get("lesson_type"), "work_type": r.get("work_type"),
            "has_homework": bool(homework and homework.strip()), "subgroup_id": r.get("subgroup_id"),
            "substitute_for": r.get("substitute_for"), "late": bool(r.get("late")), "overdue": bool(r.get("overdue")),
            "imported": bool(r.get("imported")), "recorded_on": _date(r.get("recorded_on"))}, ("id",))

    def j_marks(self, r):
        lesson = self.lessons.get(r["lesson_id"])
        if lesson is None:
            return
        class_id, subject_id, day = lesson
        self._put(store.Mark, {
            "id": r["id"], "school_id": r["school_id"], "lesson_id": r["lesson_id"], "student_id": r["student_id"],
            "class_id": class_id, "subject_id": subject_id, "date": day, "value": r["value"], "kind": r.get("kind"),
            "weight": r.get("weight") or 1, "teacher_id": r.get("author_id"), "posted_at": _time(r["created_at"]),
            "version": r.get("version") or 1, "removed": bool(r.get("removed"))}, ("id",))

    def j_attendance(self, r):
        lesson = self.lessons.get(r["lesson_id"])
        if lesson is None:
            return
        class_id, subject_id, day = lesson
        self.attendance[r["id"]] = (r["lesson_id"], r["student_id"])
        self._put(store.Attendance, {"lesson_id": r["lesson_id"], "student_id": r["student_id"],
                                     "school_id": r["school_id"], "class_id": class_id, "subject_id": subject_id,
                                     "date": day, "status": r["status"], "at": _time(r["updated_at"])},
                  ("lesson_id", "student_id"))

    def j_attendance_versions(self, r):
        if not r.get("previous"):
            return
        entry = self.attendance.get(r["attendance_id"])
        if entry is None:
            return
        lesson_id, student_id = entry
        class_id, _, day = self.lessons[lesson_id]
        self._put(store.AttendanceCorrection, {
            "event_id": _derived_id("attendance", r["attendance_id"], r["version"]), "student_id": student_id,
            "school_id": r["school_id"], "lesson_id": lesson_id, "class_id": class_id, "date": day,
            "previous": r["previous"], "status": r["status"],
            "reason": (r.get("reason") or None) and r["reason"][:500], "at": _time(r["at"])},
            ("event_id", "student_id"))

    def j_final_marks(self, r):
        if r.get("superseded"):
            return
        self._put(store.FinalMark, {
            "student_id": r["student_id"], "subject_id": r["subject_id"], "period_id": r["period_id"],
            "school_id": r["school_id"], "class_id": r["class_id"], "period_kind": r.get("period_kind"),
            "final_mark_id": r["id"], "value": r["value"], "version": r.get("version") or 1,
            "late": bool(r.get("late")), "teacher_id": r.get("teacher_id"), "posted_at": _time(r.get("entered_at"))},
            ("student_id", "subject_id", "period_id"))

    def j_plans(self, r):
        self._put(store.Plan, {"id": r["id"], "school_id": r["school_id"], "class_id": r["class_id"],
                               "subject_id": r["subject_id"], "period_id": r["period_id"],
                               "teacher_id": r.get("teacher_id"), "hours": r["hours"], "topics": 0}, ("id",))

    def j_plan_topics(self, r):
        self.plan_topics[r["plan_id"]] += 1

    def finish_journal(self) -> None:
        """Enrolments (the latest stay per class and student), the movements
        they record, and the plans' topic counts."""
        latest: dict = {}
        for e in sorted(self.enrolments, key=lambda e: (e["enrolled_on"] or dt.date.min)):
            latest[(e["class_id"], e["student_id"])] = e
        arrivals = {(e["student_id"], e["enrolled_on"]): e["class_id"] for e in self.enrolments}
        for e in latest.values():
            self._put(store.Enrolment, {k: v for k, v in e.items() if k != "_id"}, ("class_id", "student_id"))
        for e in self.enrolments:
            if e["left_on"] is None:
                continue
            reason = e["left_reason"] or "left"
            to_class = arrivals.get((e["student_id"], e["left_on"])) if reason == "transferred" else None
            self._put(store.Movement, {
                "id": _derived_id("movement", e["_id"]), "school_id": e["school_id"], "kind": reason,
                "student_id": e["student_id"], "from_class_id": e["class_id"], "to_class_id": to_class,
                "order_no": e["left_order_no"], "on": e["left_on"], "comment": None}, ("id",))
        self.flush()
        for plan_id, topics in self.plan_topics.items():
            self.s.execute(store.Plan.__table__.update().where(store.Plan.id == plan_id).values(topics=topics))

    # -- identity ----------------------------------------------------------------
    def identity(self, table: str, rows: list[dict]) -> None:
        handler = getattr(self, "i_" + table, None)
        if handler is not None:
            for row in rows:
                handler(row)

    def i_users(self, r):
        self._put(store.Person, {"id": r["id"], "school_id": r["school_id"], "login": r.get("login"),
                                 "full_name": r.get("full_name"), "roles": sorted(r.get("roles") or []),
                                 "roles_at": _time(r.get("created_at")), "sex": r.get("sex")}, ("id",))

    def i_parent_links(self, r):
        self._put(store.ParentLink, {"student_id": r["student_id"], "parent_id": r["parent_id"],
                                     "school_id": r["school_id"]}, ("student_id", "parent_id"))

    def i_access_log(self, r):
        if not r.get("school_id"):
            return
        from reports.events import LOGIN_ROUTE
        at = _time(r["at"])
        self._access.append({"id": r["id"], "school_id": r["school_id"], "user_id": r["user_id"], "day": at.date(),
                             "login": r["method"] == "POST" and r["route"] == LOGIN_ROUTE and r["status"] < 400})
        if len(self._access) >= BATCH:
            self.flush_access()

    _access: list

    def flush_access(self) -> None:
        if self._access:
            self.counts["access_events"] += store.save_access(self.s, self._access)
            self._access = []


def rebuild(engine, sources: dict, *, backup_id: str | None = None) -> dict:
    """Empty the projections and refill them from ``sources`` ``{"journal":
    source, "identity": source}``, in one transaction. The rows written per
    projection."""
    backup_id = backup_id or f"reports-rebuild-{uuid.uuid4()}"
    with transaction(session_factory(engine)) as session:
        for model in reversed(PROJECTIONS):
            session.execute(delete(model))
        builder = Rebuilder(session)
        builder._access = []
        for table, rows, _ in sources["journal"].export(backup_id):
            builder.journal(table, rows)
        builder.flush()
        builder.finish_journal()
        for table, rows, _ in sources["identity"].export(backup_id):
            builder.identity(table, rows)
        builder.flush()
        builder.flush_access()
    return dict(builder.counts)


class ExportSource:
    """The Export stream of one service at ``target`` (``host:port``);
    grpc is imported here only, so the nameko process never loads it."""

    def __init__(self, target: str, *, timeout: float = 1800.0):
        self.target, self.timeout = target, timeout

    def export(self, backup_id: str):
        import grpc
        from ejournal.export.v1 import export_pb2, export_pb2_grpc

        channel = grpc.insecure_channel(self.target, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        try:
            stream = export_pb2_grpc.ExportStub(channel).ExportData(
                export_pb2.ExportRequest(school_id="", backup_id=backup_id), timeout=self.timeout)
            for chunk in stream:
                rows = json.loads(chunk.rows_json or b"[]")
                if len(rows) != chunk.row_count:
                    raise RuntimeError(f"{self.target}: chunk of {chunk.table} has a wrong row count")
                yield chunk.table, rows, chunk.schema_revision
        finally:
            channel.close()


def main(argv=None) -> int:
    from kernel import config

    parser = argparse.ArgumentParser(prog="python -m reports.rebuild", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    settings = config.load()
    engine = make_engine(settings.database_url("reports"))
    try:
        counts = rebuild(engine, {"journal": ExportSource(settings.grpc_target("journal")),
                                  "identity": ExportSource(settings.grpc_target("identity"))})
    finally:
        engine.dispose()
    print(json.dumps({"rebuilt": counts}, ensure_ascii=False, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
