"""The list reads of API.md "Reads the portal and scripts need": years,
subjects, classes, a class's students, a teacher's classes, a class's
lessons, one lesson, a student's attendance history (R-J7) and final marks
(R-F1). Every list answers ``{items, next_cursor}`` for the query's
``limit`` and ``cursor`` (:mod:`kernel.paging`). Identity's access
decision was asked by the gateway; the journal checks again, and whatever
the caller may not see (or another school's) is NOT_FOUND."""
from __future__ import annotations

import datetime as dt

from kernel import paging
from kernel.context import CallContext
from kernel.events import utcnow
from kernel.nameko import service_rpc

from journal import domain, errors, store
from journal.domain import reads as rules


class Reads:
    """RPCs of the list reads."""

    @service_rpc
    def mark_counts(self):
        """For reports' self-check (services/reports/README.md): the marks
        that count per school, class and period of the class's year, as
        ``[[school_id, class_id, period_id, count]]``. Counts only, no names
        or marks: a service-to-service read on the internal broker."""
        with self.db.transaction() as s:
            return [list(row) for row in store.reads.mark_counts(s)]

    def _today(self):
        return domain.common.school_today(utcnow(), self.settings.timezone)

    @service_rpc
    def list_years(self, ctx, query=None):
        """The school's years with their periods and whether closed (R-S1,
        R-S4), newest first; staff."""
        actor = CallContext.from_rpc(ctx)
        rules.require_staff(actor)
        query = rules.query_of(query)
        with self.db.transaction() as s:
            items = [rules.year_item(y, p) for y, p in store.listing.years_with_periods(s, school_id=actor.school_id)]
        # newest first: the negated ordinal of the first day, then the id
        return rules.page(items, lambda i: (-_ordinal(i["starts_on"]), i["id"]), query)

    @service_rpc
    def list_subjects(self, ctx, query=None):
        """The school's subjects by name, with their R-F2 emphasis; staff."""
        actor = CallContext.from_rpc(ctx)
        rules.require_staff(actor)
        query = rules.query_of(query)
        with self.db.transaction() as s:
            items = [{"id": x.id, "name": x.name, "emphasis": bool(x.emphasis)}
                     for x in store.listing.subjects(s, school_id=actor.school_id)]
        return rules.page(items, lambda i: (i["name"], i["id"]), query)

    @service_rpc
    def list_classes(self, ctx, query=None):
        """The school's classes (of one year with ``year_id``) by grade and
        letter, with the class teacher and today's size; staff."""
        actor = CallContext.from_rpc(ctx)
        rules.require_staff(actor)
        query = rules.query_of(query)
        year_id = rules.optional_id(query, "year_id")
        with self.db.transaction() as s:
            if year_id is not None and store.structure.get_year(s, school_id=actor.school_id, year_id=year_id) is None:
                raise errors.NotFound(errors.text("year_not_found"), details={"field": "year_id"})
            rows = store.listing.classes(s, school_id=actor.school_id, year_id=year_id, today=self._today())
        items = [{"id": k.id, "name": k.name, "year_id": k.year_id, "grade": k.grade, "letter": k.letter,
                  "class_teacher": rules.person(k.class_teacher_id, name), "size": int(size or 0)}
                 for k, name, size in rows]
        return rules.page(items, lambda i: (i["year_id"], i["grade"], i["letter"], i["id"]), query)

    @service_rpc
    def list_class_students(self, ctx, class_id, query=None):
        """The class's students today by name, with their subgroups (R-S5);
        the administration, the class teacher, its teachers. ``families``
        says whether the caller may see their parents (the class teacher and
        the administration): the gateway then asks identity for them.
        ``class``: the class itself (id, name, year)."""
        actor = CallContext.from_rpc(ctx)
        class_id = domain.common.ident(class_id, "class_id")
        query = rules.query_of(query)
        with self.db.transaction() as s:
            klass = self._visible_class(s, actor, class_id)
            students = store.listing.students_now(s, class_id=klass.id, today=self._today())
            groups = store.listing.subgroups_of_students(s, class_id=klass.id)
        items = [{"id": sid, "full_name": name,
                  "subgroups": [{"id": g.id, "name": g.name, "subject_id": g.subject_id, "subject": subject}
                                for g, subject in groups.get(sid, [])]}
                 for sid, name in students]
        result = rules.page(items, lambda i: (i["full_name"], i["id"]), query)
        result["families"] = rules.sees_families(actor, class_teacher_id=klass.class_teacher_id)
        result["class"] = {"id": klass.id, "name": klass.name, "year_id": klass.year_id}
        return result

    @service_rpc
    def list_my_classes(self, ctx, query=None):
        """The caller's classes of open years: per class, subject and
        subgroup, whether from an assignment, a substitution (R-J6) or the
        timetable (R-S6); teachers (and the administration who teach)."""
        actor = CallContext.from_rpc(ctx)
        if not rules.may_list_own_classes(actor):
            raise errors.NotAllowed()
        query = rules.query_of(query)
        with self.db.transaction() as s:
            rows = store.listing.teacher_classes(s, school_id=actor.school_id, teacher_id=actor.actor_id)
        return rules.public(rules.page(rules.my_classes(rows), rules.my_class_key, query))

    @service_rpc
    def list_class_lessons(self, ctx, class_id, query=None):
        """The class's lessons (of one subject with ``subject_id``, between
        ``from`` and ``to``) by date and entry, with who gave each, whom they
        replaced (R-J6), late/overdue and imported; who sees the class."""
        actor = CallContext.from_rpc(ctx)
        class_id = domain.common.ident(class_id, "class_id")
        query = rules.query_of(query)
        subject_id = rules.optional_id(query, "subject_id")
        start, end = rules.date_range(query)
        limit, after = rules.lesson_page_bounds(query)
        with self.db.transaction() as s:
            klass = self._visible_class(s, actor, class_id)
            if subject_id is not None and store.structure.get_subject(
                    s, school_id=actor.school_id, subject_id=subject_id) is None:
                raise errors.NotFound(errors.text("subject_not_found"), details={"field": "subject_id"})
            # a class's lessons of a year run to thousands: the database applies the cursor
            rows = store.listing.class_lessons(s, class_id=klass.id, subject_id=subject_id, start=start, end=end,
                                               after=after, limit=limit + 1)
        return paging.cut([rules.lesson_item(*row) for row in rows], rules.lesson_key, limit)

    @service_rpc
    def get_lesson(self, ctx, lesson_id):
        """One lesson with its marks (not removed) and attendance; who sees
        its class, and whoever gave it."""
        actor = CallContext.from_rpc(ctx)
        lesson_id = domain.common.ident(lesson_id, "lesson_id")
        not_found = errors.NotFound(errors.text("lesson_not_found"), details={"field": "lesson_id"})
        with self.db.transaction() as s:
            found = store.listing.lesson(s, school_id=actor.school_id, lesson_id=lesson_id)
            if found is None:
                raise not_found
            lesson, klass, subject_name, teacher_name, replaced_name = found
            if lesson.teacher_id != actor.actor_id and not rules.sees_class(
                    actor, class_teacher_id=klass.class_teacher_id,
                    teaches=store.reads.teaches_class(s, class_id=klass.id, teacher_id=actor.actor_id)):
                raise not_found
            marks = store.listing.lesson_marks(s, lesson_id=lesson.id)
            attendance = store.listing.lesson_attendance(s, lesson_id=lesson.id)
            names = store.listing.names(s, user_ids=[m.student_id for m in marks] +
                                        [a.student_id for a in attendance])
        item = rules.lesson_item(lesson, subject_name, teacher_name, replaced_name)
        item["class"] = {"id": klass.id, "name": klass.name}
        item["marks"] = [{"id": m.id, "student": rules.person(m.student_id, names.get(m.student_id)),
                          "value": m.value, "kind": m.kind, "weight": m.weight, "comment": m.comment,
                          "version": m.version, "author_id": m.author_id, "created_at": m.created_at.isoformat()}
                         for m in marks]
        item["attendance"] = [{"student": rules.person(a.student_id, names.get(a.student_id)),
                               "status": a.status, "version": a.version, "updated_by": a.updated_by,
                               "updated_at": a.updated_at.isoformat()} for a in attendance]
        return item

    @service_rpc
    def attendance_history(self, ctx, student_id, query=None):
        """Every version of the student's attendance (R-J7) on lessons from
        ``from`` to ``to``: who set it, when, the old and new status, the
        reason; by lesson date, lesson and version; the administration."""
        actor = CallContext.from_rpc(ctx)
        if not actor.has(*rules.HISTORY_READERS):
            raise errors.NotAllowed()
        student_id = domain.common.ident(student_id, "student_id")
        query = rules.query_of(query)
        start, end = rules.date_range(query)
        limit, after = rules.history_page_bounds(query)
        with self.db.transaction() as s:
            self._student(s, actor, student_id)
            rows = store.listing.attendance_history(s, school_id=actor.school_id, student_id=student_id,
                                                    start=start, end=end, after=after, limit=limit + 1)
        return paging.cut([rules.history_item(*row) for row in rows], rules.history_key, limit)

    @service_rpc
    def lesson_attendance_history(self, ctx, lesson_id, query=None):
        """Every version of a lesson's attendance (R-J7): whose, who set it,
        when, the old and new status, the reason; by student name and
        version; the administration."""
        actor = CallContext.from_rpc(ctx)
        if not actor.has(*rules.HISTORY_READERS):
            raise errors.NotAllowed()
        lesson_id = domain.common.ident(lesson_id, "lesson_id")
        limit, after = rules.lesson_history_page_bounds(rules.query_of(query))
        with self.db.transaction() as s:
            if store.listing.lesson(s, school_id=actor.school_id, lesson_id=lesson_id) is None:
                raise errors.NotFound(errors.text("lesson_not_found"), details={"field": "lesson_id"})
            rows = store.listing.lesson_attendance_history(s, lesson_id=lesson_id, after=after, limit=limit + 1)
        return paging.cut([rules.lesson_history_item(*row) for row in rows], rules.lesson_history_key, limit)

    @service_rpc
    def student_final_marks(self, ctx, student_id, query=None):
        """The student's current final marks of a year (``year_id``, else the
        year of their class today, else of their latest class) by period
        and subject (R-F1). Who may read is decided by the gateway, as for
        the diary."""
        actor = CallContext.from_rpc(ctx)
        student_id = domain.common.ident(student_id, "student_id")
        query = rules.query_of(query)
        year_id = rules.optional_id(query, "year_id")
        with self.db.transaction() as s:
            self._student(s, actor, student_id)
            if year_id is None:
                year_id = store.finals.year_of_student_on(s, student_id=student_id, day=self._today()) or \
                    store.listing.latest_year_of_student(s, school_id=actor.school_id, student_id=student_id)
                if year_id is None:
                    return rules.page([], lambda i: (), query) | {"year_id": None}
            year = store.structure.get_year(s, school_id=actor.school_id, year_id=year_id)
            if year is None:
                raise errors.NotFound(errors.text("year_not_found"), details={"field": "year_id"})
            periods = store.listing.periods_of_year(s, year_id=year.id)
            rows = store.listing.final_marks(s, school_id=actor.school_id, student_id=student_id, year=year)
        period_names = {p.id: p.name for p in periods} | {year.id: year.name}
        order = {p.id: n for n, p in enumerate(periods)} | {year.id: len(periods)}
        items = [rules.final_item(f, name, period_names) for f, name in rows]
        return rules.page(items, lambda i: rules.final_key(i, order), query) | {"year_id": year.id}

    # -- helpers -------------------------------------------------------------

    def _visible_class(self, s, actor, class_id):
        """The class if the caller may see it (the class journal's rule),
        else NOT_FOUND: another school's class and a class the caller has
        nothing to do with read alike."""
        klass = store.structure.get_class(s, school_id=actor.school_id, class_id=class_id)
        if klass is None or not rules.sees_class(
                actor, class_teacher_id=klass.class_teacher_id,
                teaches=store.reads.teaches_class(s, class_id=klass.id, teacher_id=actor.actor_id)):
            raise errors.NotFound(errors.text("class_not_found"), details={"field": "class_id"})
        return klass

    @staticmethod
    def _student(s, actor, student_id):
        person = store.structure.get_person(s, school_id=actor.school_id, user_id=student_id)
        if person is None or domain.common.STUDENT not in (person.roles or ()):
            raise errors.NotFound(errors.text("student_not_found"), details={"field": "student_id"})
        return person


def _ordinal(day: str) -> int:
    return dt.date.fromisoformat(day).toordinal()
