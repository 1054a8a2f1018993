"""Who may write to whom (R-M1 after R-A3) and who sees which news (R-M4).

Pure functions over facts the service projects from identity and journal
events; the service gathers the facts, these decide.
"""
from __future__ import annotations

STAFF = frozenset({"admin", "director", "deputy", "class_teacher", "teacher", "secretary", "news_editor",
                   "scheduler"})
# "The administration" a parent may always write to.
ADMINISTRATION = frozenset({"admin", "director", "deputy", "secretary"})
# Who sees class and parents-of-class news of every class.
SCHOOL_WIDE_READERS = frozenset({"admin", "director", "deputy"})
# Who may post what (R-M4): the news editor edits news; the secretary,
# director and deputy post announcements.
POSTERS = {"news": frozenset({"news_editor", "director", "deputy"}),
           "announcement": frozenset({"secretary", "director", "deputy"})}
CLASS_PARENT_WRITERS = frozenset({"admin", "director", "deputy"})

AUDIENCES = ("school", "class", "parents", "staff")


def is_staff(roles) -> bool:
    return bool(STAFF & set(roles or ()))


def may_write(*, sender_id: str, sender_roles, recipient_id: str, recipient_roles, related_teachers,
              reply_to_sender: str | None = None) -> bool:
    """Whether ``sender`` may write to ``recipient``.

    ``recipient_roles`` is None when the recipient is not a person of the
    sender's school (unknown ids are refused like forbidden ones, so ids
    of other schools cannot be probed). ``related_teachers`` are the
    subject teachers and class teachers of the sender's children (parent)
    or of the sender's own classes (student). Answering the author of a
    letter one received is always allowed: a teacher of another class who
    wrote to a parent can be answered.
    """
    if recipient_roles is None or recipient_id == sender_id:
        return False
    if reply_to_sender is not None and recipient_id == reply_to_sender:
        return True
    roles = set(sender_roles or ())
    if roles & STAFF:
        return True  # staff write to anyone in their school
    if "parent" in roles:
        if recipient_id in related_teachers or ADMINISTRATION & set(recipient_roles):
            return True
    if "student" in roles and recipient_id in related_teachers:
        return True
    return False


def may_write_to_class_parents(*, sender_id: str, sender_roles, class_teacher_id: str | None) -> bool:
    """The class teacher (R-M3) and the administration write to all parents of a class at once."""
    return sender_id == class_teacher_id or bool(CLASS_PARENT_WRITERS & set(sender_roles or ()))


def may_post(kind: str, roles) -> bool:
    return bool(POSTERS.get(kind, frozenset()) & set(roles or ()))


def default_kind(roles) -> str:
    """An item without ``kind`` is news from the news editor, otherwise an announcement."""
    return "news" if "news_editor" in set(roles or ()) else "announcement"


def news_visible(*, user_id: str, roles, audience: str, class_id: str | None, author_id: str,
                 my_classes, my_children_classes, taught_classes) -> bool:
    """Whether a news item is addressed to the user. ``Service.list_news``
    applies the same rule as one SQL condition; keep the two together."""
    roles = set(roles or ())
    if author_id == user_id or audience == "school":
        return True
    if audience == "staff":
        return bool(roles & STAFF)
    wide = bool(roles & SCHOOL_WIDE_READERS) or class_id in taught_classes
    if audience == "class":
        return wide or class_id in my_classes or class_id in my_children_classes
    if audience == "parents":
        return wide or class_id in my_children_classes
    return False
