"""Check the journal's tamper evidence (R-J7) straight in the database.

Every mark's versions must form an unbroken hash chain from the genesis hash,
and the mark's current row must equal its last version. A row edited behind
the service's back (SQL by hand, a restored dump someone touched) breaks one
of the two. Run::

    python -m journal.verify [--school SCHOOL_ID] [--database-url URL]

Prints a JSON summary; exit status 0 when everything verifies, 1 when a mark
is broken, 2 when the database cannot be read.
"""
from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy.exc import SQLAlchemyError

from journal import marks, store
from kernel import config
from kernel.db import make_engine, session_factory


def verify(sessions, school_id: str | None = None, limit: int = 1000) -> dict:
    """``{ok, checked, broken_count, broken: [{mark_id, school_id, problems}]}``."""
    checked, broken, count = 0, [], 0
    with sessions() as session:
        for state, chain in store.chains(session, school_id=school_id):
            checked += 1
            problems = marks.verify_mark(state, chain)
            if problems:
                count += 1
                if len(broken) < limit:
                    broken.append({"mark_id": state["mark_id"], "school_id": state["school_id"],
                                   "problems": problems})
    return {"ok": count == 0, "checked": checked, "broken_count": count, "broken": broken}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m journal.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--school", help="only this school's marks")
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
