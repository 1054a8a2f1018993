"""The gateway's JSON answers written with orjson (several times faster than
the standard library on a large answer such as the class journal grid).

The text is what Flask's default provider writes with this app's settings
(compact, non-ASCII kept, keys in insertion order, a final newline): dates,
datetimes, dataclasses and subclasses of str/int/dict/list are passed to
Flask's own ``default`` hook, so they come out as before. What orjson
refuses (an integer beyond 64 bits, a non-string key) falls back to the
standard library; the pretty-printed debug output stays on it too."""
from __future__ import annotations

import typing as t

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
            | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_APPEND_NEWLINE)


class FastJSONProvider(DefaultJSONProvider):
    ensure_ascii = False
    sort_keys = False

    def _fast(self, obj) -> bytes | None:
        if self.ensure_ascii or self.sort_keys:
            return None
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS)
        except TypeError:
            return None

    def response(self, *args: t.Any, **kwargs: t.Any):
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)
        obj = self._prepare_response_obj(args, kwargs)
        body = self._fast(obj)
        if body is None:
            return super().response(*args, **kwargs)
        return self._app.response_class(body, mimetype=self.mimetype)
