"""News and announcements (R-M4): posting one notifies its audience; the
list shows a caller what is addressed to them."""
from __future__ import annotations

from prometheus_client import Counter
from sqlalchemy import and_, event as sa_event, or_

from kernel.context import CallContext
from kernel.errors import Forbidden, NotFound
from kernel.nameko import service_rpc

from messaging import domain, policy, store, texts
from messaging.entrypoints import roles_of
from messaging.notify import notify

NEWS_POSTED = Counter("messaging_news_posted_total", "News items and announcements posted", ["kind"])


class News:
    @service_rpc
    def post_news(self, ctx, data):
        """Post news or an announcement; notifies its audience."""
        who = CallContext.from_rpc(ctx)
        actor_id, school_id = who.actor_id, who.school_id
        news = domain.check_news(data)
        with self.db.transaction() as session:
            author = store.get_person(session, user_id=actor_id)
            roles = roles_of(author, who)
            kind = news.kind or policy.default_kind(roles)
            if not policy.may_post(kind, roles):
                raise Forbidden(texts.ERR_NEWS_ROLE, details={"kind": kind})
            if news.class_id and store.get_class(session, school_id=school_id, class_id=news.class_id) is None:
                raise NotFound(texts.ERR_NOT_FOUND, details={"field": "audience.class_id"})
            item = store.add_news(session, school_id=school_id, author_id=actor_id, kind=kind, audience=news.audience,
                                  class_id=news.class_id, title=news.title, body=news.body, links=news.links)
            audience = self._audience(session, school_id, news.audience, news.class_id) - {actor_id}
            drafts = domain.news_notifications(news_id=item.id, kind=kind, title=news.title, recipients=sorted(audience))
            notify(session, school_id=school_id, source_event_id=item.id, drafts=drafts)
            sa_event.listen(session, "after_commit", lambda _s: NEWS_POSTED.labels(kind).inc(), once=True)
            return self._news_view(item)

    def _audience(self, session, school_id, audience, class_id) -> set:
        if audience == "school":
            return {p.user_id for p in store.school_people(session, school_id=school_id)}
        if audience == "staff":
            return {p.user_id for p in store.school_people(session, school_id=school_id) if policy.is_staff(p.roles)}
        students = store.students_of_class(session, school_id=school_id, class_id=class_id)
        parents = {p for ps in store.parents_of_students(session, school_id=school_id, student_ids=students).values()
                   for p in ps}
        if audience == "parents":
            return parents
        return set(students) | parents

    @staticmethod
    def _news_view(item) -> dict:
        audience = {"school": {"school": True}, "staff": {"staff": True}, "class": {"class_id": item.class_id},
                    "parents": {"parents_of_class": item.class_id}}[item.audience]
        return {"id": item.id, "kind": item.kind, "title": item.title, "body": item.body, "links": item.links or [],
                "audience": audience, "author_id": item.author_id, "created_at": domain.iso(item.created_at)}

    @service_rpc
    def list_news(self, ctx, limit=domain.DEFAULT_LIMIT, cursor=None):
        """The news addressed to the caller (see :func:`messaging.policy.news_visible`), newest first."""
        who = CallContext.from_rpc(ctx)
        actor_id, school_id = who.actor_id, who.school_id
        limit = domain.check_limit(limit)
        after = domain.decode_cursor(cursor)
        session = self.db.session
        me = store.get_person(session, user_id=actor_id)
        roles = set(roles_of(me, who))
        children = store.children_of(session, school_id=school_id, parent_id=actor_id)
        children_classes = set(store.classes_of(session, school_id=school_id, student_ids=children))
        my_classes = set(store.classes_of(session, school_id=school_id, student_ids=[actor_id]))
        taught = store.classes_taught_by(session, school_id=school_id, teacher_id=actor_id)
        N = store.NewsItem
        conditions = [N.audience == "school", N.author_id == actor_id]
        if roles & policy.STAFF:
            conditions.append(N.audience == "staff")
        if roles & policy.SCHOOL_WIDE_READERS:
            conditions.append(N.audience.in_(["class", "parents"]))
        else:
            conditions.append(and_(N.audience.in_(["class", "parents"]), N.class_id.in_(taught | children_classes)))
            conditions.append(and_(N.audience == "class", N.class_id.in_(my_classes)))
        rows = store.list_news(session, school_id=school_id, visible=or_(*conditions), limit=limit + 1, after=after)
        rows, next_cursor = domain.page(rows, limit)
        return {"items": [self._news_view(r) for r in rows], "next_cursor": next_cursor}
