"""Persistence of identity: the models (:mod:`.models`) and one query module
per concern: :mod:`.users` (schools, users, families, consent, roles),
:mod:`.credentials` (refresh tokens, signing keys, session revocations,
TOTP), :mod:`.projections` (other services' facts and the facts of an access
decision), :mod:`.access` (throttling, audit trail, access log) and
:mod:`.directory` (the school's user list). Queries
are functions taking the session and keyword-only arguments, so they run the
same under nameko, the gRPC process, the bootstrap CLI and tests; every
public name is importable from ``identity.store``."""
from __future__ import annotations

from identity.store.models import (  # noqa: F401
    Base, School, User, ParentLink, Consent, RefreshToken, SigningKey, ClassTeacher, StudentClass,
    TeacherAssignment, LessonRef, MarkRef, YearRef, LetterParticipant, SessionRevocation, LoginFailure,
    AuditRecord, TotpSecret, AccessRecord, tables, seal_secret, open_secret,
)
from identity.store.users import (  # noqa: F401
    get_school, first_school, add_school, get_user, find_user_by_login, find_login_user, add_user, set_password_hash,
    user_dict, get_parent_link, add_parent_link, children_of, add_consent, latest_consent, consent_given,
    set_roles,
)
from identity.store.credentials import (  # noqa: F401
    add_refresh_token, active_signing_key, active_signing_kid, add_signing_key, public_jwks, add_revocation,
    current_revocations, family_of_user, live_families, find_refresh_token, revoke_family,
    revoke_user_sessions, get_totp, put_totp,
)
from identity.store.projections import (  # noqa: F401
    upsert_class, upsert_student_class, upsert_assignment, class_of_student, classes_of_class_teacher,
    class_school, upsert_lesson, add_letter, letter_facts, add_mark_refs, upsert_year, end_student_class,
    assignments_in, family_classes, access_facts, students_of_class,
)
from identity.store.access import (  # noqa: F401
    add_login_failures, login_failures, login_failures_of, login_reads, LoginUser, clear_login_failures, add_audit,
    audit_records, audit_dict,
    add_access_rows, access_records, access_dict, activity,
)
from identity.store.directory import (  # noqa: F401
    users_after, families_of_class_teacher, locked_logins,
)
