"""The families of a class list (``GET /classes/{id}/students``): each
student's sex and birth date and their parents with their consent (R-A2,
R-A4), for the class teacher and the administration only. The journal
lists the students; the gateway asks here for their families."""
from __future__ import annotations

from sqlalchemy import select

from kernel.context import CallContext
from kernel.nameko import service_rpc

from identity import domain, store
from identity.entrypoints import id_arg
from identity.errors import Forbidden, ValidationError

# at most this many students in one call (a class list page is at most kernel.limits.LIST_LIMIT_MAX)
MAX_STUDENTS = 500


class Families:
    @service_rpc
    def class_families(self, ctx, class_id, student_ids):
        """``{student id: {sex, birth_date, parents: [{id, full_name,
        consent, consent_signed_on}]}}`` (``consent_signed_on``: the date
        signed of the latest decision, given or withdrawn; null without one) for the students of the actor's school among
        ``student_ids``: the administration sees any, the class teacher of
        ``class_id`` the students of that class; anyone else is refused."""
        actor = CallContext.from_rpc(ctx)
        class_id = id_arg(class_id, "class_id")
        if not isinstance(student_ids, list) or len(student_ids) > MAX_STUDENTS or not all(
                isinstance(i, str) and 0 < len(i) <= 64 for i in student_ids):
            raise ValidationError(details={"field": "student_ids"})
        administration = actor.has(*domain.ADMINISTRATION)
        with self.db.transaction() as s:
            if not administration:
                teacher = s.scalar(select(store.ClassTeacher.teacher_id).where(
                    store.ClassTeacher.class_id == class_id, store.ClassTeacher.school_id == actor.school_id))
                if not actor.has("class_teacher") or teacher != actor.actor_id:
                    raise Forbidden()
            query = select(store.User).where(store.User.id.in_(student_ids),
                                             store.User.school_id == actor.school_id)
            if not administration:
                query = query.join(store.StudentClass, store.StudentClass.student_id == store.User.id).where(
                    store.StudentClass.class_id == class_id)
            students = {u.id: u for u in s.scalars(query) if "student" in (u.roles or ())}
            result = {sid: {"sex": u.sex, "birth_date": u.birth_date.isoformat() if u.birth_date else None,
                            "parents": []} for sid, u in students.items()}
            if not students:
                return result
            links = s.execute(
                select(store.ParentLink.student_id, store.User)
                .join(store.User, store.User.id == store.ParentLink.parent_id)
                .where(store.ParentLink.student_id.in_(list(students)))
                .order_by(store.User.full_name, store.User.id)).all()
            consent = {}
            for student_id, parent in links:
                if parent.id not in consent:
                    latest = store.latest_consent(s, parent_id=parent.id)
                    consent[parent.id] = (bool(latest and latest.given),
                                          latest.signed_on.isoformat() if latest else None)
                given, signed_on = consent[parent.id]
                result[student_id]["parents"].append({"id": parent.id, "full_name": parent.full_name,
                                                      "consent": given, "consent_signed_on": signed_on})
        return result
