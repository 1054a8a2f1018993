"""The two imports: students with their parents from a file (R-S2), with
identity creating the accounts, and lessons transcribed from the paper
journal (R-J1, R-J5)."""
from __future__ import annotations

import base64
import binascii

from kernel.errors import ServiceError
from kernel.context import CallContext
from kernel.events import utcnow
from kernel.idempotency import idempotent
from kernel.nameko import service_rpc

from journal import domain, errors, events, store
from journal.entrypoints.base import KEYS
from journal.entrypoints.jobs import NO_PROGRESS


class Imports:
    """RPCs of the imports."""

    @service_rpc
    def import_students(self, ctx, upload):
        """Import students with their parents from a CSV or XLSX file into a
        class (R-S2): admin or the class's class teacher.

        ``upload`` = ``{content_b64, filename, class_id, order_no, on}``.
        Every bad row is reported (``errors: [{row, message}]``) and then
        nothing is written anywhere. Otherwise identity creates the missing
        accounts (``create_user``) and links parents (``link_parent``), and
        the journal enrols the students in one transaction. A second import
        of the same file finds everything in place and changes nothing.

        Across services this is not one transaction: if identity or the
        journal fails half-way, accounts created so far stay in identity and
        the answer is 503 ``IMPORT_INCOMPLETE``; importing the same file
        again completes the work (every step is idempotent by login). The
        initial passwords of accounts created by a failed run are not shown
        again: those accounts need a password reset."""
        return self._import_students(ctx, upload, NO_PROGRESS)

    def _import_target(self, actor, upload) -> tuple:
        """The checks an import makes before any work (the class, the
        caller, the open year, the date, the file): ``(class, year,
        admission, rows, problems)``."""
        upload = domain.common.require_mapping(upload, "upload")
        class_id = domain.common.ident(upload.get("class_id"), "class_id")
        order_no = domain.common.text(upload.get("order_no"), "order_no", max_len=64)
        on = domain.common.parse_date(upload.get("on"), "on")
        admission = domain.structure.EnrolmentSpec(student_id="-", order_no=order_no, on=on)
        with self.db.transaction() as s:
            found = store.structure.class_with_year(s, school_id=actor.school_id, class_id=class_id)
        if found is None:
            raise errors.NotFound(errors.text("class_not_found"), details={"field": "class_id"})
        klass, year = found
        if not domain.structure.may_enrol(actor, klass.class_teacher_id):
            raise errors.NotAllowed(errors.text("import_not_allowed"))
        domain.common.check_year_open(year.archived)
        domain.common.check_date_in_year(admission.on, year.starts_on, year.ends_on, "on")
        try:
            content = base64.b64decode(upload.get("content_b64") or "", validate=True)
            rows, problems = domain.imports.parse_rows(domain.imports.read_table(content))
        except (ValueError, binascii.Error) as exc:
            message = str(exc) if isinstance(exc, domain.imports.FileRejected) else errors.text("file_broken")
            raise errors.ValidationError(message, details={"field": "file"}) from None
        return klass, year, admission, rows, problems + domain.imports.check_consistency(rows)

    def _import_students(self, ctx, upload, progress) -> dict:
        """:meth:`import_students`, telling ``progress`` (stage, done, total) how far it is."""
        actor = CallContext.from_rpc(ctx)
        klass, year, admission, rows, problems = self._import_target(actor, upload)
        progress("checking", 0, len(rows))
        logins = {}
        for row in rows:
            logins.setdefault(row.login.casefold(), row.student())
            logins.setdefault(row.parent_login.casefold(), row.parent())
        keys = sorted(logins)
        answers = self._identity("resolve_users", ctx, [logins[k] for k in keys]) if keys else []
        resolved = dict(zip(keys, answers))
        existing_ids = [a["id"] for a in answers if a["status"] == "existing"]
        with self.db.transaction() as s:
            elsewhere = store.imports.enrolled_elsewhere(s, year_id=year.id, class_id=klass.id,
                                                         student_ids=existing_ids)
        problems += domain.imports.check_resolution(rows, resolved, enrolled_elsewhere=elsewhere)
        progress("checking", len(rows), len(rows))
        if problems:
            return {"applied": False, "created": 0, "updated": 0, "unchanged": 0, "credentials": [],
                    "errors": sorted(problems, key=lambda p: p["row"])}
        return self._apply_import(ctx, actor, klass, admission, rows, resolved, progress)

    def _apply_import(self, ctx, actor, klass, admission, rows, resolved, progress) -> dict:
        """The writing half of :meth:`import_students`; input already checked.
        A job ends (``progress.complete``) in the enrolment's transaction."""
        ids, credentials, made = {}, [], set()
        new = sum(1 for answer in resolved.values() if answer["status"] != "existing")
        try:
            progress("accounts", 0, new)
            for row in rows:
                for key, data in ((row.login.casefold(), row.student()), (row.parent_login.casefold(), row.parent())):
                    if key in ids:
                        continue
                    if resolved[key]["status"] == "existing":
                        ids[key] = resolved[key]["id"]
                        continue
                    created = self._identity("create_user", ctx, data)
                    ids[key] = created["id"]
                    made.add(key)
                    credentials.append({"row": row.number, "login": created["login"],
                                        "initial_password": created["initial_password"]})
                    progress("accounts", len(made), new)
            linked = set()
            progress("linking", 0, len(rows))
            for n, row in enumerate(rows, 1):
                key, pkey = row.login.casefold(), row.parent_login.casefold()
                if ids[pkey] not in resolved[key].get("parent_ids", []):
                    self._identity("link_parent", ctx, ids[key], ids[pkey], row.relation)
                    linked.add(row.number)
                progress("linking", n, len(rows))
            progress("enrolling", 0, len(rows))
            with self._write() as s:
                klass, year = store.structure.class_with_year(s, school_id=actor.school_id, class_id=klass.id)
                domain.common.check_year_open(year.archived)
                now = utcnow()
                for row in rows:
                    for key, name, role in ((row.login.casefold(), row.full_name, "student"),
                                            (row.parent_login.casefold(), row.parent_full_name, "parent")):
                        if key in made:  # identity's user_created may not have arrived yet
                            store.structure.save_person(s, user_id=ids[key], school_id=actor.school_id, at=now,
                                                        full_name=name, roles=[role])
                student_ids = sorted({ids[r.login.casefold()] for r in rows})
                for student_id in student_ids:
                    store.structure.lock_person(s, user_id=student_id)
                here = store.structure.students_in_class_now(s, class_id=klass.id)
                enrolled = set()
                for student_id in student_ids:
                    if student_id in here:
                        continue
                    if store.structure.open_enrolment_in_year(s, student_id=student_id, year_id=year.id) is not None:
                        raise errors.AlreadyEnrolled(details={"student_id": student_id})
                    stay = domain.structure.EnrolmentSpec(student_id=student_id, order_no=admission.order_no,
                                                          on=admission.on)
                    enrolment = store.structure.add_enrolment(s, school_id=actor.school_id, class_id=klass.id,
                                                              spec=stay)
                    self.outbox.add(s, events.STUDENT_ENROLLED, events.student_enrolled(enrolment), ctx)
                    enrolled.add(student_id)
                result = domain.imports.imports_summary(rows, ids, made, linked, enrolled)
                self.outbox.add(s, events.STUDENTS_IMPORTED, {
                    "class_id": klass.id, "order_no": admission.order_no, "on": admission.on.isoformat(),
                    "created": result["created"], "updated": result["updated"], "unchanged": result["unchanged"],
                    "student_ids": student_ids}, ctx)
                answer = {"applied": True, **result, "credentials": credentials, "errors": []}
                progress.complete(s, answer)
        except errors.Unavailable as exc:
            raise errors.ImportIncomplete(details={**exc.details, "accounts_created": len(made)}) from None
        return answer

    @service_rpc
    @idempotent("import_lessons", **KEYS)
    def import_lessons(self, ctx, data, key):
        """Transcribe lessons already held from the paper journal (admin):
        all or nothing; each lesson is marked ``imported`` with the paper
        entry's day ``recorded_on``, which decides late and overdue (R-J5).
        See :mod:`journal.domain.imports`."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN)
        items = domain.imports.validate_import(data)
        config = self.settings
        teachers = {}  # the people named, from the projection (else identity), before the transaction
        for item in items:
            if item.teacher_id not in teachers:
                try:
                    teachers[item.teacher_id] = self._person(actor, ctx, item.teacher_id, "teacher_id")
                except ServiceError as exc:
                    raise domain.imports.at_row(item.row, exc) from None
        with self._write(key) as s:
            now = utcnow()
            today = domain.common.school_today(now, config.timezone)
            classes, subjects, periods, lessons = {}, {}, {}, []
            for item in items:
                spec = item.spec
                try:
                    if spec.class_id not in classes:
                        classes[spec.class_id] = store.structure.class_with_year(
                            s, school_id=actor.school_id, class_id=spec.class_id)
                    if classes[spec.class_id] is None:
                        raise errors.NotFound(errors.text("class_not_found"), details={"field": "class_id"})
                    klass, year = classes[spec.class_id]
                    if spec.subject_id not in subjects:
                        subjects[spec.subject_id] = store.structure.get_subject(
                            s, school_id=actor.school_id, subject_id=spec.subject_id)
                    subject = subjects[spec.subject_id]
                    if subject is None:
                        raise errors.NotFound(errors.text("subject_not_found"), details={"field": "subject_id"})
                    replaced = None if spec.substitute_for is None else store.structure.assigned_subgroups(
                        s, teacher_id=spec.substitute_for, class_id=klass.id, subject_id=subject.id)
                    domain.imports.require_teacher(
                        item.teacher_id, teachers[item.teacher_id].roles, class_teacher_id=klass.class_teacher_id,
                        subgroup_id=spec.subgroup_id, assigned_subgroups=store.structure.assigned_subgroups(
                            s, teacher_id=item.teacher_id, class_id=klass.id, subject_id=subject.id),
                        replaced_subgroups=replaced)
                    domain.structure.check_subgroup(s, klass.id, subject.id, spec.subgroup_id)
                    domain.common.check_year_open(year.archived)
                    if year.id not in periods:
                        periods[year.id] = store.structure.period_bounds(s, year_id=year.id)
                    domain.lessons.check_lesson_date(spec.date, periods[year.id])
                    domain.lessons.check_homework_allowed(klass.grade, spec.homework)
                    if replaced is not None:
                        domain.lessons.check_substitute(replaced, spec.subgroup_id)
                    late, overdue = domain.imports.check_dates(spec.date, item.recorded_on, today)
                except ServiceError as exc:
                    raise domain.imports.at_row(item.row, exc) from None
                lessons.append((store.imports.add_imported_lesson(
                    s, school_id=actor.school_id, spec=spec, teacher_id=item.teacher_id, entered_at=now,
                    recorded_on=item.recorded_on, late=late, overdue=overdue), subject.name))
            s.flush()
            for lesson, subject_name in lessons:
                self.outbox.add(s, events.LESSON_RECORDED, events.lesson_recorded(lesson, subject_name), ctx)
            result = {"imported": len(lessons), "late": sum(1 for l, _ in lessons if l.late),
                      "overdue": sum(1 for l, _ in lessons if l.overdue),
                      "lessons": [{"id": l.id, "date": l.date.isoformat(), "recorded_on": l.recorded_on.isoformat(),
                                   "late": l.late, "overdue": l.overdue} for l, _ in lessons]}
            key.remember(s, result)
        return result
