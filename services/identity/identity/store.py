"""Persistence of the identity service: SQLAlchemy models and queries.

Queries are functions taking the session and keyword-only arguments, so they
run the same under nameko, the gRPC process, the bootstrap CLI and tests.
"""
from __future__ import annotations

import datetime as dt
import json
import logging

from sqlalchemy import (
    JSON, BigInteger, Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint, delete, func, select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from kernel.db import UtcDateTime, dialect_insert, insert_rows, new_id
from kernel.events import kernel_tables, utcnow

from identity import domain, errors, sealing

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


class School(Base):
    __tablename__ = "schools"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(ForeignKey("schools.id"), nullable=False, index=True)
    login: Mapped[str] = mapped_column(String(64), nullable=False)
    # Logins are unique per deployment regardless of case: "Ivanov" == "ivanov".
    login_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    full_name: Mapped[str] = mapped_column(String(200), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    roles: Mapped[list] = mapped_column(JSON, nullable=False)
    email: Mapped[str | None] = mapped_column(String(254))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(36))


class ParentLink(Base):
    __tablename__ = "parent_links"
    __table_args__ = (UniqueConstraint("student_id", "parent_id", name="uq_parent_links_pair"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    student_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    parent_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    relation: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(36))


class Consent(Base):
    """R-A4: one row per recorded decision; the history stays, the latest wins."""
    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_parent_recorded", "parent_id", "recorded_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    parent_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    given: Mapped[bool] = mapped_column(Boolean, nullable=False)
    signed_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(36), nullable=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    # Rotation (a later issue) revokes a whole family when a used token is replayed.
    family_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The Ed25519 private key (PKCS#8 PEM), sealed with the KEK (identity.sealing):
    # read and set it through ``private_pem``. kernel.export refuses to send it unsealed.
    private_key_sealed: Mapped[str] = mapped_column(Text, nullable=False,
                                                    info={"export_check": sealing.is_sealed})
    public_jwk: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    @property
    def private_pem(self) -> str:
        return open_secret(self.private_key_sealed, context=sealing.signing_key_context(self.kid))

    @private_pem.setter
    def private_pem(self, pem: str) -> None:
        self.private_key_sealed = seal_secret(pem, context=sealing.signing_key_context(self.kid))


# --- projections of journal events ----------------------------------------------

class ClassTeacher(Base):
    """class_created: the class, its school and its class teacher."""
    __tablename__ = "class_teachers"

    class_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    teacher_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(40))
    year_id: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class StudentClass(Base):
    """student_enrolled: a student's current class."""
    __tablename__ = "student_classes"

    student_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    class_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    since: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class TeacherAssignment(Base):
    """teacher_assigned: who teaches which subject in which class."""
    __tablename__ = "teacher_assignments"
    __table_args__ = (Index("ix_teacher_assignments_teacher_class", "teacher_id", "class_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the journal's assignment_id
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    teacher_id: Mapped[str] = mapped_column(String(36), nullable=False)
    class_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    subject_id: Mapped[str] = mapped_column(String(36), nullable=False)
    subgroup_id: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class LessonRef(Base):
    """lesson_recorded: a lesson's class, subject, subgroup and the teacher who
    gave it (a substitute gives it for ``substitute_for``)."""
    __tablename__ = "lesson_refs"

    lesson_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False)
    class_id: Mapped[str] = mapped_column(String(36), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(36), nullable=False)
    teacher_id: Mapped[str | None] = mapped_column(String(36), index=True)
    subgroup_id: Mapped[str | None] = mapped_column(String(36))
    substitute_for: Mapped[str | None] = mapped_column(String(36))


class MarkRef(Base):
    """mark_posted: a mark's lesson, class, subject, student and author."""
    __tablename__ = "mark_refs"

    mark_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False)
    lesson_id: Mapped[str | None] = mapped_column(String(36))
    class_id: Mapped[str] = mapped_column(String(36), nullable=False)
    subject_id: Mapped[str | None] = mapped_column(String(36))
    student_id: Mapped[str | None] = mapped_column(String(36))
    teacher_id: Mapped[str | None] = mapped_column(String(36))


class YearRef(Base):
    """year_opened: which school a school year belongs to."""
    __tablename__ = "year_refs"

    year_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False)


class LetterParticipant(Base):
    """message_sent: who takes part in a letter (its sender and each
    recipient), the letter's school. Only ids: the letter stays in messaging."""
    __tablename__ = "letter_participants"

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False)
    is_sender: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class SessionRevocation(Base):
    """Access tokens that no longer count before they expire: one session
    (``session_id``, the refresh-token family: logout, a replayed refresh
    token) or every session of a user issued before ``before`` (password,
    roles, consent, second factor). Kept until no such token can be alive
    (``expires_at``); the gateway loads them at start (ListRevocations)."""
    __tablename__ = "session_revocations"
    __table_args__ = (Index("ix_session_revocations_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(36), nullable=False)
    session_id: Mapped[str | None] = mapped_column(String(36))
    before: Mapped[int] = mapped_column(BigInteger, nullable=False)  # epoch seconds: tokens issued before are refused
    reason: Mapped[str] = mapped_column(String(40), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False)


# --- access: failed logins and the audit trail (issue 3) --------------------------------

class LoginFailure(Base):
    """One failed login, keyed by the login tried ("login:<key>") and by the
    client address ("addr:<ip>"): throttling counts them over the last hour."""
    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(300), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class AuditRecord(Base):
    """R-A5: who changed what and when, with the state before and after.
    Also lockouts, unlocks and refresh-token reuse (ASVS V7)."""
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_school_at", "school_id", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    school_id: Mapped[str | None] = mapped_column(String(36))
    actor_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(60), nullable=False)
    target_id: Mapped[str | None] = mapped_column(String(300))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class TotpSecret(Base):
    """Item 4: a staff member's TOTP second factor. ``enabled`` only after
    the first code is confirmed; recovery codes are kept as sha256 hashes
    (they are random, 50 bits: no slow hash needed) and removed when used."""
    __tablename__ = "totp_secrets"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    # The base32 TOTP secret, sealed with the KEK (identity.sealing): read and set
    # it through ``secret``. kernel.export refuses to send it unsealed.
    secret_sealed: Mapped[str] = mapped_column(Text, nullable=False, info={"export_check": sealing.is_sealed})
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    recovery_hashes: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    last_step: Mapped[int | None] = mapped_column()  # the last accepted time step: a code works once
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)

    @property
    def secret(self) -> str:
        return open_secret(self.secret_sealed, context=sealing.totp_context(self.user_id))

    @secret.setter
    def secret(self, secret: str) -> None:
        self.secret_sealed = seal_secret(secret, context=sealing.totp_context(self.user_id))


