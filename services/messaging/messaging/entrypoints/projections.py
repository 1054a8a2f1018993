"""Projections of other services' facts: people and their roles, parent
links, subjects, classes, enrolments, subgroups, teacher assignments."""
from __future__ import annotations

from kernel import payloads

from messaging import events, store
from messaging.entrypoints import handled, on


class Projections:
    @on(events.USER_CREATED)
    @handled("on_user_created")
    def on_user_created(self, session, envelope):
        user = events.parse_user_created(envelope)
        store.save_user_created(session, user_id=user.user_id, school_id=envelope.get("school_id") or None,
                                full_name=user.full_name, roles=user.roles, as_of=payloads.occurred_at(envelope),
                                email=user.email)

    @on(events.ROLES_CHANGED)
    @handled("on_roles_changed")
    def on_roles_changed(self, session, envelope):
        change = events.parse_roles_changed(envelope)
        store.save_roles(session, user_id=change.user_id, school_id=envelope.get("school_id") or None,
                         roles=change.roles, as_of=payloads.occurred_at(envelope))

    @on(events.PARENT_LINKED)
    @handled("on_parent_linked")
    def on_parent_linked(self, session, envelope):
        link = events.parse_parent_linked(envelope)
        store.save_parent_link(session, school_id=payloads.school_id(envelope), student_id=link.student_id,
                               parent_id=link.parent_id, relation=link.relation)

    @on(events.SUBJECT_CREATED)
    @handled("on_subject_created")
    def on_subject_created(self, session, envelope):
        subject = events.parse_subject_created(envelope)
        store.save_subject(session, school_id=payloads.school_id(envelope), subject_id=subject.subject_id,
                           name=subject.name)

    @on(events.CLASS_CREATED)
    @handled("on_class_created")
    def on_class_created(self, session, envelope):
        c = events.parse_class_created(envelope)
        store.save_class(session, school_id=payloads.school_id(envelope), class_id=c.class_id, year_id=c.year_id,
                         grade=c.grade, letter=c.letter, name=c.name, class_teacher_id=c.class_teacher_id)

    @on(events.STUDENT_ENROLLED)
    @handled("on_student_enrolled")
    def on_student_enrolled(self, session, envelope):
        e = events.parse_student_enrolled(envelope)
        store.save_enrolment(session, school_id=payloads.school_id(envelope), student_id=e.student_id,
                             class_id=e.class_id, order_no=e.order_no, enrolled_on=e.on)

    @on(events.STUDENT_TRANSFERRED)
    @handled("on_student_transferred")
    def on_student_transferred(self, session, envelope):
        """The old class's homework and the old class's teachers are no longer
        the family's (R-A3); the new class arrives as ``student_enrolled``."""
        e = events.parse_student_transferred(envelope)
        store.end_enrolment(session, school_id=payloads.school_id(envelope), student_id=e.student_id,
                            class_id=e.class_id, on=e.on)

    @on(events.STUDENT_LEFT)
    @handled("on_student_left")
    def on_student_left(self, session, envelope):
        e = events.parse_student_left(envelope)
        store.end_enrolment(session, school_id=payloads.school_id(envelope), student_id=e.student_id,
                            class_id=e.class_id, on=e.on)

    @on(events.SUBGROUP_CREATED)
    @handled("on_subgroup_created")
    def on_subgroup_created(self, session, envelope):
        g = events.parse_subgroup_created(envelope)
        store.save_subgroup(session, school_id=payloads.school_id(envelope), subgroup_id=g.subgroup_id,
                            class_id=g.class_id, student_ids=g.student_ids)

    @on(events.TEACHER_ASSIGNED)
    @handled("on_teacher_assigned")
    def on_teacher_assigned(self, session, envelope):
        a = events.parse_teacher_assigned(envelope)
        store.save_assignment(session, school_id=payloads.school_id(envelope), assignment_id=a.assignment_id,
                              teacher_id=a.teacher_id, class_id=a.class_id, subject_id=a.subject_id)
