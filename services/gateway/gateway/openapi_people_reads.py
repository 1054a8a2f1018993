"""OpenAPI paths and schemas of the people reads: the school's users
(``GET /users``, identity), the people one may write to
(``GET /messages/recipients``) and one news item (``GET /news/{id}``,
messaging); merged into :mod:`gateway.openapi` by :func:`register`."""
from __future__ import annotations

from kernel import limits

PAGE_DESCRIPTION = ("A page: `limit` items at most, `next_cursor` (opaque) for the next page or null at the end; "
                    "400 VALIDATION_ERROR for a bad limit or cursor.")


def page_params() -> list:
    """``?limit=&cursor=`` of every list (bounds from kernel.limits)."""
    from gateway.openapi import _query
    return [_query("limit", {"type": "integer", "minimum": 1, "maximum": limits.LIST_LIMIT_MAX,
                             "default": limits.LIST_LIMIT}),
            _query("cursor", {"type": "string", "minLength": 1, "maxLength": limits.LIST_CURSOR},
                   "next_cursor of the previous page")]


def register(requests: dict, responses: dict, paths: dict) -> None:
    """Add this module's schemas and paths (called once by gateway.openapi,
    whose helpers are imported here lazily to avoid an import cycle)."""
    from gateway.openapi import API_PREFIX as P, ID, ROLES, _op, _open, _path_id, _query

    q = _query("q", {"type": "string", "maxLength": limits.LIST_QUERY},
               "Part of the full name (or login), case-insensitive")
    named = _open({"id": ID, "name": {"type": "string"}}, ["id", "name"])
    directory_user = _open({"id": ID, "login": {"type": "string"}, "full_name": {"type": "string"},
                            "roles": {"type": "array", "items": {"enum": ROLES}},
                            "locked": {"type": "boolean", "description": "Not active, or held back by failed "
                                                                         "logins (POST /users/{id}/unlock)"}},
                           ["id", "login", "full_name", "roles", "locked"])
    recipient = _open({"id": ID, "full_name": {"type": ["string", "null"]},
                       "role": {"type": ["string", "null"], "enum": [*ROLES, None]},
                       "class": named}, ["id", "full_name", "role"])
    news_item = _open({
        "id": ID, "kind": {"enum": ["news", "announcement"]}, "title": {"type": "string"},
        "body": {"type": "string"},
        "links": {"type": "array", "items": _open({"title": {"type": "string"}, "url": {"type": "string"}},
                                                  ["title", "url"])},
        "audience": {"type": "object"}, "published_at": {"type": "string"},
        "author": _open({"id": ID, "full_name": {"type": ["string", "null"]}}, ["id", "full_name"]),
        "author_id": ID, "created_at": {"type": "string"},
    }, ["id", "title", "body", "links", "audience", "published_at", "author"])

    def page_of(item: dict) -> dict:
        return _open({"items": {"type": "array", "items": item}, "next_cursor": {"type": ["string", "null"]}},
                     ["items", "next_cursor"])

    responses.update({
        "UserPage": page_of(directory_user),
        "RecipientPage": page_of(recipient),
        "NewsItem": news_item,
    })
    paths.setdefault(f"{P}/users", {})["get"] = _op(
        "list_users", "Пользователи школы", "people",
        params=[q, _query("role", {"enum": ROLES}, "Only those who hold this role"), *page_params()],
        ok=(200, "UserPage", "By full name"), errors=(400, 403),
        description="The admin: every user of the school; a class teacher: the students of the classes they "
                    "lead and those students' parents (R-A2, R-A3); anyone else 403. " + PAGE_DESCRIPTION)
    paths[f"{P}/messages/recipients"] = {"get": _op(
        "list_recipients", "Кому я могу написать", "messaging", params=[q, *page_params()],
        ok=(200, "RecipientPage", "By full name"), errors=(400,),
        description="The people of the caller's school POST /messages accepts as recipients (R-M1 after "
                    "R-A3), with the role they are shown with and their class (a student's, a parent's "
                    "child's, the class a class teacher leads). " + PAGE_DESCRIPTION)}
    paths[f"{P}/news/{{id}}"] = {"get": _op(
        "get_news", "Новость или объявление", "messaging", params=[_path_id(description="News item id")],
        ok=(200, "NewsItem", "The item"), errors=(404,),
        description="For its audience only (the items GET /news lists to the caller); 404 for anyone else.")}
