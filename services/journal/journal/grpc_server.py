"""The journal's gRPC process (plain grpcio, never inside nameko):
ejournal.journal.v1.Journal (GetDiary, GetClassJournal) and the backup
Export stream.

Run: ``python -m journal.grpc_server``.
"""
from __future__ import annotations

import datetime as dt
import sys
from contextlib import contextmanager

import grpc

from ejournal.journal.v1 import journal_pb2, journal_pb2_grpc
from journal import domain, errors, grid, store
from journal import settings as journal_settings
from kernel import config
from kernel.db import autocommit_connection, make_engine, session_factory
from kernel.events import utcnow
from kernel.export import add_export_servicer
from kernel.grpcserver import abort, serve
from kernel.metrics import db_health


class JournalServicer(journal_pb2_grpc.JournalServicer):
    """The gateway's hot reads. Built from a sessionmaker (and a clock for
    tests) so it can be called directly, without a server."""

    def __init__(self, sessions, timezone: dt.tzinfo | None = None, clock=utcnow, rules=None, reads=None):
        self.sessions = sessions
        # the diary's reads: an Engine whose connections stay in autocommit
        # (main()), else ``sessions`` switched to it per read
        self.reads = reads
        self.rules = rules or journal_settings.JournalSettings()
        self.timezone = timezone or self.rules.timezone
        self.clock = clock

    def GetDiary(self, request, context):
        """A student's lessons, marks and attendance, days sorted, lessons by
        date then subject; one query whatever the range (store.reads.diary_rows).
        Without dates: the current week, or the latest earlier week with
        lessons when it has none (two more queries, on that path only). Then
        the year's final marks (R-F1) and the class's timetable (R-S6) of the
        range's last day in one more (store.listing.diary_extras)."""
        if not request.student_id or not request.school_id:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR",
                  errors.text("diary_request_incomplete"))
        today = domain.common.school_today(self.clock(), self.timezone)
        try:
            start, end = domain.lessons.diary_range(request.from_date, request.to_date, today)
        except errors.ValidationError as exc:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, exc.code, exc.message)
        with self._read_session() as session:
            rows = store.reads.diary_rows(session, school_id=request.school_id, student_id=request.student_id,
                                          start=start, end=end)
            if rows and not request.from_date and not request.to_date and not any(row[1] for row in rows):
                # the default week is empty (a Monday morning, holidays): the latest week with lessons
                latest = store.reads.latest_diary_date(session, school_id=request.school_id,
                                                       student_id=request.student_id, before=start)
                if latest is not None:
                    start, end = domain.lessons.week_bounds(latest)
                    rows = store.reads.diary_rows(session, school_id=request.school_id, student_id=request.student_id,
                                                  start=start, end=end)
            if rows:
                finals, slots = store.listing.diary_extras(session, school_id=request.school_id,
                                                           student_id=request.student_id, day=end)
        if not rows:
            abort(context, grpc.StatusCode.NOT_FOUND, "NOT_FOUND", errors.text("student_not_found"))
        diary = build_diary(request.student_id, rows)
        diary.from_date, diary.to_date = start.isoformat(), end.isoformat()
        add_finals_and_timetable(diary, finals, slots)
        return diary

    @contextmanager
    def _read_session(self):
        """What the store's reads take (they use only ``connection()``), its
        statements in autocommit (kernel.db.autocommit_connection: on
        PostgreSQL each statement of a READ COMMITTED transaction takes its
        own snapshot anyway)."""
        with autocommit_connection(self.reads, self.sessions) as connection:
            yield _Bound(connection)

    def GetClassJournal(self, request, context):
        """The class journal grid (journal.grid)."""
        return grid.get_class_journal(self.sessions, domain.common.school_today(self.clock(), self.timezone),
                                      request, context, self.rules)


class _Bound:
    """A connection shown as the one thing of a Session the store's diary
    reads use."""

    __slots__ = ("_connection",)

    def __init__(self, connection):
        self._connection = connection

    def connection(self):
        return self._connection


def build_diary(student_id: str, rows) -> journal_pb2.Diary:
    """The Diary message from :func:`journal.store.reads.diary_rows` (already
    sorted: one row per lesson and mark; a row without a lesson adds nothing)."""
    diary = journal_pb2.Diary(student_id=student_id)
    # the current day and lesson told apart by the row's own values (reading
    # them back from a message builds a new str each time); a mark is added
    # in place (an appended message is a copy)
    day = lesson = shown = date = None
    for row in rows:
        (_, lesson_id, on, subject_id, subject, topic, homework, lesson_type, attendance,
         mark_id, value, kind, weight, comment) = row
        if lesson_id is None:
            continue
        if lesson_id != shown:
            shown = lesson_id
            if on != date:
                date = on
                day = diary.days.add(date=on.isoformat())
            lesson = day.lessons.add(lesson_id=lesson_id, subject_id=subject_id, subject=subject, topic=topic,
                                     homework=homework or "", lesson_type=lesson_type, attendance=attendance or "")
        if mark_id is not None:
            lesson.marks.add(id=mark_id, value=value, kind=kind, weight=weight, comment=comment or "")
    return diary


def add_finals_and_timetable(diary: journal_pb2.Diary, finals, slots) -> None:
    """The diary's final marks (R-F1) and timetable (R-S6), from
    :func:`journal.store.listing.diary_extras`."""
    for period_id, period, kind, subject_id, subject, value, late in finals:
        diary.finals.add(period_id=period_id, period=period or "", period_kind=kind, subject_id=subject_id,
                         subject=subject, value=value, late=bool(late))
    for weekday, number, subject_id, subject, teacher_id, teacher, room in slots:
        diary.timetable.add(weekday=weekday, number=number, subject_id=subject_id, subject=subject,
                            teacher_id=teacher_id, teacher=teacher or "", room=room or "")


def main() -> int:
    settings = config.load()
    journal_config = journal_settings.load()
    engine = make_engine(settings.database_url("journal"))
    sessions = session_factory(engine)
    # the diary's reads: autocommit connections of their own (PostgreSQL; SQLite keeps one engine)
    url = settings.database_url("journal")
    reads_engine = make_engine(url, isolation_level="AUTOCOMMIT") if url.startswith("postgresql") else None

    def register(server):
        export_name = add_export_servicer(server, engine, store.Base.metadata)
        journal_pb2_grpc.add_JournalServicer_to_server(
            JournalServicer(sessions, timezone=journal_config.timezone, rules=journal_config,
                            reads=reads_engine), server)
        return [export_name, journal_pb2.DESCRIPTOR.services_by_name["Journal"].full_name]

    serve("journal", settings.port("journal.grpc"), settings.port("journal.grpc.metrics"), register,
          db_health(engine))
    engine.dispose()
    if reads_engine is not None:
        reads_engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
