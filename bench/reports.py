"""R-R6 at school size: the progress summary sheet (progress-sheet, JSON)
of a 1,000-student school (36 classes of 28, 15 subjects, one term, about
600,000 marks) built by the reports service's own code from its
projections, against one SQL ``GROUP BY`` over the same marks in the same
database (count and weighted sum per student and subject), measured in the
same run (`make bench-reports`).

Both sides run in this process on one connection, in alternating rounds;
medians over the rounds. The report side is what the gRPC Document stream
does for format=json (reports.documents.produce): every query of the
builder, the pure rules, the printable layout and the JSON encoding; not
the gRPC hop. Goals (issue "Reports"): the sheet in at most 2 s, and at
most 3 times the GROUP BY. The seed goes straight into a scratch reports
database (COPY), so no platform is started."""
from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import statistics
import time
import uuid

import psycopg2
from sqlalchemy.engine import make_url

from kernel.context import CallContext
from kernel.db import make_engine, session_factory
from kernel.testing import PgDatabases, admin_url, migrated_database
from reports import documents

GRADES = range(5, 11)  # 6 grades x 6 letters = 36 classes
LETTERS = "АБВГДЕ"
CLASS_SIZE = 28
SUBJECTS = 15
MARKS_PER_CELL = 40  # 36 x 28 x 15 x 40 = 604,800 marks
TERM = (dt.date(2026, 9, 1), dt.date(2026, 12, 28))
SUBJECT_NAMES = ["Алгебра", "Английский язык", "Биология", "География", "Геометрия", "Информатика", "История",
                 "Литература", "Музыка", "Обществознание", "Русский язык", "Технология", "Физика",
                 "Физическая культура", "Химия"]


def ident() -> str:
    return str(uuid.uuid4())


def copy(cur, table: str, columns: tuple, rows) -> int:
    buf, n = io.StringIO(), 0
    for row in rows:
        buf.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
        n += 1
    buf.seek(0)
    cur.copy_from(buf, table, columns=columns)
    return n


def seed(dsn: str) -> dict:
    """The school straight into the reports projections."""
    rnd = random.Random(15)
    school, year, term = ident(), ident(), ident()
    subjects = [ident() for _ in range(SUBJECTS)]
    classes = [(ident(), g, letter) for g in GRADES for letter in LETTERS]
    now = "2026-09-01T00:00:00+00:00"
    days = [TERM[0] + dt.timedelta(days=d) for d in range((TERM[1] - TERM[0]).days + 1)
            if (TERM[0] + dt.timedelta(days=d)).weekday() < 5]
    conn = psycopg2.connect(dsn)
    marks = 0
    with conn, conn.cursor() as cur:
        copy(cur, "years", ("id", "school_id", "name", "starts_on", "ends_on"),
             [(year, school, "2026/2027", "2026-09-01", "2027-05-31")])
        copy(cur, "periods", ("id", "school_id", "year_id", "name", "kind", "starts_on", "ends_on"),
             [(term, school, year, "1 полугодие", "half_year", TERM[0], TERM[1])])
        copy(cur, "subjects", ("id", "school_id", "name", "emphasis"),
             [(s, school, n, "false") for s, n in zip(subjects, SUBJECT_NAMES)])
        copy(cur, "classes", ("id", "school_id", "year_id", "grade", "letter", "name", "class_teacher_id"),
             [(c, school, year, g, letter, f"{g}{letter}", None) for c, g, letter in classes])
        copy(cur, "teacher_assignments", ("id", "school_id", "teacher_id", "class_id", "subject_id", "hours_per_week",
                                          "subgroup_id"),
             [(ident(), school, ident(), c, s, 2, None) for c, _, _ in classes for s in subjects])
        students = [(ident(), c) for c, _, _ in classes for _ in range(CLASS_SIZE)]
        copy(cur, "people", ("id", "school_id", "login", "full_name", "roles", "roles_at", "sex"),
             [(s, school, f"s{i}", f"Ученик{i:04d} Тестовый", '["student"]', now, "male" if i % 2 else "female")
              for i, (s, _) in enumerate(students)])
        copy(cur, "enrolments", ("class_id", "student_id", "school_id", "order_no", "enrolled_on"),
             [(c, s, school, "1-у", "2026-09-01") for s, c in students])

        def mark_rows():
            for student, class_id in students:
                level = rnd.choice((2.6, 3.4, 3.9, 4.4, 4.8))
                for subject in subjects:
                    for _ in range(MARKS_PER_CELL):
                        value = min(5, max(2, round(rnd.gauss(level, 0.7))))
                        yield (ident(), school, None, student, class_id, subject, rnd.choice(days), value, "oral",
                               rnd.choice((1, 1, 1, 2)), None, now, 1, "false")
        marks = copy(cur, "marks", ("id", "school_id", "lesson_id", "student_id", "class_id", "subject_id", "date",
                                    "value", "kind", "weight", "teacher_id", "posted_at", "version", "removed"),
                     mark_rows())
        cur.execute("ANALYZE")
    conn.close()
    return {"school": school, "term": term, "students": len(students), "marks": marks, "classes": len(classes)}


GROUP_BY = """SELECT student_id, subject_id, count(*), sum(value * weight), sum(weight)
FROM marks WHERE school_id = %s AND removed = false AND date BETWEEN %s AND %s
GROUP BY student_id, subject_id"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    pg = PgDatabases(admin_url())
    try:
        url = migrated_database(pg, "reports")
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        started = time.perf_counter()
        data = seed(dsn)
        print(f"seeded {data['students']} students in {data['classes']} classes, {data['marks']} marks "
              f"in {time.perf_counter() - started:.1f} s")
        engine = make_engine(url)
        sessions = session_factory(engine)
        who = CallContext(ident(), data["school"], frozenset({"deputy"}), None)
        raw = psycopg2.connect(dsn)
        report_times, sql_times, size = [], [], 0
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            with sessions() as session:
                doc = documents.produce(session, who, "progress-sheet", {"period_id": data["term"]}, "json",
                                        school_name="Школа", now=dt.datetime.now(dt.timezone.utc))
            report_times.append(time.perf_counter() - t0)
            size = len(doc.data)
            t0 = time.perf_counter()
            with raw.cursor() as cur:
                cur.execute(GROUP_BY, (data["school"], TERM[0], TERM[1]))
                rows = cur.fetchall()
            sql_times.append(time.perf_counter() - t0)
        raw.close()
        engine.dispose()
        report, sql = statistics.median(report_times), statistics.median(sql_times)
        print(f"progress-sheet JSON: median {report:.3f} s over {args.rounds} rounds ({size / 1e6:.1f} MB); "
              f"goal <= 2 s: {'met' if report <= 2 else 'NOT met'}")
        print(f"one SQL GROUP BY ({len(rows)} groups): median {sql:.3f} s")
        print(f"ratio report / GROUP BY: {report / sql:.2f}; goal <= 3: {'met' if report / sql <= 3 else 'NOT met'}")
    finally:
        pg.drop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
