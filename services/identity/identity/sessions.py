"""Ending sessions at once. A session is a refresh-token
family; its access tokens carry it as ``sid``. Ending sessions writes one
revocation row per session (the gateway loads them at start through
ListRevocations) and a ``sessions_revoked`` event in the same transaction,
which every gateway worker turns into a deny-list entry kept until the last
token of those sessions has expired. A new login is a new session: it is
never caught by an earlier revocation."""
from __future__ import annotations

import datetime as dt

from kernel.events import envelope, record, utcnow

from identity import credentials, events, store

# Tokens are checked with a few seconds of clock leeway (kernel.auth); a
# little more for clocks that drift.
LEEWAY = dt.timedelta(seconds=60)


def revocation(session, *, user_id: str, reason: str, session_ids=None, keep: str | None = None,
               now: dt.datetime | None = None) -> dict:
    """Record that access tokens of ``user_id`` stop counting: those of
    ``session_ids``, or (None) of every session of the user that may still
    have a live access token, except ``keep``. Tokens without a ``sid``
    (issued before sessions were named) are refused up to this second.
    Returns the ``sessions_revoked`` payload for the caller's outbox."""
    now = now or utcnow()
    ttl = dt.timedelta(seconds=credentials.access_token_ttl()) + LEEWAY
    if session_ids is None:
        session_ids = store.live_families(session, user_id=user_id, since=now - ttl)
    session_ids = sorted({sid for sid in session_ids if sid and sid != keep})
    before = int(now.timestamp()) + 1
    until = now + ttl
    for sid in session_ids:
        store.add_revocation(session, user_id=user_id, session_id=sid, before=before, reason=reason,
                             expires_at=until)
    store.add_revocation(session, user_id=user_id, session_id=None, before=before, reason=reason,
                         expires_at=until)
    return {"user_id": user_id, "session_ids": session_ids, "before": before, "until": int(until.timestamp()),
            "reason": reason}


def record_revocation(session, *, user_id: str, school_id: str | None, reason: str, session_ids=None,
                      actor_id: str | None = None) -> dict:
    """:func:`revocation` plus its event straight into identity's outbox
    (the gRPC process has no nameko Outbox; the service's relay publishes
    rows written by other processes too)."""
    payload = revocation(session, user_id=user_id, reason=reason, session_ids=session_ids)
    record(session, store.tables["outbox"], envelope(
        type=events.SESSIONS_REVOKED, producer=events.PRODUCER, payload=payload, school_id=school_id,
        actor_id=actor_id))
    return payload
