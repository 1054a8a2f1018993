"""The identity rules as pure functions: roles and who may grant them, login
and password policy, input validation, role changes and login throttling
(the access decision is :mod:`identity.decisions`). No I/O: everything here is called
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
