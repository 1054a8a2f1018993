"""The people the caller may write to (``GET /messages/recipients``, R-M1
after R-A3): the school's people in name order, kept by the very rule
``send_message`` applies (:func:`messaging.policy.may_write`), with their
role and class so that nobody needs an id from elsewhere."""
from __future__ import annotations

from kernel import limits, paging
from kernel.context import CallContext
from kernel.nameko import service_rpc

from messaging import policy, store, texts
from messaging.entrypoints import roles_of
from messaging.entrypoints.mail import related_teachers

# The role a recipient is shown with: the first of theirs in this order.
SHOWN_ROLE = ("director", "deputy", "admin", "class_teacher", "teacher", "secretary", "news_editor", "scheduler",
              "parent", "student")


def shown_role(roles) -> str | None:
    roles = set(roles or ())
    return next((r for r in SHOWN_ROLE if r in roles), None)


class Recipients:
    @service_rpc
    def recipients(self, ctx, q=None, limit=None, cursor=None):
        """``{items: [{id, full_name, role, class?: {id, name}}], next_cursor}``:
        the people of the caller's school they may write to, by full name;
        ``q`` matches the full name, case-insensitive. ``class``: a
        student's class, a parent's child's, the class a class teacher leads."""
        who = CallContext.from_rpc(ctx)
        actor_id, school_id = who.actor_id, who.school_id
        limit = paging.check_limit(limit, texts.ERR_LIMIT)
        after = paging.decode_cursor(cursor, 2, texts.ERR_CURSOR, strings=True)
        q = paging.search_text(q, texts.ERR_QUERY.format(max=limits.LIST_QUERY))
        session = self.db.session
        roles = roles_of(store.get_person(session, user_id=actor_id), who)
        related = related_teachers(session, school_id, actor_id, roles)

        def may_write(person) -> bool:
            return policy.may_write(sender_id=actor_id, sender_roles=roles, recipient_id=person.user_id,
                                    recipient_roles=person.roles, related_teachers=related)

        rows, next_cursor = paging.collect(
            lambda position, n: store.people_after(session, school_id=school_id, after=position, limit=n),
            key=lambda p: (p.full_name or "", p.user_id),
            keep=lambda p: paging.matches(q, p.full_name) and may_write(p),
            after=after, limit=limit)
        classes = store.classes_of_people(session, school_id=school_id, ids=[p.user_id for p in rows])
        items = []
        for person in rows:
            item = {"id": person.user_id, "full_name": person.full_name, "role": shown_role(person.roles)}
            klass = classes.get(person.user_id)
            if klass is not None:
                item["class"] = {"id": klass.class_id, "name": klass.name}
            items.append(item)
        return {"items": items, "next_cursor": next_cursor}
