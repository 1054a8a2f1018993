"""identity's tables: schools, users, families, consent, tokens and keys,
the projections of other services' facts, the access log and the audit
trail (with the kernel's outbox, processed events and dead letters); secrets
are sealed at rest (identity.sealing)."""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import UtcDateTime, new_id
from kernel.events import kernel_tables, utcnow

from identity import errors, sealing

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
    # Rotation revokes a whole family when a used token is replayed.
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


# --- projections of journal events ---------------------------------------------

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


# --- access: failed logins and the audit trail ---------------------------------

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
    """A staff member's TOTP second factor. ``enabled`` only after
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


# --- secrets at rest (identity.sealing) ----------------------------------------

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
