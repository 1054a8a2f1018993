"""Refresh tokens and their rotation, signing keys, session revocations and
the TOTP second factor."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from kernel.db import new_id
from kernel.events import utcnow

from identity.store.models import RefreshToken, SessionRevocation, SigningKey, TotpSecret, User


# --- tokens and keys -----------------------------------------------------------

_ADD_REFRESH_TOKEN = insert(RefreshToken.__table__)  # its values are the parameters of each call


def add_refresh_token(session: Session | Connection, *, user, token_hash: str, family_id: str,
                      expires_at: dt.datetime) -> str:
    """Store a refresh token (its hash) of ``user`` (a User or a LoginUser);
    its id. One plain INSERT on a session or a bare connection: a login
    writes nothing else on its way out, and the ORM's unit of work cost
    more than the statement."""
    token_id = new_id()
    session.execute(_ADD_REFRESH_TOKEN, {
        "id": token_id, "school_id": user.school_id, "user_id": user.id, "family_id": family_id,
        "token_hash": token_hash, "issued_at": utcnow(), "expires_at": expires_at})
    return token_id


def active_signing_key(session: Session) -> SigningKey | None:
    """The newest active key: the one new tokens are signed with."""
    return session.scalars(select(SigningKey).where(SigningKey.active.is_(True))
                           .order_by(SigningKey.created_at.desc(), SigningKey.kid).limit(1)).first()


# Built once (every login runs it): a constant statement memoizes its cache key.
_ACTIVE_KID = (select(SigningKey.kid).where(SigningKey.active.is_(True))
               .order_by(SigningKey.created_at.desc(), SigningKey.kid).limit(1))


def active_signing_kid(session: Session) -> str | None:
    """The kid of :func:`active_signing_key` alone (its private key is
    opened only when the process has not opened it yet)."""
    return session.scalars(_ACTIVE_KID).first()


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


# --- session revocations -------------------------------------------------------

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


# --- refresh-token rotation and sessions ----------------------------------

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
