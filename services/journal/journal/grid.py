"""GetClassJournal: the class journal grid (API.md ``GET /classes/{id}/journal``)
for the gRPC process. At most ten indexed queries whatever the size of the class,
prebuilt Core statements reading plain rows (no ORM entities);
the students at risk in the subject (R-F4) from the marks it shows.
Each lesson says who actually gave it and, for a substitution (R-J6), whom
they replaced."""
from __future__ import annotations

import grpc

from ejournal.journal.v1 import journal_pb2
from journal import domain, errors, store
from kernel.grpcserver import abort


def get_class_journal(sessions, today, request, context, rules) -> journal_pb2.ClassJournal:
    """``rules``: the journal's settings (the final marks' thresholds of the risks)."""
    if not request.school_id or not request.class_id or not request.subject_id or not request.viewer_id:
        abort(context, grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR",
              errors.text("grid_request_incomplete"))
    with sessions() as s:
        klass = store.reads.grid_class(s, school_id=request.school_id, class_id=request.class_id)
        if klass is None or not domain.lessons.may_view_class_journal(
                s, klass=klass, viewer_id=request.viewer_id, roles=list(request.viewer_roles)):
            abort(context, grpc.StatusCode.NOT_FOUND, "NOT_FOUND", errors.text("class_not_found"))
        if request.period_id:
            period = store.finals.period_or_year(s, school_id=request.school_id, period_id=request.period_id)
        else:
            period = store.reads.grid_period_on(s, school_id=request.school_id, day=today, year_id=klass.year_id)
        if period is None or period[4].id != klass.year_id:
            abort(context, grpc.StatusCode.NOT_FOUND, "NOT_FOUND", errors.text("study_period_not_found"))
        period_id, kind, start, end, year = period
        where = {"class_id": klass.id, "subject_id": request.subject_id, "start": start, "end": end}
        students = store.reads.grid_students(s, class_id=klass.id, start=start, end=end)
        lessons = store.reads.grid_lessons(s, **where)
        marks = store.reads.grid_marks(s, **where) if lessons else []
        attendance = store.reads.grid_attendance(s, **where) if lessons else []
        periods = store.reads.grid_periods(s, year_id=year.id)
        finals = store.reads.grid_finals(s, class_id=klass.id, subject_id=request.subject_id, period_ids=(
            [period_id, *(p.id for p in periods)] if kind == "year" else [period_id]))
        subject = store.reads.grid_subject(s, school_id=request.school_id, class_id=klass.id,
                                           subject_id=request.subject_id)
        if subject is None:  # not the school's subject: its name is unknown, the class's hours still count
            hours = store.finals.class_subject_hours(s, class_id=klass.id, subject_id=request.subject_id)
            subject = ("", False, hours.get(request.subject_id))
    subject_name, emphasis, hours_per_week = subject
    by_student: dict = {}
    for m in marks:
        by_student.setdefault(m[2], []).append((m[3], m[5], m[4]))
    risks = domain.finals.subject_risks(
        by_student, [sid for sid, _ in students], hours_per_week=hours_per_week, emphasis=emphasis,
        low=rules.final_min_marks_low, high=rules.final_min_marks_high, min_written=rules.final_min_written)
    reply = journal_pb2.ClassJournal(
        class_id=klass.id, subject_id=request.subject_id, period_id=period_id,
        starts_on=start.isoformat(), ends_on=end.isoformat(),
        class_name=klass.name, subject_name=subject_name, year_id=year.id, year_name=year.name,
        periods=[journal_pb2.GridPeriod(id=p.id, name=p.name, kind=p.kind, starts_on=p.starts_on.isoformat(),
                                        ends_on=p.ends_on.isoformat()) for p in periods],
        students=[journal_pb2.GridStudent(id=sid, full_name=name) for sid, name in students],
        lessons=[journal_pb2.GridLesson(
            id=l.id, date=l.date.isoformat(), topic=l.topic, lesson_type=l.lesson_type, work_type=l.work_type or "",
            homework=l.homework or "", teacher_id=l.teacher_id, subgroup_id=l.subgroup_id or "", late=l.late,
            overdue=l.overdue, teacher_name=l.teacher_name or "", substitute_for=l.substitute_for or "",
            substitute_for_name=l.replaced_name or "") for l in lessons],
        finals=[journal_pb2.GridFinal(id=f[0], student_id=f[1], period_id=f[2], period_kind=f[3], value=f[4],
                                      late=f[5]) for f in finals],
        at_risk=[journal_pb2.GridRisk(student_id=sid, reasons=r["reasons"], predicted=r["predicted"] or 0,
                                      marks_count=r["marks_count"], required=r["required"],
                                      written_works=r["written_works"], written_required=r["written_required"])
                 for sid, r in risks.items()],
    )
    # The two long lists: add() fills each repeated field in place (no
    # message built and then copied in), positional columns of plain rows.
    add = reply.marks.add
    for m in marks:
        add(id=m[0], lesson_id=m[1], student_id=m[2], value=m[3], kind=m[4], weight=m[5], comment=m[6] or "",
            version=m[7])
    add = reply.attendance.add
    for a in attendance:
        add(lesson_id=a[0], student_id=a[1], status=a[2], version=a[3])
    return reply
