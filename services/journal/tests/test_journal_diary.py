"""GetDiary on real PostgreSQL data, calling the servicer directly with a
stub context (no grpcio in this monkey-patched process), plus one smoke test
of the real `python -m journal.grpc_server` process driven from a subprocess."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.request
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import grpc
import pytest
from sqlalchemy import event

from ejournal.journal.v1 import journal_pb2
from journal import store
from journal.grpc_server import JournalServicer

D = dt.date
MOSCOW = ZoneInfo("Europe/Moscow")


class Aborted(Exception):
    pass


class StubContext:
    """What the servicer needs of a grpc.ServicerContext: abort raises."""

    def __init__(self):
        self.code = self.details = None

    def abort(self, code, details):
        self.code, self.details = code, json.loads(details)
        raise Aborted(code)


def utc(*args):
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


def servicer(sessions, now=utc(2026, 10, 15, 10, 0)):
    return JournalServicer(sessions, timezone=MOSCOW, clock=lambda: now)


def get_diary(svc, student_id, school_id, from_date="", to_date=""):
    return svc.GetDiary(journal_pb2.DiaryRequest(student_id=student_id, school_id=school_id, from_date=from_date,
                                                 to_date=to_date), StubContext())


def refused(svc, request_kw):
    ctx = StubContext()
    with pytest.raises(Aborted):
        svc.GetDiary(journal_pb2.DiaryRequest(**request_kw), ctx)
    return ctx


@pytest.fixture
def week(make):
    """The parent-facing week of 12..18 October 2026 for one pupil of 5А."""
    year = make.year(starts_on=D(2026, 9, 1), ends_on=D(2027, 5, 31),
                     periods=[(D(2026, 9, 1), D(2026, 12, 28)), (D(2027, 1, 9), D(2027, 5, 31))])
    teacher = make.person("teacher", "class_teacher")
    a5, b5 = make.klass(year, letter="А", class_teacher_id=teacher), make.klass(year, letter="Б")
    russian, maths, english = make.subject("Русский язык"), make.subject("Математика"), make.subject("Английский язык")
    pupil, classmate = make.person("student", full_name="Иванов Иван"), make.person("student")
    make.enrol(pupil, a5, on=D(2026, 9, 1))
    make.enrol(classmate, a5, on=D(2026, 9, 1))
    # inserted out of order on purpose: the diary sorts
    mon_russian = make.lesson(a5, russian, teacher, D(2026, 10, 12), topic="Безударные гласные", homework="упр. 112")
    mon_maths = make.lesson(a5, maths, teacher, D(2026, 10, 12), topic="Сложение дробей", homework="№ 245")
    mon_english = make.lesson(a5, english, teacher, D(2026, 10, 12), topic="Present Simple", subgroup_id="g1")
    wed_russian = make.lesson(a5, russian, teacher, D(2026, 10, 14), topic="Диктант")
    make.lesson(b5, maths, teacher, D(2026, 10, 13), topic="Чужой класс")
    make.lesson(a5, maths, teacher, D(2026, 10, 11), topic="Прошлая неделя")
    make.lesson(a5, maths, teacher, D(2026, 10, 19), topic="Следующая неделя")
    five = make.mark(mon_maths, pupil, 5)
    four = make.mark(mon_maths, pupil, 4, kind="test", weight=2, comment="Ошибка в № 3")
    make.mark(mon_maths, pupil, 2, removed=True)
    make.mark(mon_maths, classmate, 3)
    return SimpleNamespace(pupil=pupil, classmate=classmate, school_id=make.school_id, a5=a5, b5=b5, maths=maths,
                           russian=russian, english=english, teacher=teacher, mon_maths=mon_maths,
                           mon_russian=mon_russian, mon_english=mon_english, wed_russian=wed_russian,
                           marks=(five, four))


def test_parent_facing_week_with_marks(sessions, week):
    diary = get_diary(servicer(sessions), week.pupil, week.school_id, "2026-10-12", "2026-10-18")
    assert diary.student_id == week.pupil
    assert [d.date for d in diary.days] == ["2026-10-12", "2026-10-14"]
    monday = diary.days[0].lessons
    assert [l.subject for l in monday] == ["Английский язык", "Математика", "Русский язык"]
    maths = monday[1]
    assert (maths.lesson_id, maths.subject_id, maths.topic, maths.homework, maths.lesson_type, maths.attendance) == (
        week.mon_maths.id, week.maths.id, "Сложение дробей", "№ 245", "урок", "")
    assert [(m.id, m.value, m.kind, m.weight, m.comment) for m in maths.marks] == [
        (week.marks[0].id, 5, "oral", 1, ""), (week.marks[1].id, 4, "test", 2, "Ошибка в № 3")]
    assert list(monday[0].marks) == [] and monday[0].homework == ""
    assert [l.topic for l in diary.days[1].lessons] == ["Диктант"]


def test_diary_is_one_query(sessions, week, journal_engine):
    """The person, lessons, marks and attendance in one statement, whatever the
    range; the final marks and the timetable in one more."""
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(journal_engine, "before_cursor_execute", count)
    try:
        diary = get_diary(servicer(sessions), week.pupil, week.school_id, "2026-09-01", "2026-11-30")
    finally:
        event.remove(journal_engine, "before_cursor_execute", count)
    assert len(statements) == 2, statements
    assert sum(len(d.lessons) for d in diary.days) == 6


def test_the_reads_engine_gives_the_same_diary(sessions, make, week, journal_engine):
    """The process reads the diary on bare connections of an engine of its
    own (main()), without a Session: the same answers, the empty default
    week's fallback included."""
    bare = JournalServicer(sessions, timezone=MOSCOW, clock=lambda: utc(2026, 10, 15, 10, 0), reads=journal_engine)
    for dates in (("2026-10-12", "2026-10-18"), ("2026-09-01", "2026-11-30"), ("", "")):
        assert get_diary(bare, week.pupil, week.school_id, *dates) == get_diary(
            servicer(sessions), week.pupil, week.school_id, *dates)
    later = utc(2026, 11, 2, 6, 0)  # a week without lessons: the latest one with lessons
    answer = get_diary(JournalServicer(sessions, timezone=MOSCOW, clock=lambda: later, reads=journal_engine),
                       week.pupil, week.school_id)
    assert answer == get_diary(servicer(sessions, later), week.pupil, week.school_id)
    assert answer.from_date == "2026-10-19" and answer.days
    assert refused(bare, {"student_id": "nobody", "school_id": week.school_id}).code == grpc.StatusCode.NOT_FOUND


