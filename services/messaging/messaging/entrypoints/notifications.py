"""Notifications: built from journal events (marks, absences, homework, late
entries and final marks), listed and marked read by their recipient, and
the recipient's e-mail settings."""
from __future__ import annotations

import dataclasses
import logging

from kernel import payloads
from kernel.batching import handles_batch, on_event_batch
from kernel.context import CallContext
from kernel.nameko import service_rpc

from messaging import domain, events, store
from messaging.entrypoints import handled, on
from messaging.mailer import wake
from messaging.notify import notify, notify_many

log = logging.getLogger(__name__)

# mark_posted comes in bursts (a teacher saves a lesson's marks, a class at
# once): batches of up to MARK_BATCH deliveries, cut MARK_BATCH_WAIT seconds
# after the first one arrived, at most MARK_BATCH_CONCURRENCY at a time
# (bench/notifications.py measured these).
MARK_BATCH = 200
MARK_BATCH_WAIT = 0.05
MARK_BATCH_CONCURRENCY = 4


class Notifications:
    @service_rpc
    def list_notifications(self, ctx, limit=domain.DEFAULT_LIMIT, cursor=None):
        """The caller's notifications, newest first:
        ``{items: [{id, kind, title, body, data, created_at, read}], next_cursor}``.
        ``limit`` 1..100; ``cursor`` is the ``next_cursor`` of the previous page."""
        who = CallContext.from_rpc(ctx)
        actor_id, school_id = who.actor_id, who.school_id
        limit = domain.check_limit(limit)
        after = domain.decode_cursor(cursor)
        rows = store.list_notifications(self.db.session, school_id=school_id, recipient_id=actor_id,
                                        limit=limit + 1, after=after)
        rows, next_cursor = domain.page(rows, limit)
        items = [domain.notification_view(id=r.id, kind=r.kind, title=r.title, body=r.body, data=r.data,
                                          created_at=r.created_at, read_at=r.read_at) for r in rows]
        return {"items": items, "next_cursor": next_cursor}

    @service_rpc
    def mark_notifications_read(self, ctx, ids):
        """Mark the caller's notifications ``ids`` read: ``{updated: n}``
        (other people's ids and already read ones are not counted)."""
        who = CallContext.from_rpc(ctx)
        actor_id, school_id = who.actor_id, who.school_id
        ids = domain.check_ids(ids)
        with self.db.transaction() as session:
            updated = store.mark_read(session, school_id=school_id, recipient_id=actor_id, ids=ids)
        return {"updated": updated}

    @on_event_batch(*events.MARK_POSTED, max_batch=MARK_BATCH, max_wait=MARK_BATCH_WAIT,
                    concurrency=MARK_BATCH_CONCURRENCY)
    @handles_batch("messaging.on_mark_posted", None)
    def on_mark_posted(self, session, envelopes):
        """Notify each marked student's linked parents (see
        :func:`messaging.domain.mark_notifications` for who and when). Marks
        come in batches (kernel.batching): a class's marks of one lesson cost
        a few statements in one transaction, not a transaction each.

        No processed-event rows (30 a class): the effect is idempotent by
        itself. A notification is unique per (recipient, source event,
        kind) and its e-mail per notification, so a redelivered event
        creates and sends nothing twice."""
        marks = [(env, events.parse_mark_posted(env), payloads.school_id(env)) for env in envelopes]
        parents = store.parents_by_student(session, pairs={(school, m.student_id) for _, m, school in marks})
        marks = [item for item in marks if parents[(item[2], item[1].student_id)]]
        if not marks:
            return
        # One query for the students' names and the parents' addresses and settings.
        known = store.contacts(session, ids={m.student_id for _, m, _ in marks}
                               | {p for _, m, school in marks for p in parents[(school, m.student_id)]})
        subjects = store.subject_names(session, subject_ids={m.subject_id for _, m, _ in marks if not m.subject_name})
        batches = []
        for env, mark, school_id in marks:
            student = known.get(mark.student_id)
            drafts = domain.mark_notifications(
                mark, parents[(school_id, mark.student_id)], student_name=student.full_name if student else None,
                subject_name=mark.subject_name or subjects.get(mark.subject_id))
            batches.append((school_id, env["id"], drafts))
        notify_many(session, batches, known=known)

    @on(events.ATTENDANCE_RECORDED)
    @handled("on_attendance_recorded")
    def on_attendance_recorded(self, session, envelope):
        """Notify the parents of each student marked absent or late."""
        att = events.parse_attendance_recorded(envelope)
        school_id = payloads.school_id(envelope)
        missing = [e.student_id for e in att.entries if e.status not in domain.PRESENT_STATUSES]
        if not missing:
            return
        parents = store.parents_of_students(session, school_id=school_id, student_ids=missing)
        names = {p.user_id: p.full_name for p in store.people(session, school_id=school_id, ids=missing).values()}
        subject = att.subject_name or store.subject_name(session, subject_id=att.subject_id)
        att = dataclasses.replace(att, subject_name=subject)
        drafts = domain.absence_notifications(att, parents, names)
        notify(session, school_id=school_id, source_event_id=envelope["id"], drafts=drafts)

    @on(events.LESSON_RECORDED)
    @handled("on_lesson_recorded")
    def on_lesson_recorded(self, session, envelope):
        """New homework: notify the parents of the class's students, or of the
        subgroup's students for a subgroup's lesson (R-S5). A late or overdue
        entry (R-J5): notify the deputies, directors and the class teacher."""
        lesson = events.parse_lesson_recorded(envelope)
        if lesson.imported:
            # Transcribed from the paper journal (POST /imports/lessons): its
            # homework is long done and its lateness was the paper's; telling
            # families and staff now would only be noise.
            return
        school_id = payloads.school_id(envelope)
        subject = lesson.subject_name or store.subject_name(session, subject_id=lesson.subject_id)
        drafts = []
        if (lesson.homework or "").strip():
            if lesson.subgroup_id:
                # R-S5: a subgroup's lesson is its students' only. A subgroup
                # messaging has not heard of notifies nobody: better no message
                # than one to families whose children were not in the lesson.
                students = store.subgroup_students(session, school_id=school_id,
                                                   subgroup_id=lesson.subgroup_id) or []
                if not students:
                    log.warning("homework of lesson %s: subgroup %s unknown, no family notified",
                                lesson.lesson_id, lesson.subgroup_id)
            else:
                students = store.students_of_class(session, school_id=school_id, class_id=lesson.class_id)
            by_student = store.parents_of_students(session, school_id=school_id, student_ids=students)
            parents = [p for ps in by_student.values() for p in ps]
            drafts += domain.homework_notifications(lesson, parents, subject_name=subject)
        if lesson.late or lesson.overdue:
            klass, staff = _late_entry_staff(session, school_id, lesson.class_id)
            drafts += domain.late_entry_notifications(lesson, staff, subject_name=subject,
                                                      class_name=klass.name if klass else None)
        if drafts:
            notify(session, school_id=school_id, source_event_id=envelope["id"], drafts=drafts)

    @on(events.BACKUP_DRILL_FAILED)
    @handled("on_backup_drill_failed")
    def on_backup_drill_failed(self, session, envelope):
        """A backup failed its restore drill (R-D2): notify the administrators
        (of the requesting school; of every school for a scheduled backup)."""
        drill = events.parse_backup_drill_failed(envelope)
        admins = store.people_with_role(session, role=domain.ADMIN_ROLE, school_id=envelope.get("school_id"))
        batches = [(school_id, envelope["id"], domain.backup_drill_notifications(drill, ids))
                   for school_id, ids in _by_school(admins).items() if school_id]
        if batches:
            notify_many(session, batches)
        else:
            log.warning("backup %s failed its restore drill and messaging knows no administrator to tell",
                        drill.backup_id)

    @on(events.FINAL_MARK_POSTED)
    @handled("on_final_mark_posted")
    def on_final_mark_posted(self, session, envelope):
        """A final mark entered late (R-F3): notify the deputies, directors
        and the class teacher. Families are not notified of final marks here."""
        final = events.parse_final_mark_posted(envelope)
        if not final.late:
            return
        school_id = payloads.school_id(envelope)
        klass, staff = _late_entry_staff(session, school_id, final.class_id)
        student = store.people(session, school_id=school_id, ids=[final.student_id]).get(final.student_id)
        drafts = domain.late_final_mark_notifications(
            final, staff, subject_name=store.subject_name(session, subject_id=final.subject_id),
            class_name=klass.name if klass else None, student_name=student.full_name if student else None)
        if drafts:
            notify(session, school_id=school_id, source_event_id=envelope["id"], drafts=drafts)

    @service_rpc
    def get_notification_settings(self, ctx):
        """``{email, digest_time}`` of the caller."""
        setting = store.get_setting(self.db.session, user_id=CallContext.from_rpc(ctx).actor_id)
        return _settings_view(setting)

    @service_rpc
    def set_notification_settings(self, ctx, data):
        """``{email: off|instant|daily, digest_time?: "HH:MM"}`` (school time)."""
        who = CallContext.from_rpc(ctx)
        actor_id, school_id = who.actor_id, who.school_id
        mode, digest_time = domain.check_settings(data)
        with self.db.transaction() as session:
            current = store.get_setting(session, user_id=actor_id)
            digest_time = digest_time or (current.digest_time if current else domain.DEFAULT_DIGEST_TIME)
            setting = store.save_setting(session, school_id=school_id, user_id=actor_id, email_mode=mode,
                                         digest_time=digest_time)
            view = _settings_view(setting)
        wake()  # a digest time already passed today is due now
        return view


def _by_school(people) -> dict:
    grouped: dict = {}
    for person in people:
        grouped.setdefault(person.school_id, []).append(person.user_id)
    return grouped


def _late_entry_staff(session, school_id: str, class_id: str):
    """``(class, staff)`` told of a late entry (R-J5, R-F3): the school's
    deputies and directors and the class teacher."""
    klass = store.get_class(session, school_id=school_id, class_id=class_id)
    staff = [p.user_id for p in store.school_people(session, school_id=school_id)
             if domain.LATE_ENTRY_ROLES & set(p.roles or ())]
    if klass is not None and klass.class_teacher_id:
        staff.append(klass.class_teacher_id)
    return klass, staff


def _settings_view(setting) -> dict:
    if setting is None:
        return {"email": domain.DEFAULT_EMAIL_MODE, "digest_time": domain.DEFAULT_DIGEST_TIME}
    return {"email": setting.email_mode, "digest_time": setting.digest_time}
