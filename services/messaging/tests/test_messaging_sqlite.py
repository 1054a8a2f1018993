"""The embedded default (one SQLite file per service, `make run`): the same
migrations and the same store queries work there too."""
from __future__ import annotations

import datetime as dt

from kernel.db import make_engine, session_factory
from kernel.migrate import upgrade

from messaging import domain, store
from messaging_testkit import new_id

UTC = dt.timezone.utc


def test_store_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'messaging.db'}"
    upgrade("messaging", url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            school, student, parent, user = new_id(), new_id(), new_id(), new_id()
            store.save_roles(s, user_id=user, school_id=None, roles=["teacher"],
                             as_of=dt.datetime(2026, 10, 2, tzinfo=UTC))
            store.save_user_created(s, user_id=user, school_id=school, full_name="Петров Иван", roles=[],
                                    as_of=dt.datetime(2026, 10, 1, tzinfo=UTC))
            store.save_parent_link(s, school_id=school, student_id=student, parent_id=parent, relation=None)
            store.save_parent_link(s, school_id=school, student_id=student, parent_id=parent, relation="отец")
            event = new_id()
            drafts = [domain.NotificationDraft(recipient_id=parent, kind=k, title="t", body="b", data={"k": k})
                      for k in ("a", "b", "c")]
            t0 = dt.datetime(2026, 10, 1, 8, tzinfo=UTC)
            assert len(store.add_notifications(s, school_id=school, source_event_id=event, drafts=drafts[:2],
                                               now=t0)) == 2
            assert len(store.add_notifications(s, school_id=school, source_event_id=event, drafts=drafts,
                                               now=t0 + dt.timedelta(seconds=1))) == 1
            s.commit()

            assert store.get_person(s, user_id=user).roles == ["teacher"]
            assert store.parent_ids(s, school_id=school, student_id=student) == [parent]
            assert store.parents_by_student(s, pairs={(school, student), (school, user)}) == {
                (school, student): [parent], (school, user): []}
            assert s.get(store.ParentLink, (student, parent)).relation == "отец"
            everything = store.list_notifications(s, school_id=school, recipient_id=parent, limit=10)
            assert everything[0].data == {"k": "c"}
            first = store.list_notifications(s, school_id=school, recipient_id=parent, limit=2)
            cursor = domain.decode_cursor(domain.encode_cursor(first[-1].created_at, first[-1].id))
            rest = store.list_notifications(s, school_id=school, recipient_id=parent, limit=2, after=cursor)
            assert [n.id for n in first + rest] == [n.id for n in everything]
            assert store.mark_read(s, school_id=school, recipient_id=parent, ids=[everything[0].id]) == 1
    finally:
        engine.dispose()


def test_a_batch_of_marks_on_sqlite(tmp_path):
    """The batch handler's statements (claims, bulk INSERT ... ON CONFLICT DO
    NOTHING RETURNING of notifications and e-mails) on the embedded default."""
    from kernel.nameko import WorkerDb
    from messaging.service import Service
    from messaging_testkit import make_envelope, mark_payload

    url = f"sqlite:///{tmp_path / 'messaging.db'}"
    upgrade("messaging", url)
    engine = make_engine(url)
    try:
        factory = session_factory(engine)
        school, now = new_id(), dt.datetime.now(UTC)
        students, parents = [new_id() for _ in range(3)], [new_id() for _ in range(3)]
        with factory() as s:
            for n, (student, parent) in enumerate(zip(students, parents)):
                store.save_user_created(s, user_id=student, school_id=school, full_name=f"Ученик {n}",
                                        roles=["student"], as_of=now)
                store.save_user_created(s, user_id=parent, school_id=school, full_name=f"Родитель {n}",
                                        roles=["parent"], as_of=now, email=f"p{n}@example.test")
                store.save_parent_link(s, school_id=school, student_id=student, parent_id=parent, relation=None)
            store.save_setting(s, school_id=school, user_id=parents[2], email_mode="off", digest_time="18:00")
            s.commit()
        service = Service.__new__(Service)
        service.db, service.dead_letters = WorkerDb(factory), None
        marks = [make_envelope("mark_posted", mark_payload(student_id=s), producer="journal", school_id=school)
                 for s in students]
        assert Service.on_mark_posted(service, marks + marks[:1]) == ["ack"] * 4
        assert Service.on_mark_posted(service, marks) == ["ack"] * 3  # all handled before: no effect
        with factory() as s:
            notes = s.query(store.Notification).all()
            assert sorted(n.recipient_id for n in notes) == sorted(parents)
            emails = s.query(store.Email).all()
            assert sorted(e.address for e in emails) == ["p0@example.test", "p1@example.test"]
    finally:
        engine.dispose()
