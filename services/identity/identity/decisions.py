"""The access decision (docs/contracts.md "Access decisions"), pure Python:
who may do what to which resource, given the facts the store knows about
the resource and its relation to the caller (:func:`decide`). Called by the
gRPC Authorize, the ``authorize`` RPC and the entrypoints that check before
they read; unit-tested with plain values."""
from __future__ import annotations

from dataclasses import dataclass

from kernel import access_rules

from identity.domain import ADMINISTRATION, FAMILY_MANAGERS, ROLES, STAFF_ROLES, USER_READERS, is_staff


@dataclass(frozen=True)
class Subject:
    """Who asks (from the verified token)."""
    user_id: str
    school_id: str
    roles: frozenset

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


@dataclass(frozen=True)
class Resource:
    type: str  # "student" | "class" | "user" | "lesson" | "mark" | "year" | "message"
    id: str


@dataclass(frozen=True)
class Facts:
    """What the store knows about the resource and its relation to the subject."""
    exists: bool = False
    known: bool = True                         # False: a journal resource identity has not heard of yet
    school_id: str | None = None              # the resource's school
    roles: frozenset = frozenset()             # the resource user's roles
    parent_of: bool = False                    # subject is a linked parent of the resource student
    consent_given: bool = False                # the subject's latest consent record says yes
    class_ids: frozenset = frozenset()         # the resource's classes (a class: itself; a student: theirs;
                                               # a parent: their children's; a lesson or mark: its class)
    class_teacher_of: frozenset = frozenset()  # classes whose class teacher the subject is
    teaches: frozenset = frozenset()           # classes the subject has a teaching assignment in
    created_by_subject: bool = False           # the subject created this user (R-A2: issued their login)
    assignments: frozenset = frozenset()       # (subject_id, subgroup_id) the subject teaches in the class
    family_classes: frozenset = frozenset()    # the subject's own class, their children's (consent given)
    item_subject_id: str | None = None         # a lesson's or mark's school subject
    item_subgroup_id: str | None = None        # a lesson's (or a mark's lesson's) subgroup
    lesson_teacher_id: str | None = None       # who gave the lesson (or the mark's lesson), a substitute too
    lesson_substitute_for: str | None = None   # ... replacing whom, when it was a substitution (R-J6)
    replaced_assignments: frozenset = frozenset()  # a new lesson's substitution: (subject_id, subgroup_id) the
                                               # replaced teacher (context ``substitute_for``) teaches in the class
    participant: bool = False                  # a letter: the subject sent it or is one of its recipients


@dataclass(frozen=True)
class Decision:
    allowed: bool
    denial: str = ""  # "not_found" (404: not yours) | "forbidden" (403)
    reason: str = ""


def _allow(reason: str) -> Decision:
    return Decision(True, "", reason)


def _not_found(reason: str) -> Decision:
    return Decision(False, "not_found", reason)


def _forbidden(reason: str) -> Decision:
    return Decision(False, "forbidden", reason)


@dataclass(frozen=True)
class Rule:
    """One action of the school's access policy (tests/access_policy.md).

    ``roles``: who may ever do it (None: anyone). ``role_first``: a subject
    without such a role hears 403 before the resource is even looked up;
    otherwise the school boundary comes first (another school's resource is
    404 to everyone) and a role outside ``roles`` hears ``outsider``.
    ``relation(subject, facts, context)``: for the allowed roles, the
    relationship the resource must have with the subject (None: allowed)."""
    resource: str
    roles: frozenset | None
    role_first: bool
    outsider: str = "forbidden"
    relation: object = None
    foreign: str = "not_found"  # the answer for another school's resource
    missing: str = "not_found"  # ... for no such resource ("deferred": its owner answers)


ADMIN = "admin"
JOURNAL_READERS = frozenset(("admin", "director", "deputy", "class_teacher", "teacher"))


def _assigned(assignments: frozenset, school_subject: str | None) -> list:
    """The subgroups (None: the whole class) of the assignments in the
    resource's class for that school subject (any subject when None)."""
    return [group for subj, group in assignments if school_subject is None or subj == school_subject]