class AccessRecord(Base):
    """R-A6: one request of a user through the gateway (its access event)."""
    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_school_at", "school_id", "at"),
                      Index("ix_access_log_user_at", "user_id", "at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the event id
    school_id: Mapped[str | None] = mapped_column(String(36))
    user_id: Mapped[str] = mapped_column(String(36), nullable=False)
    roles: Mapped[list] = mapped_column(JSON, nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    route: Mapped[str] = mapped_column(String(200), nullable=False)
    resource_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(nullable=False)
    address: Mapped[str | None] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False)


tables = kernel_tables(Base.metadata)


# --- schools and users -------------------------------------------------------------

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


# --- parents and consent -------------------------------------------------------------

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


# --- tokens and keys ---------------------------------------------------------------------

def add_refresh_token(session: Session, *, user: User, token_hash: str, family_id: str,
                      expires_at: dt.datetime) -> RefreshToken:
    row = RefreshToken(id=new_id(), school_id=user.school_id, user_id=user.id, family_id=family_id,
                       token_hash=token_hash, issued_at=utcnow(), expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def active_signing_key(session: Session) -> SigningKey | None:
    """The newest active key: the one new tokens are signed with."""
    return session.scalars(select(SigningKey).where(SigningKey.active.is_(True))
                           .order_by(SigningKey.created_at.desc(), SigningKey.kid).limit(1)).first()


def add_signing_key(session: Session, *, kid: str, private_pem: str, public_jwk: dict) -> SigningKey:
    key = SigningKey(kid=kid, public_jwk=json.dumps(public_jwk), created_at=utcnow(), active=True)
    key.private_pem = private_pem  # sealed for this kid: set after kid
    session.add(key)
    session.flush()
    return key


def public_jwks(session: Session) -> list[dict]:
    """Public JWKs of every active key (old ones stay until their tokens expire)."""
    rows = session.scalars(select(SigningKey).where(SigningKey.active.is_(True))
                           .order_by(SigningKey.created_at, SigningKey.kid))
    return [json.loads(row.public_jwk) for row in rows]


# --- projections ---------------------------------------------------------------------------

def upsert_class(session: Session, *, class_id: str, school_id: str, teacher_id: str | None,
                 name: str | None, year_id: str | None) -> ClassTeacher:
    row = session.get(ClassTeacher, class_id)
    if row is None:
        row = ClassTeacher(class_id=class_id, school_id=school_id)
        session.add(row)
    row.teacher_id, row.name, row.year_id, row.updated_at = teacher_id, name, year_id, utcnow()
    session.flush()
    return row


def upsert_student_class(session: Session, *, student_id: str, school_id: str, class_id: str,
                         since: dt.date | None) -> StudentClass:
    """Record a student's class; an older enrolment delivered late does not
    replace a newer one."""
    row = session.get(StudentClass, student_id)
    if row is None:
        row = StudentClass(student_id=student_id, school_id=school_id, class_id=class_id, since=since,
                           updated_at=utcnow())
        session.add(row)
    elif row.since is None or since is None or since >= row.since:
        row.school_id, row.class_id, row.since, row.updated_at = school_id, class_id, since, utcnow()
    session.flush()
    return row


def upsert_assignment(session: Session, *, assignment_id: str, school_id: str, teacher_id: str,
                      class_id: str, subject_id: str, subgroup_id: str | None) -> TeacherAssignment:
    row = session.get(TeacherAssignment, assignment_id)
    if row is None:
        row = TeacherAssignment(id=assignment_id, school_id=school_id)
        session.add(row)
    row.teacher_id, row.class_id, row.subject_id = teacher_id, class_id, subject_id
    row.subgroup_id, row.updated_at = subgroup_id, utcnow()
    session.flush()
    return row


def class_of_student(session: Session, *, student_id: str) -> str | None:
    row = session.get(StudentClass, student_id)
    return row.class_id if row else None


def classes_of_class_teacher(session: Session, *, teacher_id: str) -> list[str]:
    return list(session.scalars(select(ClassTeacher.class_id).where(ClassTeacher.teacher_id == teacher_id)
                                .order_by(ClassTeacher.name, ClassTeacher.class_id)))


def class_school(session: Session, *, class_id: str) -> str | None:
    """The school of a class, from whichever journal event told us about it first."""
    for column, key in ((ClassTeacher.school_id, ClassTeacher.class_id),
                        (TeacherAssignment.school_id, TeacherAssignment.class_id),
                        (StudentClass.school_id, StudentClass.class_id)):
        school_id = session.scalars(select(column).where(key == class_id).limit(1)).first()
        if school_id:
            return school_id
    return None


def upsert_lesson(session: Session, *, lesson_id: str, school_id: str, class_id: str, subject_id: str,
                  teacher_id: str | None, subgroup_id: str | None, substitute_for: str | None) -> None:
    row = session.get(LessonRef, lesson_id)
    if row is None:
        row = LessonRef(lesson_id=lesson_id, school_id=school_id)
        session.add(row)
    row.school_id, row.class_id, row.subject_id = school_id, class_id, subject_id
    row.teacher_id, row.subgroup_id, row.substitute_for = teacher_id, subgroup_id, substitute_for
    session.flush()


def add_letter(session: Session, *, message_id: str, school_id: str, sender_id: str, recipient_ids) -> None:
    """The participants of one letter; a letter already kept (a redelivered
    event) or a participant already kept gains nothing (letters never change
    their participants)."""
    rows = [{"message_id": message_id, "user_id": sender_id, "school_id": school_id, "is_sender": True}]
    rows += [{"message_id": message_id, "user_id": r, "school_id": school_id, "is_sender": False}
             for r in dict.fromkeys(recipient_ids) if r != sender_id]
    table = LetterParticipant.__table__
    session.execute(dialect_insert(session, table).on_conflict_do_nothing(
        index_elements=[table.c.message_id, table.c.user_id]), rows)


def letter_facts(session: Session, *, message_id: str, subject_id: str) -> domain.Facts:
    """A letter identity has not seen is ``known=False`` (messaging decides)."""
    school_id = session.scalars(select(LetterParticipant.school_id).where(
        LetterParticipant.message_id == message_id).limit(1)).first()
    if school_id is None:
        return domain.Facts(known=False)
    participant = session.get(LetterParticipant, (message_id, subject_id)) is not None
    return domain.Facts(exists=True, school_id=school_id, participant=participant)


def add_mark_refs(session: Session, rows: list[dict]) -> None:
    """mark_posted in bulk: a mark already kept keeps its first author (a
    redelivery or a correction never changes it). Sorted by id, so two
    batches holding the same marks wait for each other, never deadlock."""
    if not rows:
        return
    table = MarkRef.__table__
    rows = sorted({r["mark_id"]: r for r in reversed(rows)}.values(), key=lambda r: r["mark_id"])
    insert_rows(session, (table, rows, ["mark_id"]))  # one multi-row INSERT ... ON CONFLICT DO NOTHING


def upsert_year(session: Session, *, year_id: str, school_id: str) -> None:
    if session.get(YearRef, year_id) is None:
        session.add(YearRef(year_id=year_id, school_id=school_id))
    session.flush()


def end_student_class(session: Session, *, student_id: str, class_id: str, on: dt.date | None) -> bool:
    """student_left: the student is in no class of the school any more,
    unless a later enrolment (into the next year) already replaced it."""
    row = session.get(StudentClass, student_id)
    if row is None or row.class_id != class_id:
        return False
    if on is not None and row.since is not None and row.since >= on:
        return False
    session.delete(row)
    session.flush()
    return True


def assignments_in(session: Session, *, teacher_id: str, class_id: str | None) -> frozenset:
    """``{(subject_id, subgroup_id)}`` of a teacher's assignments in a class."""
    if not class_id:
        return frozenset()
    return frozenset(session.execute(select(TeacherAssignment.subject_id, TeacherAssignment.subgroup_id).where(
        TeacherAssignment.teacher_id == teacher_id, TeacherAssignment.class_id == class_id)).all())


def family_classes(session: Session, *, subject_id: str) -> frozenset:
    """The subject's own class (a student) and their children's (a parent
    whose consent is given): the classes whose timetable is theirs (R-A3)."""
    found = set()
    own = class_of_student(session, student_id=subject_id)
    if own:
        found.add(own)
    children = children_of(session, parent_id=subject_id)
    if children and consent_given(session, parent_id=subject_id):
        found |= {class_of_student(session, student_id=c.id) for c in children}
    return frozenset(found - {None})


def _class_facts(session: Session, *, subject_id: str, class_id: str, school_id: str, class_teacher_of,
                 **extra) -> domain.Facts:
    assignments = assignments_in(session, teacher_id=subject_id, class_id=class_id)
    return domain.Facts(exists=True, school_id=school_id, class_ids=frozenset([class_id]),
                        class_teacher_of=class_teacher_of, assignments=assignments,
                        teaches=frozenset([class_id]) if assignments else frozenset(), **extra)


def access_facts(session: Session, *, subject_id: str, resource: domain.Resource,
                 context: dict | None = None) -> domain.Facts:
    """Everything :func:`identity.domain.decide` needs about ``resource``.
    Lessons, marks, years and classes come from the journal's events, letters
    from messaging's: one not seen yet is ``known=False`` (its owner decides),
    and so is a mark whose lesson has not been seen yet (who gave that lesson
    decides who may correct it). ``context`` (the request's other ids): a new
    lesson's ``substitute_for`` brings the replaced teacher's assignments."""
    context = context or {}
    if resource.type == "message":
        return letter_facts(session, message_id=resource.id, subject_id=subject_id)
    class_teacher_of = frozenset(classes_of_class_teacher(session, teacher_id=subject_id))
    if resource.type == "class":
        school_id = class_school(session, class_id=resource.id)
        if school_id is None:
            return domain.Facts(known=False)
        replaced = context.get("substitute_for")
        return _class_facts(session, subject_id=subject_id, class_id=resource.id, school_id=school_id,
                            class_teacher_of=class_teacher_of,
                            family_classes=family_classes(session, subject_id=subject_id),
                            replaced_assignments=assignments_in(session, teacher_id=replaced, class_id=resource.id)
                            if isinstance(replaced, str) and replaced else frozenset())
    if resource.type == "lesson":
        lesson = session.get(LessonRef, resource.id)
        if lesson is None:
            return domain.Facts(known=False)
        return _class_facts(session, subject_id=subject_id, class_id=lesson.class_id, school_id=lesson.school_id,
                            class_teacher_of=class_teacher_of, item_subject_id=lesson.subject_id,
                            item_subgroup_id=lesson.subgroup_id, lesson_teacher_id=lesson.teacher_id,
                            lesson_substitute_for=lesson.substitute_for)
    if resource.type == "mark":
        mark = session.get(MarkRef, resource.id)
        lesson = session.get(LessonRef, mark.lesson_id) if mark is not None and mark.lesson_id else None
        if mark is None or lesson is None:
            return domain.Facts(known=False)
        return _class_facts(session, subject_id=subject_id, class_id=mark.class_id, school_id=mark.school_id,
                            class_teacher_of=class_teacher_of, item_subject_id=lesson.subject_id,
                            item_subgroup_id=lesson.subgroup_id, lesson_teacher_id=lesson.teacher_id,
                            lesson_substitute_for=lesson.substitute_for)
    if resource.type == "year":
        year = session.get(YearRef, resource.id)
        if year is None:
            return domain.Facts(known=False)
        return domain.Facts(exists=True, school_id=year.school_id)
    if resource.type not in ("student", "user"):
        return domain.Facts()
    user = get_user(session, user_id=resource.id)
    if user is None:
        return domain.Facts()
    roles = frozenset(user.roles or ())
    class_ids = set()
    if "student" in roles:
        own = class_of_student(session, student_id=user.id)
        if own:
            class_ids.add(own)
    if "parent" in roles:
        for child in children_of(session, parent_id=user.id):
            own = class_of_student(session, student_id=child.id)
            if own:
                class_ids.add(own)
    parent_of = get_parent_link(session, student_id=user.id, parent_id=subject_id) is not None
    own_class = class_of_student(session, student_id=user.id) if "student" in roles else None
    assignments = assignments_in(session, teacher_id=subject_id, class_id=own_class)
    return domain.Facts(
        exists=True, school_id=user.school_id, roles=roles, parent_of=parent_of,
        consent_given=consent_given(session, parent_id=subject_id) if parent_of else False,
        class_ids=frozenset(class_ids), class_teacher_of=class_teacher_of,
        created_by_subject=bool(user.created_by) and user.created_by == subject_id,
        assignments=assignments, teaches=frozenset([own_class]) if assignments else frozenset(),
    )


# --- session revocations (issue 3 item 3) ---------------------------------------------------

def add_revocation(session: Session, *, user_id: str, session_id: str | None, before: int, reason: str,
                   expires_at: dt.datetime) -> SessionRevocation:
    row = SessionRevocation(id=new_id(), user_id=user_id, session_id=session_id, before=before, reason=reason,
                            expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def current_revocations(session: Session, *, now: dt.datetime) -> list[SessionRevocation]:
    """Revocations some unexpired access token may still hit; older ones are deleted."""
    session.execute(delete(SessionRevocation).where(SessionRevocation.expires_at <= now))
    return list(session.scalars(select(SessionRevocation).order_by(SessionRevocation.expires_at)))




def family_of_user(session: Session, *, family_id: str, user_id: str) -> bool:
    return session.scalars(select(RefreshToken.id).where(
        RefreshToken.family_id == family_id, RefreshToken.user_id == user_id).limit(1)).first() is not None


def live_families(session: Session, *, user_id: str, since: dt.datetime) -> list[str]:
    """Sessions of a user that issued a token since ``since``: the ones an
    unexpired access token may belong to."""
    return list(session.scalars(select(RefreshToken.family_id).where(
        RefreshToken.user_id == user_id, RefreshToken.issued_at >= since).distinct()))


# --- refresh-token rotation, sessions, throttling, audit (issue 3) -------------------------

def find_refresh_token(session: Session, *, token_hash: str) -> RefreshToken | None:
    return session.scalars(select(RefreshToken).where(RefreshToken.token_hash == token_hash)
                           .with_for_update()).first()


def revoke_family(session: Session, *, family_id: str) -> int:
    """End one session: every token of the family stops working."""
    return session.execute(update(RefreshToken).where(
        RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None)).values(revoked_at=utcnow())).rowcount


def revoke_user_sessions(session: Session, *, user_id: str, keep_family: str | None = None) -> int:
    """End every session of a user (consent withdrawn, roles or password changed)."""
    query = update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
    if keep_family:
        query = query.where(RefreshToken.family_id != keep_family)
    return session.execute(query.values(revoked_at=utcnow())).rowcount


def add_login_failures(session: Session, *, keys, at: dt.datetime) -> None:
    for key in keys:
        session.add(LoginFailure(id=new_id(), key=key[:300], at=at))
    session.flush()


def login_failures(session: Session, *, key: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
    """How many failures ``key`` had since ``since`` and when the last one was."""
    count, last = session.execute(select(func.count(LoginFailure.id), func.max(LoginFailure.at))
                                  .where(LoginFailure.key == key, LoginFailure.at >= since)).one()
    return int(count or 0), last


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
                  limit: int = 100) -> list[AuditRecord]:
    query = select(AuditRecord).where(AuditRecord.school_id == school_id)
    if target_id:
        query = query.where(AuditRecord.target_id == target_id)
    if action:
        query = query.where(AuditRecord.action == action)
    return list(session.scalars(query.order_by(AuditRecord.at.desc(), AuditRecord.id).limit(limit)))


def audit_dict(row: AuditRecord) -> dict:
    return {"id": row.id, "action": row.action, "actor_id": row.actor_id, "target_id": row.target_id,
            "before": row.before, "after": row.after, "correlation_id": row.correlation_id,
            "at": row.at.isoformat() if row.at else None}


def set_roles(session: Session, *, user_id: str, roles) -> None:
    session.execute(update(User).where(User.id == user_id).values(roles=list(roles)))


def students_of_class(session: Session, *, class_id: str) -> list[str]:
    return list(session.scalars(select(StudentClass.student_id).where(StudentClass.class_id == class_id)))


def get_totp(session: Session, *, user_id: str, lock: bool = False) -> TotpSecret | None:
    query = select(TotpSecret).where(TotpSecret.user_id == user_id)
    return session.scalars(query.with_for_update() if lock else query).first()


def put_totp(session: Session, *, user_id: str, secret: str) -> TotpSecret:
    """A new, not yet enabled secret (replaces an unconfirmed one)."""
    row = get_totp(session, user_id=user_id, lock=True)
    if row is None:
        row = TotpSecret(user_id=user_id, enabled=False, recovery_hashes=[], created_at=utcnow())
        row.secret = secret  # sealed for this user: set after user_id
        session.add(row)
    else:
        row.secret, row.enabled, row.recovery_hashes, row.last_step = secret, False, [], None
    session.flush()
    return row


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


# --- secrets at rest (identity.sealing) ------------------------------------------------------

def seal_secret(plaintext: str, *, context: str) -> str:
    """``plaintext`` sealed with the process's KEK for ``context``."""
    try:
        return sealing.box().seal(plaintext, context=context)
    except (ValueError, OSError) as exc:  # a malformed key setting or an unusable key file
        log.error("identity secret key unusable: %s", exc)
        raise errors.SecretsUnavailable() from exc


def open_secret(sealed: str, *, context: str) -> str:
    """The plaintext of a sealed value. A wrong KEK or a damaged value fails
    closed: logged for the operator, answered as SERVICE_UNAVAILABLE."""
    try:
        return sealing.box().open(sealed, context=context)
    except (sealing.SealingError, ValueError, OSError) as exc:
        log.error("identity secret cannot be opened: %s", exc)
        raise errors.SecretsUnavailable() from exc
