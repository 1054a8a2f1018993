"""The identity rules as pure functions: roles and who may grant them, login
and password policy, input validation and the access decision
(docs/contracts.md "Access decisions"). No I/O: everything here is called
with plain values and unit-tested without a broker or a database.
"""
from __future__ import annotations

import datetime as dt
import functools
import pathlib
import re
import secrets
from dataclasses import dataclass

from identity.errors import Forbidden, ValidationError, invalid, text
from kernel import access_rules
from kernel.context import CallContext

# R-A1. Order matters only for display.
ROLES = ("admin", "director", "deputy", "class_teacher", "teacher", "secretary",
         "news_editor", "scheduler", "student", "parent")
STAFF_ROLES = frozenset(("admin", "director", "deputy", "class_teacher", "teacher", "secretary",
                         "news_editor", "scheduler"))
FAMILY_ROLES = frozenset(("student", "parent"))
# Who sees the whole school (R-A3) in report.read.
ADMINISTRATION = frozenset(("admin", "director", "deputy"))
# Who may read any user card of their school (user.read).
USER_READERS = frozenset(("admin", "director", "deputy", "secretary"))
# R-A2: staff credentials come from the administrator, family ones from the class teacher.
FAMILY_MANAGERS = frozenset(("admin", "class_teacher"))

LOGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
STAFF_PASSWORD_MIN = 12
FAMILY_PASSWORD_MIN = 8
PASSWORD_MAX = 128
# No 0/O/o, 1/l/I: generated passwords are read off paper by children and parents.
PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
GENERATED_PASSWORD_LENGTH = 14
# Stored as "male"/"female"; the Russian forms class teachers type are accepted too.
SEXES = {"male": "male", "female": "female", "m": "male", "f": "female", "м": "male", "ж": "female",
         "муж": "male", "жен": "female", "мужской": "male", "женский": "female"}
MAX_FULL_NAME = 200
MAX_RELATION = 40
NEW_USER_FIELDS = frozenset(("login", "full_name", "roles", "email", "birth_date", "sex", "password"))


# --- plain values --------------------------------------------------------------

def require_str(value, name: str, *, max_len: int = 200, optional: bool = False) -> str | None:
    """A stripped non-empty string of at most ``max_len`` characters (None when optional and absent)."""
    if value is None or (optional and value == ""):
        if optional:
            return None
        raise invalid("field_required", name)
    if not isinstance(value, str):
        raise invalid("field_type", name)
    value = value.strip()
    if not value:
        if optional:
            return None
        raise invalid("field_required", name)
    if len(value) > max_len:
        raise invalid("field_too_long", name)
    return value


def parse_date(value, name: str, *, today: dt.date | None = None, optional: bool = False) -> dt.date | None:
    """A ``YYYY-MM-DD`` date; not after ``today`` when ``today`` is given."""
    if value is None or value == "":
        if optional:
            return None
        raise invalid("field_required", name)
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise invalid("date_format", name)
    try:
        parsed = dt.date.fromisoformat(value)
    except ValueError:
        raise invalid("date_format", name) from None
    if parsed.year < 1900:
        raise invalid("date_too_old", name)
    # One day of slack: the school's "today" may be ahead of UTC.
    if today is not None and parsed > today + dt.timedelta(days=1):
        raise invalid("date_future", name)
    return parsed


def require_bool(value, name: str) -> bool:
    """Strictly a JSON boolean (``"false"`` or ``0`` are refused, not guessed)."""
    if not isinstance(value, bool):
        raise invalid("field_type", name)
    return value


# --- roles ---------------------------------------------------------------------

def validate_roles(roles) -> tuple:
    """At least one role, all known (R-A1); duplicates dropped, order kept."""
    if not isinstance(roles, (list, tuple)):
        raise invalid("field_type", "roles")
    if not all(isinstance(r, str) for r in roles):
        raise invalid("field_type", "roles")
    cleaned = tuple(dict.fromkeys(r.strip() for r in roles))
    if not cleaned:
        raise ValidationError(text("roles_empty"), details={"field": "roles"})
    unknown = [r for r in cleaned if r not in ROLES]
    if unknown:
        raise ValidationError(text("roles_unknown", roles=", ".join(unknown)),
                              details={"field": "roles", "unknown": unknown})
    return cleaned


def may_create(actor_roles, new_roles) -> bool:
    """R-A2/R-A5: admin creates any roles; a class teacher only students and parents."""
    actor_roles = set(actor_roles)
    if "admin" in actor_roles:
        return True
    if "class_teacher" in actor_roles:
        return set(new_roles) <= FAMILY_ROLES
    return False


def check_may_create(actor_roles, new_roles) -> None:
    """Raise FORBIDDEN unless :func:`may_create`."""
    if not may_create(actor_roles, new_roles):
        raise Forbidden(text("forbidden_create_roles", roles=", ".join(new_roles)),
                        details={"roles": list(new_roles)})


def may_manage_family(actor_roles) -> bool:
    """Who links parents and records consent (contracts: admin, class_teacher)."""
    return bool(FAMILY_MANAGERS & set(actor_roles))


def is_staff(roles) -> bool:
    return bool(STAFF_ROLES & set(roles))


def needs_consent(roles) -> bool:
    """R-A4: a parent gets no electronic access without consent. A parent who is
    also on the school's staff logs in as staff: their work access does not
    depend on their consent as a parent."""
    return "parent" in roles and not is_staff(roles)


# --- logins and passwords ------------------------------------------------------

def login_key(login: str) -> str:
    """The case-insensitive form logins are unique and looked up by."""
    return login.strip().casefold()


