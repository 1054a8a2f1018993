"""nameko entrypoints of the reports service: event handlers that keep the
projections, and report RPCs that answer from them (never by calling the
service that owns the data). Decode, call store/domain, encode: no rules here."""
from __future__ import annotations

import base64
import logging

from nameko.timer import timer

from kernel.batching import handles_batch, on_event_batch
from kernel.events import utcnow
from kernel.nameko import RpcProxy, handles, on_event, service_rpc
from kernel.service_base import service_base
from kernel import config
from kernel.context import CallContext
from reports import archives, build, documents, events, schedule, store
from reports.jobs import ReportJobs
from reports.errors import ArchiveNotFound, ArchivesForAdministration, ValidationError, text
from reports import selfcheck as checks
from reports.store import tables

PROCESSED = tables["processed_events"]

# mark_posted batches: up to MARK_BATCH deliveries, cut MARK_BATCH_WAIT
# seconds after the first one arrived, at most MARK_BATCH_CONCURRENCY at once
MARK_BATCH = 200
MARK_BATCH_WAIT = 0.05
MARK_BATCH_CONCURRENCY = 2


_on = on_event
log = logging.getLogger(__name__)
# the self-check (reports.selfcheck) runs every this many seconds
SELFCHECK_SECONDS = 600
# the schedule of reports produced by the service itself (reports.schedule)
SCHEDULE_SECONDS = 3600
# who "produces" a scheduled report: the service itself, no person
SYSTEM_ACTOR = "00000000-0000-5000-8000-7265706f7274"
JOURNAL_TIMEOUT = 60.0
_settings = None


def _timezone():
    global _settings
    if _settings is None:
        _settings = config.load()
    return _settings.timezone


def school_name() -> str:
    """The school's name for report headers (EJOURNAL_SCHOOL_NAME)."""
    global _settings
    if _settings is None:
        _settings = config.load()
    return _settings.school_name