def _covers(facts: Facts, school_subject: str | None) -> bool:
    """The subject holds any assignment in the resource's class for that
    school subject (any when None), whatever its subgroup."""
    return bool(_assigned(facts.assignments, school_subject))


def _class_teacher(facts: Facts) -> bool:
    return bool(facts.class_ids & facts.class_teacher_of)


def _refused(reason: str | None):
    """A refusal of :mod:`kernel.access_rules` as a 403 decision (None: allowed)."""
    return None if reason is None else _forbidden(reason)


# The journal's write rules are kernel.access_rules: the journal enforces
# the very same functions with the facts of its own tables.

def _enrols(subject: Subject, facts: Facts, context: dict):
    """Admission and the student import: admin any class, the class teacher their own."""
    return _refused(access_rules.enrols(subject.roles, class_teacher=_class_teacher(facts)))


def _keeps_journal(subject: Subject, facts: Facts, context: dict):
    """Lessons, marks, attendance (R-A3, R-J6): :func:`kernel.access_rules.keeps_journal`.
    A lesson resource brings its subject and subgroup; a new lesson (class
    resource) names them in ``context``, with ``substitute_for`` when it is
    recorded as a substitution."""
    lesson = facts.item_subject_id is not None
    school_subject = facts.item_subject_id if lesson else context.get("subject_id")
    subgroup = facts.item_subgroup_id if lesson else context.get("subgroup_id")
    replaced = None
    if not lesson and context.get("substitute_for"):
        replaced = _assigned(facts.replaced_assignments, school_subject)
    return _refused(access_rules.keeps_journal(
        subject.roles, class_teacher=_class_teacher(facts), assigned=_assigned(facts.assignments, school_subject),
        subgroup_id=subgroup, gave_lesson=lesson and facts.lesson_teacher_id == subject.user_id,
        replaced=replaced))


def _corrects_mark(subject: Subject, facts: Facts, context: dict):
    """R-J7: :func:`kernel.access_rules.corrects_mark`."""
    return _refused(access_rules.corrects_mark(
        subject.roles, assigned=_assigned(facts.assignments, facts.item_subject_id),
        subgroup_id=facts.item_subgroup_id,
        substituted=facts.lesson_substitute_for is not None and facts.lesson_teacher_id == subject.user_id))


def _posts_final(subject: Subject, facts: Facts, context: dict):
    """R-F1: :func:`kernel.access_rules.posts_final` (the student's class)."""
    return _refused(access_rules.posts_final(
        subject.roles, assigned=_assigned(facts.assignments, context.get("subject_id"))))


def _enters_plan(subject: Subject, facts: Facts, context: dict):
    """R-J8: :func:`kernel.access_rules.enters_plan`."""
    return _refused(access_rules.enters_plan(
        subject.roles, assigned=_assigned(facts.assignments, context.get("subject_id"))))


def _reads_journal(subject: Subject, facts: Facts, context: dict):
    """The class journal page: the administration, the class teacher, the
    teacher of that subject in the class; anyone else is told nothing."""
    if subject.has(*ADMINISTRATION) or _class_teacher(facts):
        return None
    if _covers(facts, context.get("subject_id")):
        return None
    return _not_found("not_related")


def _reads_lesson(subject: Subject, facts: Facts, context: dict):
    """One lesson with its marks and attendance: who reads its class's
    journal (any subject), and whoever gave the lesson (R-J6)."""
    if facts.lesson_teacher_id is not None and facts.lesson_teacher_id == subject.user_id:
        return None
    return _reads_journal(subject, facts, {})


def _reads_timetable(subject: Subject, facts: Facts, context: dict):
    """R-A3: staff see every class's timetable; a student their own class's,
    a parent their children's."""
    if is_staff(subject.roles):
        return None
    if facts.class_ids & facts.family_classes:
        return None
    return _not_found("not_related")


def _manages_family(subject: Subject, facts: Facts, context: dict):
    """R-A2: admin every family of the school; a class teacher those they
    issued logins to and those of their own classes."""
    if subject.has(ADMIN) or facts.created_by_subject or _class_teacher(facts):
        return None
    return _not_found("not_related")