def test_r_f1_r_s6_the_diary_carries_final_marks_and_the_timetable(sessions, make, week):
    """The year's current final marks by period and subject (a superseded one
    is not shown), and the class's week in the period of the range: the whole
    class's slots and the pupil's own subgroup's, not another subgroup's."""
    from kernel.db import new_id
    from kernel.events import utcnow
    [first, second] = sorted(make.rows(store.Period, year_id=week.a5.year_id), key=lambda p: p.starts_on)

    def final(period_id, kind, subject, value, superseded=False):
        make._save(store.FinalMark(
            id=new_id(), school_id=week.school_id, student_id=week.pupil, subject_id=subject.id,
            class_id=week.a5.id, period_id=period_id, period_kind=kind, value=value, evidence={}, warnings=[],
            late=False, teacher_id=week.teacher, entered_at=utcnow(), superseded=superseded))

    final(week.a5.year_id, "year", week.maths, 4)
    final(first.id, "half_year", week.russian, 3, superseded=True)
    final(first.id, "half_year", week.russian, 5)
    final(first.id, "half_year", week.maths, 4)
    mine = make.subgroup(week.a5, week.english, name="1 группа", student_ids=[week.pupil])
    other = make.subgroup(week.a5, week.english, name="2 группа", student_ids=[week.classmate])

    def slot(weekday, number, subject, subgroup=None, period=first):
        make._save(store.TimetableSlot(id=new_id(), school_id=week.school_id, class_id=week.a5.id,
                                       period_id=period.id, weekday=weekday, number=number, subject_id=subject.id,
                                       teacher_id=week.teacher, room="21" if number == 1 else None,
                                       subgroup_id=subgroup.id if subgroup else None))
    slot(1, 2, week.maths)
    slot(1, 1, week.russian)
    slot(2, 1, week.english, mine)
    slot(2, 2, week.english, other)
    slot(3, 1, week.maths, period=second)
    diary = get_diary(servicer(sessions), week.pupil, week.school_id, "2026-10-12", "2026-10-18")
    assert [(f.period, f.subject, f.value, f.period_kind) for f in diary.finals] == [
        ("1 полугодие", "Математика", 4, "half_year"), ("1 полугодие", "Русский язык", 5, "half_year"),
        (make.rows(store.Year, id=week.a5.year_id)[0].name, "Математика", 4, "year")]
    assert [(s.weekday, s.number, s.subject, s.room) for s in diary.timetable] == [
        (1, 1, "Русский язык", "21"), (1, 2, "Математика", ""), (2, 1, "Английский язык", "21")]
    assert diary.timetable[0].teacher_id == week.teacher
    # the holidays: the week of the period last begun, with the classmate's own subgroup; no final marks
    holidays = get_diary(servicer(sessions), week.classmate, week.school_id, "2026-12-29", "2027-01-04")
    assert list(holidays.finals) == []
    assert [(s.weekday, s.number) for s in holidays.timetable] == [(1, 1), (1, 2), (2, 2)]


