"""Check the journal's tamper evidence (R-J7) straight in the database.

Every mark's versions, and every attendance entry's versions, must form an
unbroken hash chain from the genesis hash, and the current row (``marks``,
``attendance``) must equal its last version. A row edited behind the
service's back (SQL by hand, a restored dump someone touched) breaks one of
the two. Run::

    python -m journal.verify [--school SCHOOL_ID] [--database-url URL]

Prints a JSON summary; exit status 0 when everything verifies, 1 when a mark
or an attendance entry is broken, 2 when the database cannot be read.
"""
from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy.exc import SQLAlchemyError

from journal import domain, store
from kernel import config
from kernel.db import make_engine, session_factory


def _scan(rows, check, describe, limit: int) -> dict:
    checked, broken, count = 0, [], 0
    for state, chain in rows:
        checked += 1
        problems = check(state, chain)
        if problems:
            count += 1
            if len(broken) < limit:
                broken.append({**describe(state), "problems": problems})
    return {"checked": checked, "broken_count": count, "broken": broken}


def check(session, school_id: str | None = None, limit: int = 1000, with_school: bool = True) -> dict:
    """``{ok, checked, broken_count, broken: [{mark_id, problems}], attendance:
    {checked, broken_count, broken: [{attendance_id, lesson_id, student_id,
    problems}]}}``: marks at the top level (as before attendance was
    chained), attendance beside them; ``ok`` covers both. ``with_school``
    adds each broken row's ``school_id`` (the CLI checks every school)."""
    school = (lambda state: {"school_id": state["school_id"]}) if with_school else (lambda state: {})
    found = _scan(store.lessons.chains(session, school_id=school_id), domain.lessons.verify_mark,
                  lambda st: {"mark_id": st["mark_id"], **school(st)}, limit)
    attendance = _scan(store.attendance.attendance_chains(session, school_id=school_id),
                       domain.attendance.verify_attendance,
                       lambda st: {"attendance_id": st["attendance_id"], "lesson_id": st["lesson_id"],
                                   "student_id": st["student_id"], **school(st)}, limit)
    return {"ok": found["broken_count"] == 0 and attendance["broken_count"] == 0, **found,
            "attendance": attendance}


def verify(sessions, school_id: str | None = None, limit: int = 1000) -> dict:
    """:func:`check` in a session of its own."""
    with sessions() as session:
        return check(session, school_id=school_id, limit=limit)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m journal.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--school", help="only this school's marks and attendance")
    parser.add_argument("--database-url", help="default: EJOURNAL_JOURNAL_DATABASE_URL or the local SQLite file")
    args = parser.parse_args(argv)
    url = args.database_url or config.load().database_url("journal")
    engine = make_engine(url)
    try:
        result = verify(session_factory(engine), school_id=args.school)
    except SQLAlchemyError as exc:
        print(json.dumps({"ok": False, "error": str(exc.__class__.__name__)}), file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
