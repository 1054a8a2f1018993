"""The journal's gRPC process (plain grpcio, never inside nameko):
ejournal.journal.v1.Journal (GetDiary) and the backup Export stream.

Run: ``python -m journal.grpc_server``.
"""
from __future__ import annotations

import datetime as dt
import sys

import grpc

from ejournal.journal.v1 import journal_pb2, journal_pb2_grpc
from journal import domain, errors, grid, store
from journal import settings as journal_settings
from kernel import config
from kernel.db import make_engine, session_factory
from kernel.events import utcnow
from kernel.export import add_export_servicer
from kernel.grpcserver import abort, serve
from kernel.metrics import db_health


class JournalServicer(journal_pb2_grpc.JournalServicer):
    """The gateway's hot reads. Built from a sessionmaker (and a clock for
    tests) so it can be called directly, without a server."""

    def __init__(self, sessions, timezone: dt.tzinfo | None = None, clock=utcnow):
        self.sessions = sessions
        self.timezone = timezone or journal_settings.JournalSettings().timezone
        self.clock = clock

    def GetDiary(self, request, context):
        """A student's lessons and marks, days sorted, lessons by date then
        subject; three queries whatever the range."""
        if not request.student_id or not request.school_id:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR",
                  "Не указан ученик или школа")
        today = domain.school_today(self.clock(), self.timezone)
        try:
            start, end = domain.diary_range(request.from_date, request.to_date, today)
        except errors.ValidationError as exc:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, exc.code, exc.message)
        with self.sessions() as session:
            person = store.get_person(session, school_id=request.school_id, user_id=request.student_id)
            if person is None:
                abort(context, grpc.StatusCode.NOT_FOUND, "NOT_FOUND", "Ученик не найден")
            subgroups = store.student_subgroups(session, student_id=request.student_id)
            lessons = store.diary_lessons(session, school_id=request.school_id, student_id=request.student_id,
                                          start=start, end=end, subgroups=subgroups)
            marks = store.diary_marks(session, school_id=request.school_id, student_id=request.student_id,
                                      start=start, end=end) if lessons else {}
            attendance = store.diary_attendance(session, student_id=request.student_id,
                                                lesson_ids=[l.id for l, _ in lessons]) if lessons else {}
        return build_diary(request.student_id, lessons, marks, attendance)

    def GetClassJournal(self, request, context):
        """The class journal grid (journal.grid)."""
        return grid.get_class_journal(self.sessions, domain.school_today(self.clock(), self.timezone),
                                      request, context)


def build_diary(student_id: str, lessons, marks, attendance=None) -> journal_pb2.Diary:
    """The Diary message from ``[(lesson, subject name)]`` (already sorted),
    ``{lesson_id: [mark]}`` and ``{lesson_id: attendance status}``."""
    attendance = attendance or {}
    diary = journal_pb2.Diary(student_id=student_id)
    day = None
    for lesson, subject_name in lessons:
        date = lesson.date.isoformat()
        if day is None or day.date != date:
            day = diary.days.add(date=date)
        day.lessons.add(
            lesson_id=lesson.id, subject_id=lesson.subject_id, subject=subject_name, topic=lesson.topic,
            homework=lesson.homework or "", lesson_type=lesson.lesson_type, attendance=attendance.get(lesson.id, ""),
            marks=[journal_pb2.DiaryMark(id=m.id, value=m.value, kind=m.kind, weight=m.weight,
                                         comment=m.comment or "") for m in marks.get(lesson.id, ())],
        )
    return diary


def main() -> int:
    settings = config.load()
    journal_config = journal_settings.load()
    engine = make_engine(settings.database_url("journal"))
    sessions = session_factory(engine)

    def register(server):
        export_name = add_export_servicer(server, engine, store.Base.metadata)
        journal_pb2_grpc.add_JournalServicer_to_server(
            JournalServicer(sessions, timezone=journal_config.timezone), server)
        return [export_name, journal_pb2.DESCRIPTOR.services_by_name["Journal"].full_name]

    serve("journal", settings.port("journal.grpc"), settings.port("journal.grpc.metrics"), register,
          db_health(engine))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
