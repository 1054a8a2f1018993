"""Persistence of messaging: the models (:mod:`.models`) and one query module
per concern: :mod:`.projections` (projections of other services' facts and the
relations read from them), :mod:`.notifications` (notifications, settings,
the e-mail queue), :mod:`.mail` (letters), :mod:`.news` and :mod:`.recipients`
(the people one may write to, a page at a time). Queries are
functions with keyword-only arguments that take the session; every public
name is importable from ``messaging.store``."""
from __future__ import annotations

from messaging.store.models import (  # noqa: F401
    NAMING, TZ, Base, tables, Person, ParentLink, Subject, SchoolClass, Enrolment, SubgroupMember,
    Notification, TeacherAssignment, Message, MessageRecipient, Attachment, NewsItem, NotificationSetting,
    Email,
)
from messaging.store.projections import (  # noqa: F401
    save_user_created, save_roles, get_person, save_parent_link, parent_ids, save_subject, subject_name,
    subject_names, save_class, save_enrolment, end_enrolment, save_subgroup, subgroup_students,
    save_assignment, people, Contact, contacts, children_of, classes_of, teachers_of_classes, get_class,
    students_of_class, parents_of_students, parents_by_student, school_people, people_with_role, classes_taught_by,
)
from messaging.store.notifications import (  # noqa: F401
    add_notifications, add_notifications_with_ids, insert_notifications, list_notifications, mark_read,
    get_setting, save_setting, queue_email, queue_instant_emails, due_emails, queue_stats,
    digest_candidates, digest_items,
)
from messaging.store.mail import (  # noqa: F401
    add_message, get_message, recipients_of, attachments_of, get_attachment, mark_message_read, inbox,
    sent, is_participant, thread_of,
)
from messaging.store.news import add_news, get_news, list_news  # noqa: F401
from messaging.store.recipients import people_after, classes_of_people  # noqa: F401
