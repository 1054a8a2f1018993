"""A small school seeded straight into messaging's projections, for tests of
mail, news and notifications (the facts identity and journal events would
bring). Every id is fresh."""
from __future__ import annotations

import datetime as dt

from messaging import store
from messaging_testkit import new_id

# name: (full name, roles, e-mail)
PEOPLE = {
    "director": ("Петрова Мария Ивановна", ["director"], None),
    "deputy": ("Фёдоров Андрей", ["deputy"], None),
    "secretary": ("Смирнова Ольга", ["secretary"], None),
    "editor": ("Орлова Нина", ["news_editor", "teacher"], None),
    "teacher_a": ("Кузнецов Иван", ["teacher"], None),        # teaches class A
    "head_a": ("Волкова Елена", ["class_teacher", "teacher"], None),  # class teacher of A
    "teacher_b": ("Соколов Павел", ["teacher"], None),        # teaches class B only
    "parent_a": ("Иванова Анна", ["parent"], "anna@example.test"),
    "parent_b": ("Сидоров Олег", ["parent"], "oleg@example.test"),
    "student_a": ("Иванов Пётр", ["student"], None),
    "student_b": ("Сидорова Вера", ["student"], None),
}


def seed_school(session_maker) -> dict:
    """Ids of everyone above plus ``school``, ``class_a``, ``class_b``,
    ``subject`` and ``outsider`` (a teacher of another school)."""
    ids = {name: new_id() for name in PEOPLE}
    ids.update(school=new_id(), other_school=new_id(), class_a=new_id(), class_b=new_id(), subject=new_id(),
               outsider=new_id())
    now = dt.datetime.now(dt.timezone.utc)
    s_id = ids["school"]
    with session_maker() as s:
        for name, (full_name, roles, email) in PEOPLE.items():
            store.save_user_created(s, user_id=ids[name], school_id=s_id, full_name=full_name, roles=roles,
                                    as_of=now, email=email)
        store.save_user_created(s, user_id=ids["outsider"], school_id=ids["other_school"], full_name="Чужой Учитель",
                                roles=["teacher"], as_of=now)
        store.save_subject(s, school_id=s_id, subject_id=ids["subject"], name="Математика")
        store.save_class(s, school_id=s_id, class_id=ids["class_a"], year_id=None, grade=5, letter="А", name="5А",
                         class_teacher_id=ids["head_a"])
        store.save_class(s, school_id=s_id, class_id=ids["class_b"], year_id=None, grade=6, letter="Б", name="6Б",
                         class_teacher_id=ids["teacher_b"])
        for student, klass in (("student_a", "class_a"), ("student_b", "class_b")):
            store.save_enrolment(s, school_id=s_id, student_id=ids[student], class_id=ids[klass], order_no=None,
                                 enrolled_on=None)
        store.save_parent_link(s, school_id=s_id, student_id=ids["student_a"], parent_id=ids["parent_a"],
                               relation="мать")
        store.save_parent_link(s, school_id=s_id, student_id=ids["student_b"], parent_id=ids["parent_b"],
                               relation="отец")
        store.save_assignment(s, school_id=s_id, assignment_id=new_id(), teacher_id=ids["teacher_a"],
                              class_id=ids["class_a"], subject_id=ids["subject"])
        s.commit()
    return ids


def ctx(ids: dict, who: str) -> dict:
    roles = PEOPLE[who][1] if who in PEOPLE else ["teacher"]
    return {"actor_id": ids[who], "school_id": ids["school"], "roles": roles, "correlation_id": "c0ffee01"}
