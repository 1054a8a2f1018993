"""identity's nameko entrypoints, one mixin per concern: :mod:`.users`
(accounts, families, consent, roles), :mod:`.passwords` (password and
second factor), :mod:`.access` (access decisions, the audit trail, the
access log), :mod:`.projections` (journal and messaging facts the access
decision needs) and :mod:`.bulk` (read-only checks for imports).
:class:`identity.service.Service` combines them. Entrypoints decode, call
the domain and the store, encode; writes commit with their outbox events."""
from __future__ import annotations

from kernel.nameko import on_event

from identity import domain, events, sessions
from identity.store import tables

PROCESSED = tables["processed_events"]


def id_arg(value, name: str) -> str:
    """An id argument: a non-empty string of at most 64 characters."""
    return domain.require_str(value, name, max_len=64)


def journal_handler(event_type: str):
    """``on_event`` for a journal event."""
    return on_event(events.JOURNAL, event_type)


def end_sessions(outbox, s, actor, user_id, reason, keep=None):
    """Access tokens of the user's sessions stop working at the gateway, not
    only their refresh tokens (``sessions_revoked`` in the same transaction)."""
    payload = sessions.revocation(s, user_id=user_id, reason=reason, keep=keep)
    outbox.add(s, events.SESSIONS_REVOKED, payload, actor.as_dict())
