"""Schools, users, parent links, consent and roles."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from kernel.db import new_id
from kernel.events import utcnow

from identity import domain
from identity.store.models import Consent, ParentLink, School, TotpSecret, User


# --- schools and users ---------------------------------------------------------

def get_school(session: Session, *, school_id: str) -> School | None:
    return session.get(School, school_id)


def first_school(session: Session) -> School | None:
    return session.scalars(select(School).order_by(School.created_at, School.id).limit(1)).first()


def add_school(session: Session, *, name: str) -> School:
    school = School(id=new_id(), name=name, created_at=utcnow())
    session.add(school)
    session.flush()
    return school


def get_user(session: Session, *, user_id: str) -> User | None:
    if not isinstance(user_id, str) or not user_id:
        return None
    return session.get(User, user_id)


def find_user_by_login(session: Session, *, login: str) -> User | None:
    """Case-insensitive lookup."""
    return session.scalars(select(User).where(User.login_key == domain.login_key(login))).first()


# Built once (every login runs it): a constant statement memoizes its cache key.
_LOGIN_USER = (select(User, TotpSecret.enabled).outerjoin(TotpSecret, TotpSecret.user_id == User.id)
               .where(User.login_key == bindparam("login_key")))


def find_login_user(session: Session, *, login: str) -> tuple[User | None, bool]:
    """:func:`find_user_by_login` and whether that user has a second factor
    enabled, in one query (a login reads the TOTP row only then)."""
    row = session.execute(_LOGIN_USER, {"login_key": domain.login_key(login)}).first()
    return (None, False) if row is None else (row[0], bool(row[1]))


def add_user(session: Session, *, school_id: str, new: domain.NewUser, password_hash: str,
             created_by: str | None) -> User:
    """Insert a user; an IntegrityError on flush means the login was taken concurrently."""
    user = User(
        id=new_id(), school_id=school_id, login=new.login, login_key=domain.login_key(new.login),
        full_name=new.full_name, password_hash=password_hash, roles=list(new.roles),
        email=new.email, birth_date=new.birth_date, sex=new.sex, active=True,
        created_at=utcnow(), created_by=created_by,
    )
    session.add(user)
    session.flush()
    return user


def set_password_hash(session: Session, *, user_id: str, password_hash: str) -> None:
    session.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


def user_dict(user: User) -> dict:
    """A user without secrets (get_user's answer)."""
    return {
        "id": user.id, "school_id": user.school_id, "login": user.login, "full_name": user.full_name,
        "roles": list(user.roles), "email": user.email,
        "birth_date": user.birth_date.isoformat() if user.birth_date else None,
        "sex": user.sex, "active": user.active,
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }


# --- parents and consent -------------------------------------------------------

def get_parent_link(session: Session, *, student_id: str, parent_id: str) -> ParentLink | None:
    return session.scalars(select(ParentLink).where(
        ParentLink.student_id == student_id, ParentLink.parent_id == parent_id)).first()


def add_parent_link(session: Session, *, school_id: str, student_id: str, parent_id: str,
                    relation: str, created_by: str | None) -> ParentLink:
    link = ParentLink(id=new_id(), school_id=school_id, student_id=student_id, parent_id=parent_id,
                      relation=relation, created_at=utcnow(), created_by=created_by)
    session.add(link)
    session.flush()
    return link


def children_of(session: Session, *, parent_id: str) -> list[User]:
    """The students linked to ``parent_id``, by name."""
    return list(session.scalars(
        select(User).join(ParentLink, ParentLink.student_id == User.id)
        .where(ParentLink.parent_id == parent_id).order_by(User.full_name, User.id)))


def add_consent(session: Session, *, school_id: str, parent_id: str, given: bool, signed_on: dt.date,
                recorded_by: str) -> Consent:
    consent = Consent(id=new_id(), school_id=school_id, parent_id=parent_id, given=given,
                      signed_on=signed_on, recorded_by=recorded_by, recorded_at=utcnow())
    session.add(consent)
    session.flush()
    return consent


def latest_consent(session: Session, *, parent_id: str) -> Consent | None:
    """The most recently recorded decision (R-A4: the latest wins)."""
    return session.scalars(
        select(Consent).where(Consent.parent_id == parent_id)
        .order_by(Consent.recorded_at.desc(), Consent.signed_on.desc()).limit(1)).first()


def consent_given(session: Session, *, parent_id: str) -> bool:
    latest = latest_consent(session, parent_id=parent_id)
    return bool(latest and latest.given)


def set_roles(session: Session, *, user_id: str, roles) -> None:
    session.execute(update(User).where(User.id == user_id).values(roles=list(roles)))
