"""Projections of the journal's and messaging's facts that access decisions
need (classes, enrolments, assignments, lessons, marks, letters); idempotent
through ``handles`` or, for marks, through the insert itself."""
from __future__ import annotations

from kernel import payloads
from kernel.batching import handles_batch, on_event_batch
from kernel.nameko import handles, on_event

from identity import events, store
from identity.entrypoints import PROCESSED, journal_handler


class Projections:
    @journal_handler(events.CLASS_CREATED)
    @handles("identity.class_created", PROCESSED)
    def on_class_created(self, session, envelope):
        payload = envelope["payload"]
        (class_id,) = payloads.texts(payload, "class_id")
        store.upsert_class(session, class_id=class_id, school_id=payloads.school_id(envelope),
                           teacher_id=payloads.text(payload, "class_teacher_id", required=False),
                           name=payloads.text(payload, "name", required=False),
                           year_id=payloads.text(payload, "year_id", required=False))

    @journal_handler(events.STUDENT_ENROLLED)
    @handles("identity.student_enrolled", PROCESSED)
    def on_student_enrolled(self, session, envelope):
        payload = envelope["payload"]
        student_id, class_id = payloads.texts(payload, "student_id", "class_id")
        store.upsert_student_class(session, student_id=student_id, school_id=payloads.school_id(envelope),
                                   class_id=class_id, since=payloads.date(payload, "on", required=False))

    @journal_handler(events.TEACHER_ASSIGNED)
    @handles("identity.teacher_assigned", PROCESSED)
    def on_teacher_assigned(self, session, envelope):
        payload = envelope["payload"]
        assignment_id, teacher_id, class_id, subject_id = payloads.texts(
            payload, "assignment_id", "teacher_id", "class_id", "subject_id")
        store.upsert_assignment(session, assignment_id=assignment_id, school_id=payloads.school_id(envelope),
                                teacher_id=teacher_id, class_id=class_id, subject_id=subject_id,
                                subgroup_id=payloads.text(payload, "subgroup_id", required=False))

    @journal_handler(events.YEAR_OPENED)
    @handles("identity.year_opened", PROCESSED)
    def on_year_opened(self, session, envelope):
        (year_id,) = payloads.texts(envelope["payload"], "year_id")
        store.upsert_year(session, year_id=year_id, school_id=payloads.school_id(envelope))

    @journal_handler(events.LESSON_RECORDED)
    @handles("identity.lesson_recorded", PROCESSED)
    def on_lesson_recorded(self, session, envelope):
        """teacher -> lesson, substitute -> lesson (``teacher_id`` gave it,
        for ``substitute_for`` when set)."""
        payload = envelope["payload"]
        lesson_id, class_id, subject_id = payloads.texts(payload, "lesson_id", "class_id", "subject_id")
        store.upsert_lesson(session, lesson_id=lesson_id, school_id=payloads.school_id(envelope), class_id=class_id,
                            subject_id=subject_id, teacher_id=payloads.text(payload, "teacher_id", required=False),
                            subgroup_id=payloads.text(payload, "subgroup_id", required=False),
                            substitute_for=payloads.text(payload, "substitute_for", required=False))

    # A class's 30 marks come as 30 events: they are kept in batches
    # (kernel.batching), one insert per batch. The insert keeps the first
    # row of a mark, so a redelivery changes nothing and no processed-event
    # row is needed; a malformed event fails its batch, which is then
    # retried one event at a time and only that event is dead-lettered.
    @on_event_batch(events.JOURNAL, events.MARK_POSTED, max_batch=200, max_wait=0.05, concurrency=2)
    @handles_batch("identity.mark_posted", None)
    def on_mark_posted(self, session, envelopes):
        rows = []
        for envelope in envelopes:
            payload = envelope["payload"]
            mark_id, class_id = payloads.texts(payload, "mark_id", "class_id")
            rows.append({"mark_id": mark_id, "school_id": payloads.school_id(envelope), "class_id": class_id,
                         "lesson_id": payloads.text(payload, "lesson_id", required=False),
                         "subject_id": payloads.text(payload, "subject_id", required=False),
                         "student_id": payloads.text(payload, "student_id", required=False),
                         "teacher_id": payloads.text(payload, "teacher_id", required=False)})
        store.add_mark_refs(session, rows)

    @journal_handler(events.STUDENT_TRANSFERRED)
    @handles("identity.student_transferred", PROCESSED)
    def on_student_transferred(self, session, envelope):
        """The student's class follows the transfer (the ``student_enrolled``
        that comes with it says the same; either may arrive first)."""
        payload = envelope["payload"]
        student_id, to_class = payloads.texts(payload, "student_id", "to_class_id")
        store.upsert_student_class(session, student_id=student_id, school_id=payloads.school_id(envelope),
                                   class_id=to_class, since=payloads.date(payload, "on", required=False))

    @journal_handler(events.STUDENT_LEFT)
    @handles("identity.student_left", PROCESSED)
    def on_student_left(self, session, envelope):
        """A student who left (or graduated) is nobody's class member any
        more: the class teacher and the teachers lose the relationship."""
        payload = envelope["payload"]
        student_id, class_id = payloads.texts(payload, "student_id", "class_id")
        store.end_student_class(session, student_id=student_id, class_id=class_id,
                                on=payloads.date(payload, "on", required=False))

    @on_event(events.MESSAGING, events.MESSAGE_SENT)
    @handles("identity.message_sent", PROCESSED)
    def on_message_sent(self, session, envelope):
        """sender and recipients -> letter, for ``message.read``."""
        message_id, sender_id, recipients = events.letter(envelope["payload"])
        store.add_letter(session, message_id=message_id, school_id=payloads.school_id(envelope),
                         sender_id=sender_id, recipient_ids=recipients)