def _keeps_subgroups(subject: Subject, facts: Facts, context: dict):
    """Subgroups (R-S5): :func:`kernel.access_rules.splits_class`."""
    return _refused(access_rules.splits_class(subject.roles, class_teacher=_class_teacher(facts)))


def _takes_part(subject: Subject, facts: Facts, context: dict):
    """A letter (R-M1): its sender and its recipients; to anyone else of the
    school it does not exist."""
    if facts.participant:
        return None
    return _not_found("not_participant")


POLICY = {
    # people (identity)
    "student.link_parent": Rule("student", frozenset(FAMILY_MANAGERS), True, relation=_manages_family),
    "parent.consent": Rule("user", frozenset(FAMILY_MANAGERS), True, relation=_manages_family),
    "user.roles": Rule("user", frozenset((ADMIN,)), True),
    "user.unlock": Rule("user", frozenset((ADMIN,)), True),
    "user.password_reset": Rule("user", frozenset((ADMIN,)), True),
    # school structure (journal)
    "class.enrol": Rule("class", access_rules.ENROLLERS, False, relation=_enrols),
    "class.import": Rule("class", access_rules.ENROLLERS, False, relation=_enrols),
    "class.assign": Rule("class", frozenset((ADMIN, "deputy")), True),
    "class.subgroups": Rule("class", access_rules.CLASS_SPLITTERS, False, relation=_keeps_subgroups),
    "class.plan": Rule("class", access_rules.PLAN_WRITERS, False, relation=_enters_plan),
    "plan.coverage": Rule("class", JOURNAL_READERS, True),
    "timetable.read": Rule("class", frozenset(ROLES) - {"news_editor"}, True, relation=_reads_timetable),
    "timetable.write": Rule("class", frozenset((ADMIN, "scheduler")), True),
    "class.journal.read": Rule("class", JOURNAL_READERS, False, outsider="not_found", relation=_reads_journal),
    "student.movements": Rule("student", JOURNAL_READERS | {"secretary"}, True),
    "lesson.read": Rule("lesson", JOURNAL_READERS, False, outsider="not_found", relation=_reads_lesson),
    "attendance.history": Rule("student", ADMINISTRATION, True),  # R-J7
    "student.move": Rule("student", frozenset((ADMIN,)), True),
    "year.close": Rule("year", frozenset((ADMIN,)), True),
    # the journal itself
    "lesson.write": Rule("class", access_rules.JOURNAL_KEEPERS, False, relation=_keeps_journal),
    "lesson.marks": Rule("lesson", access_rules.JOURNAL_KEEPERS, False, relation=_keeps_journal),
    "lesson.attendance": Rule("lesson", access_rules.JOURNAL_KEEPERS, False, relation=_keeps_journal),
    "mark.correct": Rule("mark", access_rules.MARK_CORRECTORS, False, relation=_corrects_mark),
    "mark.remove": Rule("mark", access_rules.MARK_CORRECTORS, False, relation=_corrects_mark),
    "mark.history": Rule("mark", STAFF_ROLES, True),
    "final.write": Rule("student", access_rules.FINAL_WRITERS, False, relation=_posts_final),
    # messaging: a letter goes to someone of the writer's own school (who to whom is messaging's rule)
    "message.send": Rule("user", None, False, foreign="forbidden", missing="deferred"),
    # a letter and its attachments; one identity has not seen yet (message_sent on the way) is messaging's
    "message.read": Rule("message", None, False, relation=_takes_part, missing="deferred"),
}
# Actions decided by their own functions below (docs/contracts.md "Access decisions").
ACTION_RESOURCE = {"diary.read": "student", "report.read": "class", "user.read": "user"}


