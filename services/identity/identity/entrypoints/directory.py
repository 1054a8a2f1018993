"""The school's directory (``GET /users``): the users the caller may list
(:func:`identity.decisions.user_list_scope`), searched by login or full
name, a page at a time."""
from __future__ import annotations

from kernel import limits, paging
from kernel.context import CallContext
from kernel.events import utcnow
from kernel.nameko import service_rpc

from identity import decisions, domain, store
from identity.errors import Forbidden, ValidationError, text


def directory_item(user, locked: bool) -> dict:
    return {"id": user.id, "login": user.login, "full_name": user.full_name, "roles": list(user.roles),
            "locked": locked}


class Directory:
    @service_rpc
    def list_users(self, ctx, q=None, role=None, limit=None, cursor=None):
        """``{items: [{id, login, full_name, roles, locked}], next_cursor}``
        by full name: the admin sees the school's users, a class teacher the
        families of their classes, anyone else FORBIDDEN. ``q`` matches the
        login or the full name, case-insensitive; ``role`` keeps those who
        hold it; ``locked``: not active, or held back by failed logins."""
        actor = CallContext.from_rpc(ctx)
        scope = decisions.user_list_scope(decisions.Subject(actor.actor_id, actor.school_id, frozenset(actor.roles)))
        if scope is None:
            raise Forbidden()
        limit = paging.check_limit(limit, text("limit_range", max=limits.LIST_LIMIT_MAX))
        after = paging.decode_cursor(cursor, 2, text("cursor_invalid"), strings=True)
        q = paging.search_text(q, text("field_too_long", field="q"))
        if role is not None and role not in domain.ROLES:
            raise ValidationError(text("roles_unknown", roles=str(role)[:40]), details={"field": "role"})
        with self.db.transaction() as s:
            ids = None
            if scope == "families":
                ids = store.families_of_class_teacher(s, school_id=actor.school_id, teacher_id=actor.actor_id)
            rows, next_cursor = paging.collect(
                lambda position, n: store.users_after(s, school_id=actor.school_id, after=position, limit=n,
                                                      ids=ids),
                key=lambda u: (u.full_name, u.id),
                keep=lambda u: (role is None or role in u.roles) and paging.matches(q, u.login, u.full_name),
                after=after, limit=limit)
            locked = store.locked_logins(s, users=rows, now=utcnow())
            return {"items": [directory_item(u, u.id in locked or not u.active) for u in rows],
                    "next_cursor": next_cursor}