def validate_login(login) -> str:
    """3..64 Latin letters, digits, ``.``, ``_``, ``-``, starting with a letter or digit."""
    if login is None or login == "":
        raise invalid("field_required", "login")
    if not isinstance(login, str):
        raise invalid("field_type", "login")
    login = login.strip()
    if not LOGIN_RE.fullmatch(login):
        raise ValidationError(text("login_format"), details={"field": "login"})
    return login


def password_min_length(roles) -> int:
    """Staff passwords guard the whole school's records: longer minimum."""
    return STAFF_PASSWORD_MIN if is_staff(roles) else FAMILY_PASSWORD_MIN


def validate_password(password, *, roles, login: str | None = None) -> str:
    """The password policy: length by role, not blank, not the login."""
    if not isinstance(password, str):
        raise invalid("field_type", "password")
    minimum = password_min_length(roles)
    if len(password) < minimum:
        raise ValidationError(text("password_short", min=minimum), details={"field": "password", "min": minimum})
    if len(password) > PASSWORD_MAX:
        raise ValidationError(text("password_long", max=PASSWORD_MAX), details={"field": "password"})
    if not password.strip():
        raise ValidationError(text("password_blank"), details={"field": "password"})
    if login and password.casefold() == login.casefold():
        raise ValidationError(text("password_is_login"), details={"field": "password"})
    if is_common_password(password):
        raise ValidationError(text("password_common"), details={"field": "password"})
    return password


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset:
    """The list of passwords attackers try first (common_passwords.txt)."""
    path = pathlib.Path(__file__).with_name("common_passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def is_common_password(password: str) -> bool:
    """In the common list, or one character repeated (ASVS 2.1.7)."""
    folded = password.casefold()
    return folded in common_passwords() or len(set(folded)) <= 2


def generate_password(length: int = GENERATED_PASSWORD_LENGTH) -> str:
    """A random password from an alphabet without look-alike characters."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


# --- new users -----------------------------------------------------------------

@dataclass(frozen=True)
class NewUser:
    """A validated ``create_user`` request."""
    login: str
    full_name: str
    roles: tuple
    email: str | None
    birth_date: dt.date | None
    sex: str | None
    password: str | None  # None: generate one


def validate_email(value) -> str | None:
    email = require_str(value, "email", max_len=254, optional=True)
    if email is not None and not EMAIL_RE.fullmatch(email):
        raise ValidationError(text("email_format"), details={"field": "email"})
    return email


def validate_sex(value) -> str | None:
    sex = require_str(value, "sex", max_len=10, optional=True)
    if sex is None:
        return None
    normalized = SEXES.get(sex.casefold())
    if normalized is None:
        raise ValidationError(text("sex_value"), details={"field": "sex"})
    return normalized


def validate_new_user(data, *, today: dt.date) -> NewUser:
    """Check a ``create_user`` payload field by field (unknown fields are refused)."""
    if not isinstance(data, dict):
        raise invalid("field_type", "data")
    unknown = sorted(set(data) - NEW_USER_FIELDS)
    if unknown:
        raise ValidationError(text("field_unknown", field=unknown[0]), details={"field": unknown[0]})
    login = validate_login(data.get("login"))
    full_name = require_str(data.get("full_name"), "full_name", max_len=MAX_FULL_NAME)
    roles = validate_roles(data.get("roles"))
    password = data.get("password")
    if password is not None:
        password = validate_password(password, roles=roles, login=login)
    return NewUser(
        login=login, full_name=full_name, roles=roles,
        email=validate_email(data.get("email")),
        birth_date=parse_date(data.get("birth_date"), "birth_date", today=today, optional=True),
        sex=validate_sex(data.get("sex")),
        password=password,
    )


def validate_relation(value) -> str:
    """Free text ("мать", "отец", "опекун"...), short and required."""
    return require_str(value, "relation", max_len=MAX_RELATION)


# --- access decisions ----------------------------------------------------------

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


# --- roles changes (R-A5) -------------------------------------------------------

def check_may_set_roles(actor: CallContext, user_id: str) -> None:
    """R-A5: only the administrator grants roles, and never to themself (no
    one widens their own rights; it also keeps the last admin in place)."""
    if not actor.has("admin"):
        raise Forbidden()
    if actor.actor_id == user_id:
        raise Forbidden(text("forbidden_own_roles"), details={"user_id": user_id})


# --- login throttling (ASVS 2.2.1) ------------------------------------------------

THROTTLE_WINDOW = dt.timedelta(hours=1)
ACCOUNT_LIMIT = 100         # failures per account per hour, whatever the delay
FREE_FAILURES = 5           # failures before the delay starts
MAX_DELAY = 300.0           # seconds


@dataclass(frozen=True)
class Throttle:
    allowed: bool
    retry_after: int = 0
    reason: str = ""


def throttle(account_failures: int, last_failure: dt.datetime | None, address_failures: int,
             address_limit: int, now: dt.datetime) -> Throttle:
    """May a login be tried now? Failed attempts of the last hour: after
    ``FREE_FAILURES`` each next one waits twice as long (1 s, 2 s, 4 s...,
    at most ``MAX_DELAY``); ``ACCOUNT_LIMIT`` per account and
    ``address_limit`` per client address are hard caps for the hour."""
    if address_limit and address_failures >= address_limit:
        return Throttle(False, int(THROTTLE_WINDOW.total_seconds()), "address_limit")
    if account_failures >= ACCOUNT_LIMIT:
        return Throttle(False, int(THROTTLE_WINDOW.total_seconds()), "account_limit")
    if account_failures >= FREE_FAILURES and last_failure is not None:
        delay = min(2.0 ** (account_failures - FREE_FAILURES), MAX_DELAY)
        wait = (last_failure + dt.timedelta(seconds=delay) - now).total_seconds()
        if wait > 0:
            return Throttle(False, max(1, int(wait + 0.999)), "delay")
    return Throttle(True)