def test_diary_shows_the_pupils_own_attendance(sessions, make, week):
    teacher = week.teacher
    with sessions.begin() as s:
        for student_id, status in ((week.pupil, "ill"), (week.classmate, "absent")):
            s.add(store.AttendanceEntry(school_id=week.school_id, lesson_id=week.mon_maths.id, student_id=student_id,
                                        status=status, version=1, updated_by=teacher, updated_at=utc(2026, 10, 12, 9)))
    diary = get_diary(servicer(sessions), week.pupil, week.school_id, "2026-10-12", "2026-10-18")
    by_topic = {l.topic: l for d in diary.days for l in d.lessons}
    assert by_topic["Сложение дробей"].attendance == "ill"
    assert [m.value for m in by_topic["Сложение дробей"].marks] == [5, 4]
    assert by_topic["Безударные гласные"].attendance == "" and by_topic["Диктант"].attendance == ""


def test_two_stays_in_one_class_never_double_a_lesson(sessions, make, week):
    """Left 5А and came back: a lesson both stays cover (bad data, but it
    happens with back-dated orders) is shown once, with its marks once."""
    returner = make.person("student")
    make.enrol(returner, week.a5, on=D(2026, 9, 1), left_on=D(2026, 10, 13))
    make.enrol(returner, week.a5, on=D(2026, 10, 1))
    make.mark(week.mon_maths, returner, 4)
    diary = get_diary(servicer(sessions), returner, week.school_id, "2026-10-12", "2026-10-12")
    assert [l.topic for l in diary.days[0].lessons] == ["Present Simple", "Сложение дробей", "Безударные гласные"]
    assert [[m.value for m in l.marks] for l in diary.days[0].lessons] == [[], [4], []]


def test_diary_defaults_to_the_schools_current_week(sessions, week):
    diary = get_diary(servicer(sessions, now=utc(2026, 10, 15, 10, 0)), week.pupil, week.school_id)
    assert [d.date for d in diary.days] == ["2026-10-12", "2026-10-14"]
    # Sunday 22:00 UTC is already Monday in Moscow: the next week
    diary = get_diary(servicer(sessions, now=utc(2026, 10, 18, 22, 0)), week.pupil, week.school_id)
    assert [(d.date, d.lessons[0].topic) for d in diary.days] == [("2026-10-19", "Следующая неделя")]


def test_an_empty_current_week_gives_the_latest_week_with_lessons(sessions, make, week):
    """A Monday morning (or the holidays) showed an empty diary: without
    dates the diary answers the latest earlier week that has the pupil's
    lessons, and says which range it answered."""
    svc = servicer(sessions, now=utc(2026, 11, 2, 6, 0))  # Monday 2 November, two weeks after the last lesson
    diary = get_diary(svc, week.pupil, week.school_id)
    assert (diary.from_date, diary.to_date) == ("2026-10-19", "2026-10-25")
    assert [(d.date, d.lessons[0].topic) for d in diary.days] == [("2026-10-19", "Следующая неделя")]
    # a lesson of another class does not count
    make.lesson(week.b5, week.maths, week.teacher, D(2026, 10, 28), topic="Чужой класс")
    assert get_diary(svc, week.pupil, week.school_id).from_date == "2026-10-19"
    # asked for explicitly, an empty week stays empty
    asked = get_diary(svc, week.pupil, week.school_id, "2026-10-26", "2026-11-01")
    assert list(asked.days) == [] and (asked.from_date, asked.to_date) == ("2026-10-26", "2026-11-01")


def test_a_current_week_with_lessons_is_answered_as_it_is(sessions, week):
    diary = get_diary(servicer(sessions, now=utc(2026, 10, 15, 10, 0)), week.pupil, week.school_id)
    assert (diary.from_date, diary.to_date) == ("2026-10-12", "2026-10-18")


