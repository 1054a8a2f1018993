"""Failed logins (throttling), the audit trail, the access log and its
monthly activity."""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from sqlalchemy import bindparam, delete, func, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from kernel.db import PreparedRead, dialect_insert, new_id
from kernel.events import utcnow

from identity import domain
from identity.store.models import AccessRecord, AuditRecord, LoginFailure, SigningKey, TotpSecret, User
from identity.store.projections import class_of_student
from identity.store.users import children_of


def add_login_failures(session: Session, *, keys, at: dt.datetime) -> None:
    for key in keys:
        session.add(LoginFailure(id=new_id(), key=key[:300], at=at))
    session.flush()


def login_failures(session: Session, *, key: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
    """How many failures ``key`` had since ``since`` and when the last one was."""
    count, last = session.execute(select(func.count(LoginFailure.id), func.max(LoginFailure.at))
                                  .where(LoginFailure.key == key, LoginFailure.at >= since)).one()
    return int(count or 0), last


# Built once: every login runs it, and a statement object made per call costs
# its construction and its cache key again (a constant one memoizes the key).
_FAILURES_OF = (select(LoginFailure.key, func.count(LoginFailure.id), func.max(LoginFailure.at))
                .where(LoginFailure.key.in_(bindparam("keys", expanding=True)),
                       LoginFailure.at >= bindparam("since"))
                .group_by(LoginFailure.key))


def _failures(of: str, column):
    return (select(column).where(LoginFailure.key == bindparam(of), LoginFailure.at >= bindparam("since"))
            .scalar_subquery())


class LoginUser(NamedTuple):
    """The columns of the user a login needs (no ORM object per login)."""
    id: str
    school_id: str
    login: str
    password_hash: str
    roles: list
    active: bool


# A login's reads in one statement (one round trip): the user of the typed
# login, if any, joined to a one-row table so that the throttle counts and the
# active key's id come back without one. Prepared once per PostgreSQL
# connection: planning its subqueries cost more than running them.
def _login_reads_statement():
    one = select(literal(1).label("one")).subquery("one")
    return (
        select(User.id, User.school_id, User.login, User.password_hash, User.roles, User.active, TotpSecret.enabled,
               _failures("account_key", func.count(LoginFailure.id)),
               _failures("account_key", func.max(LoginFailure.at)),
               _failures("address_key", func.count(LoginFailure.id)),
               _failures("address_key", func.max(LoginFailure.at)),
               select(SigningKey.kid).where(SigningKey.active.is_(True))
               .order_by(SigningKey.created_at.desc(), SigningKey.kid).limit(1).scalar_subquery())
        .select_from(one)
        .outerjoin(User, User.login_key == bindparam("login_key"))
        .outerjoin(TotpSecret, TotpSecret.user_id == User.id))


_LOGIN_READS = PreparedRead("identity_login_reads", _login_reads_statement)


def login_reads(connection: Connection, *, account_key: str, address_key: str, since: dt.datetime, login: str):
    """What a login reads, in one query on ``connection`` (a SQLAlchemy
    Connection): ``(failures, user, totp_on, kid)``, as
    :func:`login_failures_of` (of the two keys), :func:`find_login_user` (the
    user as a :class:`LoginUser`) and :func:`active_signing_kid` give them."""
    (user_id, school_id, user_login, password_hash, roles, active, totp_on, account_count, account_last,
     address_count, address_last, kid), = _LOGIN_READS.rows(connection, {
        "account_key": account_key, "address_key": address_key, "since": since,
        "login_key": domain.login_key(login)})
    failures = {account_key: (int(account_count or 0), account_last),
                address_key: (int(address_count or 0), address_last)}
    if user_id is None:
        return failures, None, False, kid
    return failures, LoginUser(user_id, school_id, user_login, password_hash, roles, bool(active)), bool(totp_on), kid


def login_failures_of(session: Session, *, keys, since: dt.datetime) -> dict:
    """``{key: (failures since since, the last one's time)}`` of several keys
    in one query; a key without failures maps to ``(0, None)``."""
    found = {key: (int(count), last) for key, count, last in session.execute(
        _FAILURES_OF, {"keys": list(keys), "since": since})}
    return {key: found.get(key, (0, None)) for key in keys}


def clear_login_failures(session: Session, *, key: str) -> int:
    return session.execute(delete(LoginFailure).where(LoginFailure.key == key)).rowcount


def add_audit(session: Session, *, action: str, school_id: str | None = None, actor_id: str | None = None,
              target_id: str | None = None, before=None, after=None, correlation_id: str | None = None
              ) -> AuditRecord:
    row = AuditRecord(id=new_id(), school_id=school_id, actor_id=actor_id, action=action,
                      target_id=target_id, before=before, after=after, correlation_id=correlation_id,
                      at=utcnow())
    session.add(row)
    session.flush()
    return row


def audit_records(session: Session, *, school_id: str, target_id: str | None = None, action: str | None = None,
                  since: dt.datetime | None = None, until: dt.datetime | None = None,
                  limit: int = 100) -> list[AuditRecord]:
    query = select(AuditRecord).where(AuditRecord.school_id == school_id)
    if target_id:
        query = query.where(AuditRecord.target_id == target_id)
    if action:
        query = query.where(AuditRecord.action == action)
    if since:
        query = query.where(AuditRecord.at >= since)
    if until:
        query = query.where(AuditRecord.at < until)
    return list(session.scalars(query.order_by(AuditRecord.at.desc(), AuditRecord.id).limit(limit)))


def audit_dict(row: AuditRecord) -> dict:
    return {"id": row.id, "action": row.action, "actor_id": row.actor_id, "target_id": row.target_id,
            "before": row.before, "after": row.after, "correlation_id": row.correlation_id,
            "at": row.at.isoformat() if row.at else None}


def add_access_rows(session: Session, rows: list[dict]) -> None:
    """Insert access-log rows (:func:`identity.events.access_row`) in one
    statement; a row whose event id is already kept is skipped, so a
    redelivered event or batch has no second effect."""
    if not rows:
        return
    table = AccessRecord.__table__
    # RETURNING makes SQLAlchemy send one multi-row INSERT (insertmanyvalues).
    session.execute(dialect_insert(session, table).on_conflict_do_nothing(index_elements=[table.c.id])
                    .returning(table.c.id), rows).all()


def access_records(session: Session, *, school_id: str, user_id: str | None, since: dt.datetime | None,
                   until: dt.datetime | None, limit: int) -> list[AccessRecord]:
    query = select(AccessRecord).where(AccessRecord.school_id == school_id)
    if user_id:
        query = query.where(AccessRecord.user_id == user_id)
    if since:
        query = query.where(AccessRecord.at >= since)
    if until:
        query = query.where(AccessRecord.at < until)
    return list(session.scalars(query.order_by(AccessRecord.at.desc(), AccessRecord.id).limit(limit)))


def access_dict(row: AccessRecord) -> dict:
    return {"id": row.id, "user_id": row.user_id, "roles": list(row.roles), "method": row.method,
            "route": row.route, "resource_id": row.resource_id, "status": row.status, "address": row.address,
            "correlation_id": row.correlation_id, "at": row.at.isoformat()}


def activity(session: Session, *, school_id: str, since: dt.datetime, until: dt.datetime) -> dict:
    """R-A6/R-R8: requests per user, per role and per class in [since, until).
    A student counts for their class, a parent for each child's class."""
    per_user = session.execute(
        select(AccessRecord.user_id, func.count(AccessRecord.id))
        .where(AccessRecord.school_id == school_id, AccessRecord.at >= since, AccessRecord.at < until)
        .group_by(AccessRecord.user_id)).all()
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_([u for u, _ in per_user])))}
    by_role: dict = {}
    by_class: dict = {}
    for user_id, count in per_user:
        user = users.get(user_id)
        roles = list(user.roles) if user else []
        for role in roles:
            by_role[role] = by_role.get(role, 0) + count
        classes = set()
        if "student" in roles:
            classes.add(class_of_student(session, student_id=user_id))
        if "parent" in roles:
            classes |= {class_of_student(session, student_id=c.id) for c in children_of(session, parent_id=user_id)}
        for class_id in classes - {None}:
            by_class[class_id] = by_class.get(class_id, 0) + count
    return {
        "by_user": sorted(({"user_id": u, "requests": c} for u, c in per_user), key=lambda r: -r["requests"]),
        "by_role": [{"role": r, "requests": c} for r, c in sorted(by_role.items())],
        "by_class": [{"class_id": k, "requests": c} for k, c in sorted(by_class.items())],
    }
