"""Property (hypothesis): any sequence of posts, corrections and removals,
sent through the running service on real RabbitMQ and PostgreSQL, leaves a
history whose hash chain verifies and whose current state equals the last
version of each mark (R-J7)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journal import domain, errors, store

VALUES = st.integers(min_value=2, max_value=5)
OPS = st.lists(st.one_of(
    st.tuples(st.just("correct"), VALUES, st.sampled_from(["oral", "test", "written"]), st.integers(1, 3)),
    st.tuples(st.just("remove")),
    st.tuples(st.just("post"), VALUES),
), min_size=1, max_size=8)


def test_any_sequence_of_changes_leaves_a_verifiable_history_r_j7(journal, make):
    year = make.year()
    teacher, deputy = make.person("teacher"), make.person("deputy")
    klass = make.klass(year, grade=6, letter="В")
    subject = make.subject("Русский язык")
    make.assign(teacher, klass, subject)
    student = make.person("student")
    make.enrol(student, klass)
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    lesson = make.lesson(klass, subject, teacher, today)
    authors = [make.ctx(teacher, "teacher"), make.ctx(deputy, "deputy")]

    @settings(max_examples=20, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(first=VALUES, ops=OPS)
    def run(first, ops):
        ctx = authors[0]
        posted = journal.call("post_marks", ctx, lesson.id, [{"student_id": student, "value": first}])
        model = {posted["marks"][0]["id"]: {"value": first, "kind": "oral", "weight": 1, "removed": False}}
        for n, op in enumerate(ops):
            mark_id = list(model)[-1]
            expected = model[mark_id]
            who = authors[n % 2]
            if op[0] == "post":
                got = journal.call("post_marks", ctx, lesson.id, [{"student_id": student, "value": op[1]}])
                model[got["marks"][0]["id"]] = {"value": op[1], "kind": "oral", "weight": 1, "removed": False}
                continue
            try:
                if op[0] == "correct":
                    journal.call("correct_mark", who, mark_id,
                                 {"value": op[1], "kind": op[2], "weight": op[3], "reason": f"шаг {n}"})
                    expected.update(value=op[1], kind=op[2], weight=op[3])
                else:
                    journal.call("remove_mark", who, mark_id, {"reason": f"шаг {n}"})
                    expected["removed"] = True
            except errors.ServiceError as exc:
                # refused changes change nothing
                assert exc.code in ("MARK_REMOVED", "NOTHING_CHANGED"), exc.to_dict()
                assert exc.code != "MARK_REMOVED" or expected["removed"]
        with make.sessions() as s:
            for mark_id, expected in model.items():
                mark = s.get(store.Mark, mark_id)
                chain = store.lessons.mark_chain(s, mark_id=mark_id)
                assert domain.chain.verify_chain(chain)
                assert domain.lessons.verify_mark(store.lessons.mark_state(mark), chain) == []
                last = chain[-1][0]
                assert {k: last[k] for k in expected} == expected
                assert mark.version == len(chain)

    run()
