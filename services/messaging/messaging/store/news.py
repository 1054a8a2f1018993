"""News and announcements."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from kernel.events import utcnow
from kernel.db import new_id

from messaging.store.models import NewsItem

# -- news ----------------------------------------------------------------------

def add_news(session: Session, *, school_id: str, author_id: str, kind: str, audience: str,
             class_id: str | None, title: str, body: str, links, now: dt.datetime | None = None) -> NewsItem:
    item = NewsItem(id=new_id(), school_id=school_id, author_id=author_id, kind=kind, audience=audience,
                    class_id=class_id, title=title, body=body, links=list(links), created_at=now or utcnow())
    session.add(item)
    session.flush()
    return item


def list_news(session: Session, *, school_id: str, visible, limit: int, after=None) -> list[NewsItem]:
    """News of the school matching the SQL condition ``visible``, newest first."""
    query = select(NewsItem).where(NewsItem.school_id == school_id, visible)
    if after is not None:
        at, last_id = after
        query = query.where(or_(NewsItem.created_at < at, and_(NewsItem.created_at == at, NewsItem.id < last_id)))
    return list(session.scalars(query.order_by(NewsItem.created_at.desc(), NewsItem.id.desc()).limit(limit)))


def get_news(session: Session, *, school_id: str, news_id: str) -> NewsItem | None:
    item = session.get(NewsItem, news_id)
    return item if item is not None and item.school_id == school_id else None
