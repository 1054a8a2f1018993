"""The school's structure: years and periods (R-S1), subjects and their
emphasis (R-F2), classes, enrolment (R-S2), teacher assignments and
subgroups (R-S5)."""
from __future__ import annotations

from kernel import access_rules
from kernel.context import CallContext
from kernel.nameko import service_rpc

from journal import domain, errors, events, store


class Structure:
    """RPCs of the school's structure."""

    @service_rpc
    def open_year(self, ctx, data):
        """Open a school year with its periods (R-S1); admin."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN)
        spec = domain.structure.validate_year(data)
        with self._write() as s:
            if store.structure.year_name_taken(s, school_id=actor.school_id, name=spec.name):
                raise errors.AlreadyExists(errors.text("year_name_taken"), details={"field": "name"})
            year, periods = store.structure.add_year(s, school_id=actor.school_id, spec=spec)
            payload = events.year_opened(year, periods)
            self.outbox.add(s, events.YEAR_OPENED, payload, ctx)
        return {"id": year.id, "name": payload["name"], "starts_on": payload["starts_on"],
                "ends_on": payload["ends_on"], "periods": payload["periods"]}

    @service_rpc
    def create_subject(self, ctx, data):
        """Add a subject, unique by name within the school; admin. ``emphasis``
        (R-F2) defaults from the name (:func:`journal.domain.finals.default_emphasis`)."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN)
        name = domain.structure.validate_subject(data)
        emphasis = domain.finals.validate_emphasis(data)
        with self._write() as s:
            if store.structure.subject_name_taken(s, school_id=actor.school_id, name=name):
                raise errors.AlreadyExists(errors.text("subject_name_taken"), details={"field": "name"})
            subject = store.structure.add_subject(s, school_id=actor.school_id, name=name, emphasis=emphasis)
            self.outbox.add(s, events.SUBJECT_CREATED, events.subject_created(subject), ctx)
        return {"id": subject.id, "name": subject.name, "emphasis": subject.emphasis}

    @service_rpc
    def update_subject(self, ctx, subject_id, data):
        """Change a subject's R-F2 ``emphasis`` (its final marks need written,
        lab or practical works); admin. Setting the value it already has
        changes nothing and publishes nothing."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN)
        subject_id = domain.common.ident(subject_id, "subject_id")
        emphasis = domain.finals.validate_emphasis(data, required=True)
        with self._write() as s:
            subject = store.structure.get_subject(s, school_id=actor.school_id, subject_id=subject_id, lock=True)
            if subject is None:
                raise errors.NotFound(errors.text("subject_not_found"), details={"field": "subject_id"})
            if subject.emphasis != emphasis:
                subject.emphasis = emphasis
                s.flush()
                self.outbox.add(s, events.SUBJECT_UPDATED, events.subject_updated(subject), ctx)
            return {"id": subject.id, "name": subject.name, "emphasis": subject.emphasis}

    @service_rpc
    def create_class(self, ctx, data):
        """Add a class ("5А") to an open year with its class teacher; admin."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN)
        spec = domain.structure.validate_class(data)
        teacher = self._person(actor, ctx, spec.class_teacher_id, "class_teacher_id")
        domain.common.require_role(teacher.roles, domain.common.TEACHING_ROLES, field="class_teacher_id")
        with self._write() as s:
            year = store.structure.get_year(s, school_id=actor.school_id, year_id=spec.year_id)
            if year is None:
                raise errors.NotFound(errors.text("year_not_found"), details={"field": "year_id"})
            domain.common.check_year_open(year.archived)
            if store.structure.class_exists(s, year_id=year.id, grade=spec.grade, letter=spec.letter):
                raise errors.AlreadyExists(errors.text("class_exists", name=spec.name),
                                           details={"field": "letter"})
            klass = store.structure.add_class(s, school_id=actor.school_id, spec=spec)
            payload = events.class_created(klass)
            self.outbox.add(s, events.CLASS_CREATED, payload, ctx)
        return {"id": klass.id, "name": klass.name, "year_id": klass.year_id, "grade": klass.grade,
                "letter": klass.letter, "class_teacher_id": klass.class_teacher_id}

    @service_rpc
    def enroll_student(self, ctx, class_id, data):
        """Admit a student to a class by order (R-S2, R-S3); admin or the
        class's class teacher."""
        actor = CallContext.from_rpc(ctx)
        class_id = domain.common.ident(class_id, "class_id")
        spec = domain.structure.validate_enrolment(data)
        with self.db.transaction() as s:
            found = store.structure.class_with_year(s, school_id=actor.school_id, class_id=class_id)
        if found is None:
            raise errors.NotFound(errors.text("class_not_found"), details={"field": "class_id"})
        if not domain.structure.may_enrol(actor, found[0].class_teacher_id):
            raise errors.NotAllowed(errors.text("enrol_not_allowed"))
        student = self._person(actor, ctx, spec.student_id, "student_id")
        domain.common.require_role(student.roles, {domain.common.STUDENT}, field="student_id")
        with self._write() as s:
            klass, year = store.structure.class_with_year(s, school_id=actor.school_id, class_id=class_id)
            domain.common.check_year_open(year.archived)
            domain.common.check_date_in_year(spec.on, year.starts_on, year.ends_on, "on")
            store.structure.lock_person(s, user_id=spec.student_id)
            current = store.structure.open_enrolment_in_year(s, student_id=spec.student_id, year_id=year.id)
            if current is not None:
                raise errors.AlreadyEnrolled(details={"class_id": current.class_id})
            enrolment = store.structure.add_enrolment(s, school_id=actor.school_id, class_id=klass.id, spec=spec)
            payload = events.student_enrolled(enrolment)
            self.outbox.add(s, events.STUDENT_ENROLLED, payload, ctx)
        return payload

    @service_rpc
    def assign_teacher(self, ctx, data):
        """Assign a teacher to a class and subject (optionally a subgroup); admin, deputy."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN, domain.common.DEPUTY)
        spec = domain.structure.validate_assignment(data)
        with self.db.transaction() as s:
            klass = store.structure.get_class(s, school_id=actor.school_id, class_id=spec.class_id)
            subject = store.structure.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id)
        if klass is None:
            raise errors.NotFound(errors.text("class_not_found"), details={"field": "class_id"})
        if subject is None:
            raise errors.NotFound(errors.text("subject_not_found"), details={"field": "subject_id"})
        teacher = self._person(actor, ctx, spec.teacher_id, "teacher_id")
        domain.common.require_role(teacher.roles, domain.common.TEACHING_ROLES, field="teacher_id")
        with self._write() as s:
            klass, year = store.structure.class_with_year(s, school_id=actor.school_id, class_id=spec.class_id)
            domain.common.check_year_open(year.archived)
            domain.structure.check_subgroup(s, klass.id, spec.subject_id, spec.subgroup_id)
            if store.structure.assignment_exists(s, teacher_id=spec.teacher_id, class_id=spec.class_id,
                                                 subject_id=spec.subject_id, subgroup_id=spec.subgroup_id):
                raise errors.AlreadyExists(errors.text("assignment_exists"))
            assignment = store.structure.add_assignment(s, school_id=actor.school_id, spec=spec)
            payload = events.teacher_assigned(assignment)
            self.outbox.add(s, events.TEACHER_ASSIGNED, payload, ctx)
        return {"id": assignment.id, **{k: payload[k] for k in (
            "teacher_id", "class_id", "subject_id", "hours_per_week", "subgroup_id")}}

    @service_rpc
    def create_subgroup(self, ctx, class_id, data):
        """Split a class for a subject (R-S5); deputy, the class's class
        teacher, admin. A student is in at most one subgroup per subject."""
        actor = CallContext.from_rpc(ctx)
        class_id = domain.common.ident(class_id, "class_id")
        spec = domain.structure.validate_subgroup(data)
        with self._write() as s:
            found = store.structure.class_with_year(s, school_id=actor.school_id, class_id=class_id)
            if found is None:
                raise errors.NotFound(errors.text("class_not_found"), details={"field": "class_id"})
            klass, year = found
            if access_rules.splits_class(actor.roles, class_teacher=domain.common.is_class_teacher(
                    actor, klass.class_teacher_id)) is not None:
                raise errors.NotAllowed(errors.text("split_not_allowed"))
            if store.structure.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id) is None:
                raise errors.NotFound(errors.text("subject_not_found"), details={"field": "subject_id"})
            domain.common.check_year_open(year.archived)
            domain.structure.check_subgroup_members(
                spec.student_ids, in_class=store.structure.students_in_class_now(s, class_id=klass.id),
                already_grouped=store.structure.grouped_students(s, class_id=klass.id, subject_id=spec.subject_id))
            subgroup = store.structure.add_subgroup(s, school_id=actor.school_id, class_id=klass.id, spec=spec)
            payload = events.subgroup_created(subgroup, spec.student_ids)
            self.outbox.add(s, events.SUBGROUP_CREATED, payload, ctx)
        return {"id": subgroup.id, **{k: v for k, v in payload.items() if k != "subgroup_id"}}
