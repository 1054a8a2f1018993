"""Read-only RPCs for bulk work of other services (the journal's student
import, R-S2): resolve a list of would-be users against identity's rules
and its users, without writing anything."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from identity import domain, store
from identity.errors import Forbidden, ValidationError, text
from kernel.context import CallContext
from kernel.errors import ServiceError
from kernel.nameko import service_rpc

MAX_RESOLVE = 2000


class BulkRpc:
    """``resolve_users`` (see its docstring)."""

    @service_rpc
    def resolve_users(self, ctx, items):
        """For each ``{login, full_name, roles, email?, birth_date?, sex?}``
        say what ``create_user`` would do, without doing it (R-S2 import,
        all or nothing): ``{"status": "new"}``; ``{"status": "existing", id,
        full_name, roles, parent_ids}`` for a user of the caller's school;
        ``{"status": "invalid", "message"}`` for data ``create_user`` would
        refuse (same rules); ``{"status": "taken", "message"}`` for a login
        of another school (nothing about that user is revealed). Admin and
        class teachers (the people who may create students and parents)."""
        actor = CallContext.from_rpc(ctx)
        if not isinstance(items, list) or len(items) > MAX_RESOLVE:
            raise ValidationError(details={"field": "items", "max": MAX_RESOLVE})
        answers = []
        with self.db.transaction() as s:
            for item in items:
                answers.append(self._resolve_one(s, actor, item))
        return answers

    def _resolve_one(self, s, actor, item) -> dict:
        try:
            new = domain.validate_new_user(item, today=dt.date.today())
            domain.check_may_create(actor.roles, new.roles)
        except Forbidden:
            raise
        except ServiceError as exc:
            return {"status": "invalid", "message": exc.message, "field": (exc.details or {}).get("field")}
        user = store.find_user_by_login(s, login=new.login)
        if user is None:
            return {"status": "new"}
        if user.school_id != actor.school_id:
            return {"status": "taken", "message": text("login_taken", login=new.login)}
        parent_ids = sorted(s.scalars(select(store.ParentLink.parent_id).where(
            store.ParentLink.student_id == user.id)))
        return {"status": "existing", "id": user.id, "full_name": user.full_name, "roles": list(user.roles),
                "parent_ids": parent_ids}