class Service(ReportJobs, service_base(tables)):
    """Reports: projections from journal and identity events, report builders (R-R)."""

    name = "reports"

    journal = RpcProxy("journal", timeout=lambda config: JOURNAL_TIMEOUT)

    @service_rpc
    def health(self):
        """Liveness, with the last self-check as detail (the gateway's /readyz)."""
        return {"status": "ok", "service": self.name, "detail": {"selfcheck": checks.last()}}

    @service_rpc
    def selfcheck(self):
        """Compare the marks projection with the journal's counts per class and
        period now (reports.selfcheck); the result, also kept as the last."""
        return self._selfcheck()

    def _selfcheck(self) -> dict:
        counts = self.journal.mark_counts()
        with self.db.transaction() as session:
            own = store.mark_counts(session)
        result = checks.record(checks.compare(counts, own), utcnow())
        if result["differences"]:
            log.warning("self-check: %d classes and periods differ from the journal", result["differences"])
        return result

    @timer(interval=SCHEDULE_SECONDS)
    def schedule_timer(self):
        try:
            self.deliver_due(utcnow().astimezone(_timezone()).date())
        except Exception:  # noqa: BLE001 - the next tick tries again
            log.exception("scheduled reports failed")

    @service_rpc
    def deliver_scheduled(self, today=None):
        """Produce the reports due ``today`` (``YYYY-MM-DD``, default the
        school's today) now, as the hourly schedule does (operations, tests)."""
        import datetime as dt
        day = dt.date.fromisoformat(today) if today else utcnow().astimezone(_timezone()).date()
        return self.deliver_due(day)

    def deliver_due(self, today) -> list[dict]:
        """Produce every report due ``today`` (reports.schedule) that is not
        produced yet: the monthly journal-keeping monitoring (R-R7) as PDF,
        recorded with a ``report_ready`` event in one transaction, for
        messaging to deliver to the school's deputy directors and directors.
        A school whose PDF cannot be made (the renderer's ValueError) is
        tried again at the next tick. The reports produced now."""
        with self.db.transaction() as session:
            years = store.school_years(session)
        produced = []
        for school_id, school_years in sorted(years.items()):
            month = schedule.due_month(today, school_years)
            if month is None:
                continue
            try:
                produced += self._deliver(school_id, month)
            except ValueError:
                log.exception("the %s report of %s cannot be made as PDF", schedule.KIND, month)
        return produced

    def _deliver(self, school_id: str, month: str) -> list[dict]:
        who = CallContext(SYSTEM_ACTOR, school_id, frozenset({"deputy"}), None)
        with self.db.transaction() as session:
            if store.scheduled(session, school_id=school_id, kind=schedule.KIND, month=month):
                return []
            now = utcnow()
            report = build.Builder(session, who, school_name=school_name(), now=now).build(
                schedule.KIND, {"month": month})
            content = documents.render_bytes(report, "pdf")
            _, filename = build.filename(report, "pdf")
            recipients = store.people_with_roles(session, school_id=school_id, roles=schedule.RECIPIENT_ROLES)
            if not store.claim_scheduled(session, school_id=school_id, kind=schedule.KIND, month=month, at=now,
                                         recipients=len(recipients), size=len(content)):
                return []
            doc = report["document"]
            if recipients:
                self.outbox.add(session, events.REPORT_READY, events.report_ready(
                    kind=schedule.KIND, month=month, recipient_ids=recipients,
                    subject=f"{doc['title']} {doc['subtitle'] or ''}".strip(),
                    body=documents.monthly_letter(report), filename=filename,
                    content_type=documents.CONTENT_TYPES["pdf"], content=content), who.as_dict())
            else:
                log.warning("no deputy director or director to send the %s report of %s to", schedule.KIND, month)
        return [{"school_id": school_id, "month": month, "recipients": recipients, "size": len(content)}]

    @timer(interval=SELFCHECK_SECONDS)
    def selfcheck_timer(self):
        try:
            self._selfcheck()
        except Exception:  # noqa: BLE001 - the journal may be down; the next tick tries again
            log.exception("self-check failed")

    @service_rpc
    def progress(self, ctx, class_id, period_id):
        """Итоги успеваемости (R-R5) of ``class_id`` for ``period_id`` (a period
        or a whole year): :meth:`report` of kind ``progress``."""
        return self.report(ctx, "progress", {"class_id": class_id, "period_id": period_id})

    @service_rpc
    def report(self, ctx, kind, params):
        """The report of ``kind`` (build.KINDS) with ``params`` ``{class_id,
        period_id, year_id, month}`` as JSON, its printable layout under
        ``document`` (README "Report kinds").

        Errors: INVALID_TOKEN (no caller in ctx), FORBIDDEN (not staff; a
        school-wide report for anyone but the administration),
        VALIDATION_ERROR (unknown kind, malformed or missing parameter:
        ``details.field``), NOT_FOUND (class, period or year unknown or of
        another school), PERIOD_NOT_IN_CLASS_YEAR (422).
        """
        who = build.require_caller(ctx)
        with self.db.transaction() as session:
            return build.Builder(session, who, school_name=school_name(), now=utcnow()).build(kind, params)

    @service_rpc
    def parents_activity(self, ctx, class_id, week=None):
        """R-A6: which parents of ``class_id`` used the system in the ISO week
        holding ``week`` (``YYYY-MM-DD``, default the school's today):
        ``{class, week: {starts_on, ends_on}, parents: [{parent_id,
        full_name, children, days_active, logins, actions, last_seen}],
        totals: {parents, active}}``.

        Errors: INVALID_TOKEN, FORBIDDEN (not staff), VALIDATION_ERROR
        (``details.field`` class_id or week), NOT_FOUND (no such class, or
        the caller is neither its class teacher nor the administration).
        """
        who = build.require_caller(ctx)
        today = utcnow().astimezone(_timezone()).date()
        with self.db.transaction() as session:
            return build.parents_activity(session, who, class_id=class_id, week=week, today=today)

    # --- the year-end archive (R-D4) ---------------------------------------------

    @service_rpc
    def list_archives(self, ctx, year_id=None):
        """The school's archived class journals (of ``year_id`` when given):
        ``{"items": [{id, year, class, order_no, files: [{format,
        content_type, size}], created_at}]}``. FORBIDDEN for anyone but the
        administration."""
        who = self._administration(ctx)
        with self.db.transaction() as session:
            return {"items": archives.list_archives(session, school_id=who.school_id, year_id=year_id or None)}

    @service_rpc
    def archive_file(self, ctx, archive_id, fmt):
        """One archived journal's file: ``{content_base64, content_type,
        filename, filename_ascii, size}``. FORBIDDEN (not administration),
        VALIDATION_ERROR (format), NOT_FOUND (unknown or another school's)."""
        who = self._administration(ctx)
        if fmt not in archives.FORMATS:
            raise ValidationError(text("archive_format_unknown", format=str(fmt)[:20]), details={"field": "format"})
        with self.db.transaction() as session:
            found = archives.archive_file(session, school_id=who.school_id, archive_id=str(archive_id), fmt=fmt)
        if found is None:
            raise ArchiveNotFound()
        data = found.pop("data")
        return {**found, "size": len(data), "content_base64": base64.b64encode(data).decode("ascii")}

    @staticmethod
    def _administration(ctx):
        who = build.require_caller(ctx)
        if not build.ADMINISTRATION & who.roles:
            raise ArchivesForAdministration()
        return who

    # --- journal ------------------------------------------------------------------

    @_on(events.JOURNAL, events.YEAR_CLOSED)
    @handles("reports.on_year_closed", PROCESSED)
    def on_year_closed(self, session, env):
        """Every class journal of the closed year, printed and stored."""
        src = events.source(env)
        closed = events.read_year_closed(env["payload"])
        made = archives.archive_year(session, school_id=src["school_id"], year_id=closed["year_id"],
                                     order_no=closed["order_no"], school=school_name(), now=utcnow())
        log.info("year %s closed: %d class journals archived", closed["year_id"], len(made))

    @_on(events.JOURNAL, events.YEAR_OPENED)
    @handles("reports.on_year_opened", PROCESSED)
    def on_year_opened(self, session, env):
        src = events.source(env)
        store.save_year(session, school_id=src["school_id"], **events.read_year_opened(env["payload"]))

    @_on(events.JOURNAL, events.SUBJECT_CREATED)
    @handles("reports.on_subject_created", PROCESSED)
    def on_subject_created(self, session, env):
        src = events.source(env)
        store.save_subject(session, school_id=src["school_id"],
                           subject=events.read_subject_created(env["payload"]))

    @_on(events.JOURNAL, events.CLASS_CREATED)
    @handles("reports.on_class_created", PROCESSED)
    def on_class_created(self, session, env):
        src = events.source(env)
        store.save_class(session, school_id=src["school_id"],
                         school_class=events.read_class_created(env["payload"]))

    @_on(events.JOURNAL, events.STUDENT_ENROLLED)
    @handles("reports.on_student_enrolled", PROCESSED)
    def on_student_enrolled(self, session, env):
        src = events.source(env)
        store.save_enrolment(session, school_id=src["school_id"],
                             enrolment=events.read_student_enrolled(env["payload"]))

    @_on(events.JOURNAL, events.TEACHER_ASSIGNED)
    @handles("reports.on_teacher_assigned", PROCESSED)
    def on_teacher_assigned(self, session, env):
        src = events.source(env)
        store.save_assignment(session, school_id=src["school_id"],
                              assignment=events.read_teacher_assigned(env["payload"]))

    # A class's marks are 30 mark_posted at once: they come in batches
    # (kernel.batching), one transaction and one statement per batch instead
    # of a worker, a transaction and a pooled connection's ping per mark. No
    # processed-event record: store.save_marks inserts keyed by the mark id
    # and ignores a conflict, so a redelivery (or a second mark_posted of one
    # mark) changes nothing by itself. A malformed event fails its batch,
    # which is then handled one event per transaction: only it is
    # dead-lettered.
    @on_event_batch(events.JOURNAL, events.MARK_POSTED, max_batch=MARK_BATCH, max_wait=MARK_BATCH_WAIT,
                    concurrency=MARK_BATCH_CONCURRENCY)
    @handles_batch("reports.on_mark_posted", None)
    def on_mark_posted(self, session, envelopes):
        marks = []
        for env in envelopes:
            src = events.source(env)
            marks.append({**events.read_mark_posted(env["payload"]), "school_id": src["school_id"],
                          "posted_at": src["occurred_at"]})
        store.save_marks(session, marks)

    @_on(events.JOURNAL, events.MARK_CORRECTED)
    @handles("reports.on_mark_corrected", PROCESSED)
    def on_mark_corrected(self, session, env):
        src = events.source(env)
        store.apply_mark_change(session, school_id=src["school_id"], mark=events.read_mark_corrected(env["payload"]),
                                posted_at=src["occurred_at"], fields=("value", "kind", "weight", "removed"))

    @_on(events.JOURNAL, events.MARK_REMOVED)
    @handles("reports.on_mark_removed", PROCESSED)
    def on_mark_removed(self, session, env):
        src = events.source(env)
        store.apply_mark_change(session, school_id=src["school_id"], mark=events.read_mark_removed(env["payload"]),
                                posted_at=src["occurred_at"], fields=("removed",))

    @_on(events.JOURNAL, events.FINAL_MARK_POSTED)
    @handles("reports.on_final_mark_posted", PROCESSED)
    def on_final_mark_posted(self, session, env):
        src = events.source(env)
        store.save_final_mark(session, school_id=src["school_id"],
                              final=events.read_final_mark_posted(env["payload"]))

    @_on(events.JOURNAL, events.LESSON_RECORDED)
    @handles("reports.on_lesson_recorded", PROCESSED)
    def on_lesson_recorded(self, session, env):
        src = events.source(env)
        store.save_lesson(session, school_id=src["school_id"], lesson=events.read_lesson_recorded(env["payload"]))

    @_on(events.JOURNAL, events.ATTENDANCE_RECORDED)
    @handles("reports.on_attendance_recorded", PROCESSED)
    def on_attendance_recorded(self, session, env):
        src = events.source(env)
        store.save_attendance(session, school_id=src["school_id"], event_id=env["id"], at=src["occurred_at"],
                              **events.read_attendance_recorded(env["payload"]))

    @_on(events.JOURNAL, events.STUDENT_TRANSFERRED)
    @handles("reports.on_student_transferred", PROCESSED)
    def on_student_transferred(self, session, env):
        src = events.source(env)
        store.save_movement(session, school_id=src["school_id"], event_id=env["id"],
                            movement=events.read_student_transferred(env["payload"]))

    @_on(events.JOURNAL, events.STUDENT_LEFT)
    @handles("reports.on_student_left", PROCESSED)
    def on_student_left(self, session, env):
        src = events.source(env)
        store.save_movement(session, school_id=src["school_id"], event_id=env["id"],
                            movement=events.read_student_left(env["payload"]))

    @_on(events.JOURNAL, events.PLAN_CREATED)
    @handles("reports.on_plan_created", PROCESSED)
    def on_plan_created(self, session, env):
        src = events.source(env)
        store.save_plan(session, school_id=src["school_id"], plan=events.read_plan_created(env["payload"]))

    # --- identity -----------------------------------------------------------------

    @_on(events.IDENTITY, events.USER_CREATED)
    @handles("reports.on_user_created", PROCESSED)
    def on_user_created(self, session, env):
        src = events.source(env)
        store.save_user(session, school_id=src["school_id"], user=events.read_user_created(env["payload"]),
                        at=src["occurred_at"])

    @_on(events.IDENTITY, events.ROLES_CHANGED)
    @handles("reports.on_roles_changed", PROCESSED)
    def on_roles_changed(self, session, env):
        src = events.source(env)
        change = events.read_roles_changed(env["payload"])
        store.save_roles(session, school_id=src["school_id"], user_id=change["id"], roles=change["roles"],
                         at=src["occurred_at"])

    @_on(events.IDENTITY, events.PARENT_LINKED)
    @handles("reports.on_parent_linked", PROCESSED)
    def on_parent_linked(self, session, env):
        src = events.source(env)
        store.save_parent_link(session, school_id=src["school_id"], link=events.read_parent_linked(env["payload"]))

    # --- gateway (R-A6) ---------------------------------------------------------------
    # Counted once per event id by the projection itself (access_seen), so no
    # processed-event record: a redelivered batch counts nothing twice.

    @_on(events.GATEWAY, events.ACCESS_RECORDED)
    @handles("reports.on_access_recorded", None)
    def on_access_recorded(self, session, env):
        store.save_access(session, [events.read_access(env, _timezone())])

    @_on(events.GATEWAY, events.ACCESS_RECORDED_BATCH)
    @handles("reports.on_access_recorded_batch", None)
    def on_access_recorded_batch(self, session, env):
        """A batch of access events: each counted or dead-lettered on its own."""
        items = env["payload"].get("events")
        if not isinstance(items, list):
            raise ValueError("payload field 'events' is not a list")
        accesses, tz = [], _timezone()
        for item in items:
            try:
                accesses.append(events.read_access(item, tz))
            except (ValueError, TypeError, AttributeError) as exc:
                self.dead_letters.put("reports.on_access_recorded", item, f"malformed: {exc}")
        store.save_access(session, accesses)