def decide(subject: Subject, action: str, resource: Resource, facts: Facts, context: dict | None = None
           ) -> Decision:
    """May ``subject`` do ``action`` on ``resource``? The "Access decisions"
    table of docs/contracts.md (R-A3) and :data:`POLICY`. Unknown actions
    are refused. A journal resource identity has not heard of yet (its
    event is on the way) is left to the journal: ``allowed`` with reason
    ``deferred``, never cached by the gateway."""
    context = context or {}
    rule = POLICY.get(action)
    if rule is not None:
        return _decide_rule(subject, rule, resource, facts, context)
    expected = ACTION_RESOURCE.get(action)
    if expected is None:
        return Decision(False, "forbidden", "unknown_action")
    if resource.type != expected:
        return Decision(False, "forbidden", "wrong_resource_type")
    if not facts.exists:
        return _not_found("no_such_resource")
    # Another school's data does not exist for this subject, whoever they are.
    if not subject.school_id or facts.school_id != subject.school_id:
        return _not_found("other_school")
    if action == "diary.read":
        return _decide_diary(subject, resource, facts)
    if action == "report.read":
        return _decide_report(subject, resource, facts)
    return _decide_user(subject, resource, facts)


def _decide_rule(subject: Subject, rule: Rule, resource: Resource, facts: Facts, context: dict) -> Decision:
    if resource.type != rule.resource:
        return _forbidden("wrong_resource_type")
    has_role = rule.roles is None or subject.has(*rule.roles)
    if rule.role_first and not has_role:
        return _forbidden("role")
    if not facts.known:
        return _allow("deferred")
    if not facts.exists:
        if rule.missing == "deferred":
            return _allow("deferred")
        return Decision(False, rule.missing, "no_such_resource")
    if rule.resource == "student" and "student" not in facts.roles:
        return Decision(False, rule.missing, "not_a_student")
    # Another school's data does not exist for this subject, whoever they are.
    if not subject.school_id or facts.school_id != subject.school_id:
        return Decision(False, rule.foreign, "other_school")
    if not has_role:
        return Decision(False, rule.outsider, "role")
    if rule.relation is not None:
        denied = rule.relation(subject, facts, context)
        if denied is not None:
            return denied
    return _allow("policy")


def _decide_diary(subject: Subject, resource: Resource, facts: Facts) -> Decision:
    if "student" not in facts.roles:
        return _not_found("not_a_student")
    if subject.user_id == resource.id:
        return _allow("self")
    if subject.has("parent") and facts.parent_of:
        if facts.consent_given:
            return _allow("parent")
        return _not_found("no_consent")
    if is_staff(subject.roles):
        return _allow("staff")
    return _not_found("not_related")


def _decide_report(subject: Subject, resource: Resource, facts: Facts) -> Decision:
    if subject.has(*ADMINISTRATION):
        return _allow("administration")
    if resource.id in facts.class_teacher_of:
        return _allow("class_teacher")
    if resource.id in facts.teaches:
        return _allow("assigned_teacher")
    # Families know reports exist (403); other staff must not probe classes (404).
    if subject.has("parent", "student") and not is_staff(subject.roles):
        return Decision(False, "forbidden", "family")
    return _not_found("not_related")


def _decide_user(subject: Subject, resource: Resource, facts: Facts) -> Decision:
    if subject.user_id == resource.id:
        return _allow("self")
    if subject.has(*USER_READERS):
        return _allow("administration")
    if facts.class_ids & facts.class_teacher_of:
        return _allow("class_teacher")
    if facts.created_by_subject and is_staff(subject.roles):
        # A class teacher issues a student's login before enrolling them (R-A2).
        return _allow("issuer")
    return _not_found("not_related")


# --- lists ------------------------------------------------------------------------------------
# ``GET /users`` is about no single resource: who may list whom is decided here.
USER_LISTERS = frozenset(FAMILY_MANAGERS)


def user_list_scope(subject: Subject) -> str | None:
    """Whose users ``subject`` may list (R-A2, R-A3): ``"school"`` (the
    admin: every user of the school), ``"families"`` (a class teacher: the
    students of the classes they lead and those students' parents), or
    None (403: no one)."""
    if subject.has(ADMIN):
        return "school"
    if subject.has("class_teacher"):
        return "families"
    return None