def test_diary_follows_the_enrolment_history(sessions, make, week):
    """A pupil moved from 5Б to 5А on Wednesday sees 5Б's lessons before, 5А's after."""
    mover = make.person("student")
    make.enrol(mover, week.b5, on=D(2026, 9, 1), left_on=D(2026, 10, 14))
    make.enrol(mover, week.a5, on=D(2026, 10, 14))
    diary = get_diary(servicer(sessions), mover, week.school_id, "2026-10-12", "2026-10-18")
    assert [(d.date, [l.topic for l in d.lessons]) for d in diary.days] == [
        ("2026-10-13", ["Чужой класс"]), ("2026-10-14", ["Диктант"])]


def test_another_pupils_diary_has_their_own_marks_only(sessions, week):
    diary = get_diary(servicer(sessions), week.classmate, week.school_id, "2026-10-12", "2026-10-12")
    maths = [l for l in diary.days[0].lessons if l.subject == "Математика"][0]
    assert [m.value for m in maths.marks] == [3]


def test_unknown_or_foreign_student_is_not_found(sessions, make, week):
    svc = servicer(sessions)
    ctx = refused(svc, {"student_id": "nobody", "school_id": week.school_id})
    assert ctx.code == grpc.StatusCode.NOT_FOUND and ctx.details["code"] == "NOT_FOUND"
    ctx = refused(svc, {"student_id": week.pupil, "school_id": "another-school"})
    assert ctx.code == grpc.StatusCode.NOT_FOUND


def test_known_student_without_lessons_gets_an_empty_diary(sessions, make):
    newcomer = make.person("student")
    diary = get_diary(servicer(sessions), newcomer, make.school_id)
    assert diary.student_id == newcomer and list(diary.days) == []


@pytest.mark.parametrize("from_date,to_date", [("2026-09-01", "2026-12-02"), ("2026-10-18", "2026-10-12"),
                                               ("12.10.2026", ""), ("2026-02-30", "")])
def test_bad_ranges_are_invalid_argument(sessions, week, from_date, to_date):
    ctx = refused(servicer(sessions), {"student_id": week.pupil, "school_id": week.school_id,
                                       "from_date": from_date, "to_date": to_date})
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT and ctx.details["code"] == "VALIDATION_ERROR"


def test_missing_student_or_school_is_invalid_argument(sessions):
    ctx = refused(servicer(sessions), {"student_id": "", "school_id": "s"})
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT


# --- the real process ---------------------------------------------------------

CLIENT = textwrap.dedent("""
    import json, sys, grpc
    from ejournal.journal.v1 import journal_pb2, journal_pb2_grpc
    from ejournal.export.v1 import export_pb2, export_pb2_grpc
    target, student, school = sys.argv[1:4]
    channel = grpc.insecure_channel(target)
    grpc.channel_ready_future(channel).result(timeout=15)
    diary = journal_pb2_grpc.JournalStub(channel).GetDiary(journal_pb2.DiaryRequest(
        student_id=student, school_id=school, from_date="2026-10-12", to_date="2026-10-18"), timeout=5)
    try:
        journal_pb2_grpc.JournalStub(channel).GetDiary(journal_pb2.DiaryRequest(
            student_id="nobody", school_id=school), timeout=5)
        missing = None
    except grpc.RpcError as exc:
        missing = [exc.code().name, json.loads(exc.details())["code"]]
    export = export_pb2_grpc.ExportStub(channel)
    counts = dict(export.CountRows(export_pb2.ExportRequest(), timeout=5).counts)
    print(json.dumps({"days": [d.date for d in diary.days], "missing": missing, "marks": counts.get("marks")}))
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_grpc_server_process_serves_diary_export_and_health(db_url, week):
    grpc_port, metrics_port = free_port(), free_port()
    env = {**os.environ, "EJOURNAL_JOURNAL_DATABASE_URL": db_url, "EJOURNAL_JOURNAL_GRPC_PORT": str(grpc_port),
           "EJOURNAL_JOURNAL_GRPC_METRICS_PORT": str(metrics_port), "EJOURNAL_BIND_HOST": "127.0.0.1"}
    env.pop("EJOURNAL_TEST_EVENTLET", None)
    server = subprocess.Popen([sys.executable, "-m", "journal.grpc_server"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        client = subprocess.run([sys.executable, "-c", CLIENT, f"127.0.0.1:{grpc_port}", week.pupil, week.school_id],
                                env=env, capture_output=True, text=True, timeout=60)
        assert client.returncode == 0, client.stderr
        answer = json.loads(client.stdout.strip().splitlines()[-1])
        assert answer == {"days": ["2026-10-12", "2026-10-14"], "missing": ["NOT_FOUND", "NOT_FOUND"], "marks": 4}
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5) as response:
            assert json.loads(response.read()) == {"status": "ok"}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
