"""Access: the central access decision over RPC, the audit trail, and the
access log kept from the gateway's events with its monthly activity (R-A6)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import DataError, IntegrityError

from kernel.context import CallContext
from kernel.nameko import handles, on_event, service_rpc

from identity import decisions, domain, events, store
from identity.entrypoints import PROCESSED, id_arg
from identity.errors import Forbidden

# What the database or its driver answers for one row it cannot keep (psycopg2
# raises a plain ValueError for a NUL, UnicodeEncodeError for a lone surrogate).
REFUSED_ROWS = (DataError, IntegrityError, ValueError)


class Access:
    @service_rpc
    def authorize(self, ctx, action, resource_type, resource_id, context=None):
        """The access decision for the caller of ``ctx`` (the same function
        as the gRPC Authorize): ``{allowed, denial, reason}``. For services
        that ask identity about a relationship only identity knows."""
        actor = CallContext.from_rpc(ctx)
        action = domain.require_str(action, "action", max_len=60)
        resource = decisions.Resource(domain.require_str(resource_type, "resource_type", max_len=20),
                                   id_arg(resource_id, "resource_id"))
        context = context if isinstance(context, dict) else {}
        context = {k: v for k, v in context.items() if isinstance(v, str)}
        subject = decisions.Subject(actor.actor_id, actor.school_id, actor.roles)
        with self.db.transaction() as s:
            facts = store.access_facts(s, subject_id=actor.actor_id, resource=resource, context=context)
        decision = decisions.decide(subject, action, resource, facts, context)
        return {"allowed": decision.allowed, "denial": decision.denial, "reason": decision.reason}

    @service_rpc
    def list_audit(self, ctx, target_id=None, action=None, limit=100, from_date=None, to_date=None):
        """The audit trail of the actor's school, newest first (admin only);
        ``from_date``/``to_date``: its first and last day (UTC), inclusive."""
        actor = CallContext.from_rpc(ctx)
        if not actor.has("admin"):
            raise Forbidden()
        target_id = domain.require_str(target_id, "target_id", max_len=300, optional=True)
        action = domain.require_str(action, "action", max_len=60, optional=True)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
            raise domain.invalid("field_type", "limit")
        since, until = _day_bounds(from_date, to_date)
        with self.db.transaction() as s:
            rows = store.audit_records(s, school_id=actor.school_id, target_id=target_id, action=action,
                                       since=since, until=until, limit=limit)
            return {"items": [store.audit_dict(r) for r in rows], "next_cursor": None}

    @service_rpc
    def list_access(self, ctx, user_id=None, from_date=None, to_date=None, limit=100):
        """R-A6: the access log of the actor's school, newest first (admin)."""
        actor = CallContext.from_rpc(ctx)
        if not actor.has("admin"):
            raise Forbidden()
        user_id = domain.require_str(user_id, "user_id", max_len=64, optional=True)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
            raise domain.invalid("field_type", "limit")
        since, until = _day_bounds(from_date, to_date)
        with self.db.transaction() as s:
            rows = store.access_records(s, school_id=actor.school_id, user_id=user_id, since=since, until=until,
                                        limit=limit)
            return {"items": [store.access_dict(r) for r in rows], "next_cursor": None}

    @service_rpc
    def activity(self, ctx, month):
        """R-A6/R-R8: requests per user, role and class in ``month``
        (YYYY-MM, UTC); the administration."""
        actor = CallContext.from_rpc(ctx)
        if not actor.has(*domain.ADMINISTRATION):
            raise Forbidden()
        month = domain.require_str(month, "month", max_len=7)
        try:
            first = dt.date.fromisoformat(month + "-01")
        except ValueError:
            raise domain.invalid("date_format", "month") from None
        nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        with self.db.transaction() as s:
            counts = store.activity(s, school_id=actor.school_id,
                                    since=dt.datetime.combine(first, dt.time(), dt.timezone.utc),
                                    until=dt.datetime.combine(nxt, dt.time(), dt.timezone.utc))
        return {"month": month, **counts}

    @on_event(events.GATEWAY, events.ACCESS_RECORDED)
    @handles("identity.access_recorded", PROCESSED)
    def on_access_recorded(self, session, envelope):
        """Keep one gateway access event (R-A6)."""
        store.add_access_rows(session, [events.access_row(envelope)])

    @on_event(events.GATEWAY, events.ACCESS_RECORDED_BATCH)
    @handles("identity.access_recorded_batch", PROCESSED)
    def on_access_recorded_batch(self, session, envelope):
        """Keep a batch of gateway access events (R-A6) with one insert.
        Every event is kept or dead-lettered on its own: a malformed one
        (broken text included) or one the database or its driver refuses
        never costs the others."""
        items = envelope["payload"].get("events")
        if not isinstance(items, list):
            raise ValueError("payload field 'events' is not a list")
        rows = []
        for item in items:
            try:
                rows.append(events.access_row(item))
            except (ValueError, TypeError, AttributeError) as exc:
                self.dead_letters.put("identity.access_recorded", item, f"malformed: {exc}")
        try:
            with session.begin_nested():
                store.add_access_rows(session, rows)
        except REFUSED_ROWS:
            for row in rows:  # find the refused ones; keep the rest
                try:
                    with session.begin_nested():
                        store.add_access_rows(session, [row])
                except REFUSED_ROWS as exc:
                    self.dead_letters.put("identity.access_recorded", _access_event_of(row, items),
                                          f"{type(exc).__name__}: {exc}")


def _day_bounds(from_date, to_date) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[since, until) of the days ``from``..``to`` (UTC, inclusive); either may be missing."""
    first = domain.parse_date(from_date, "from", optional=True)
    last = domain.parse_date(to_date, "to", optional=True)
    since = dt.datetime.combine(first, dt.time(), dt.timezone.utc) if first else None
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.timezone.utc) if last else None
    return since, until


def _access_event_of(row: dict, items: list):
    """The envelope of a batch that became ``row`` (for its dead letter)."""
    return next((item for item in items if isinstance(item, dict) and item.get("id") == row["id"]), row)
