"""Request validation against the OpenAPI document (gateway.openapi).

Problems are reported as ``details.problems = [{"field", "message"}]``
with Russian messages and field paths like ``marks[0].value``.

jsonschema walks the schema for every value and is the gateway's largest
cost on big bodies (a class of 30 marks). So a body is first checked by a
validator compiled to plain Python (fastjsonschema); only when that one
refuses does jsonschema run, and its verdict and messages are the ones
reported. The compiled check is used only for schemas whose every keyword
means the same in both (``_compilable``), so it never accepts what
jsonschema would refuse; being stricter somewhere merely costs a second
look.
"""
from __future__ import annotations

import functools
import json
import re

import fastjsonschema
from flask import g, request
from jsonschema import Draft202012Validator, FormatChecker

from gateway import openapi
from gateway.errors import ApiError
from gateway.messages import MESSAGES, text


@functools.lru_cache(maxsize=None)
def _validator(schema: str) -> Draft202012Validator:
    """A validator for one components/schemas entry; the root also holds
    the components, so ``#/components/schemas/...`` references resolve."""
    doc = openapi.document()
    root = {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]}
    return Draft202012Validator(root, format_checker=FormatChecker())


# Keywords whose draft-07 meaning (fastjsonschema) is that of draft 2020-12
# (jsonschema) or stricter; annotations change nothing.
_SAME = {"type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
         "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
         "anyOf", "oneOf", "allOf", "enum", "const", "pattern", "format", "uniqueItems"}
_ANNOTATIONS = {"description", "title", "examples", "default", "contentEncoding", "deprecated"}
_FORMATS = ("date",)


def _compilable(schema) -> bool:
    """Whether ``schema`` (and everything under it) uses only keywords the
    compiled validator reads as jsonschema does."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    keys = set(schema)
    if "$ref" in keys:  # draft-07 ignores a $ref's siblings; 2020-12 applies them
        return keys <= {"$ref"} | _ANNOTATIONS and str(schema["$ref"]).startswith("#/components/schemas/")
    if not keys <= _SAME | _ANNOTATIONS:
        return False
    if "format" in keys and schema["format"] not in _FORMATS:
        return False
    # scalars are compared by type and value in both (True is not 1);
    # arrays and objects are left to jsonschema
    literals = list(schema.get("enum", [])) + ([schema["const"]] if "const" in keys else [])
    if not all(v is None or isinstance(v, (str, bool, int, float)) for v in literals):
        return False
    subs = list(schema.get("properties", {}).values())
    for key in ("items", "additionalProperties"):
        if key in keys:
            subs.append(schema[key])
    for key in ("anyOf", "oneOf", "allOf"):
        subs.extend(schema.get(key, []))
    return all(_compilable(sub) for sub in subs)


_DATES = FormatChecker(("date",))  # built once: a FormatChecker copies its table of checks when built


def _is_date(value: str) -> bool:
    return _DATES.conforms(value, "date")


@functools.lru_cache(maxsize=None)
def _fast(schema: str):
    """A compiled check for one components/schemas entry (None where the
    schemas use something it might read differently)."""
    doc = openapi.document()
    components = doc["components"]
    if not all(_compilable(s) for s in components["schemas"].values()):
        return None
    root = {"$ref": f"#/components/schemas/{schema}", "components": components}
    return fastjsonschema.compile(root, formats={f: _is_date for f in _FORMATS}, use_default=False)


def _field(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


def _leaf_errors(error):
    # anyOf (the nullable optional fields) reports its branches as context;
    # the first non-"null" branch says what was wrong with the value.
    if error.validator == "anyOf" and error.context:
        branches = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")]
        if branches:
            return [branches[0]]
    return [error]


def _message(error) -> str:
    """The Russian text for one jsonschema error."""
    if (error.validator, error.validator_value) in (("format", "date"), ("pattern", openapi.DATE_PATTERN)):
        return text("problem.date")
    return MESSAGES.get(f"problem.{error.validator}") or text("problem.other")


def problems(schema: str, data) -> list[dict]:
    """Every problem of ``data`` against ``schema``, sorted by field."""
    if _accepted(_fast(schema), data):
        return []
    return detailed_problems(schema, data)


def _accepted(fast, data) -> bool:
    """Whether the compiled first check ``fast`` (None: none) accepts
    ``data``; a refusal is for jsonschema to decide and to word."""
    if fast is None:
        return False
    try:
        fast(data)
        return True
    except fastjsonschema.JsonSchemaException:
        return False


def detailed_problems(schema: str, data) -> list[dict]:
    """``problems`` by jsonschema alone."""
    found = {}
    for error in _validator(schema).iter_errors(data):
        for leaf in _leaf_errors(error):
            base = _field(leaf.absolute_path)
            if leaf.validator == "required" and isinstance(leaf.instance, dict):
                for name in leaf.validator_value:
                    if name not in leaf.instance:
                        found[(_join(base, name), "required")] = text("problem.required")
            elif leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
                known = leaf.schema.get("properties", {})
                for name in leaf.instance:
                    if name not in known:
                        found[(_join(base, str(name)), "unknown")] = text("problem.unknown")
            else:
                found[(base or "(body)", leaf.validator)] = _message(leaf)
    return [{"field": field, "message": message} for (field, _), message in sorted(found.items())]


def validation_error(found: list[dict]) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", details={"problems": found})


# --- text every database can keep -------------------------------------------------
#
# PostgreSQL refuses NUL in text and a lone UTF-16 surrogate cannot be encoded
# as UTF-8 (SQLite stores the NUL and shows it back). Such text is refused here,
# once, for every route: path values, query values, JSON strings and keys at any
# depth, multipart names. JSON nesting is bounded too: the parser and the schema
# check recurse, and a body of 100,000 levels would raise RecursionError.

MAX_JSON_DEPTH = 64
MAX_TEXT_PROBLEMS = 20  # listed per answer; the first ones are enough to fix a client
_BROKEN = re.compile("[\x00\ud800-\udfff]")


def broken_text(value: str) -> bool:
    """Whether ``value`` holds a NUL or a lone surrogate."""
    return _BROKEN.search(value) is not None


def printable(value: str) -> str:
    """``value`` with its NULs and lone surrogates shown as U+FFFD (for
    field names in answers and logs)."""
    return _BROKEN.sub("\ufffd", value)


def _text_problem(field: str) -> dict:
    return {"field": printable(field), "message": text("problem.text")}


def json_text_problems(data, base: str = "") -> list[dict]:
    """A problem per JSON string or key with broken text (``marks[0].comment``),
    walked without recursion."""
    found, stack = [], [(base, data)]
    while stack and len(found) < MAX_TEXT_PROBLEMS:
        field, value = stack.pop()
        if isinstance(value, str):
            if broken_text(value):
                found.append(_text_problem(field or "(body)"))
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                name = _join(field, key)
                if broken_text(key):
                    found.append(_text_problem(name))
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{field}[{i}]", item) for i, item in reversed(list(enumerate(value))))
    return sorted(found[:MAX_TEXT_PROBLEMS], key=lambda p: p["field"])


def _depth(data) -> int:
    """How deeply ``data`` nests (a scalar is 0), without recursion; stops
    counting past :data:`MAX_JSON_DEPTH`."""
    deepest, stack = 0, [(data, 1)] if isinstance(data, (dict, list)) else []
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        items = value.values() if isinstance(value, dict) else value
        stack.extend((item, level + 1) for item in items if isinstance(item, (dict, list)))
    return deepest


# In JSON text broken text can only be an escape (\u0000, \ud800) or, since
# json decodes with "surrogatepass", a surrogate's UTF-8 bytes (a raw NUL is
# refused by the parser): a body without these needs no walk.
_MAYBE_BROKEN_JSON = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def read_json():
    """The request's body as a JSON object, or 400 ``MALFORMED_JSON``
    (not JSON, not an object, nested deeper than :data:`MAX_JSON_DEPTH`).
    Parsed once per request."""
    if "json_body" in g:
        return g.json_body
    if not request.is_json:
        raise ApiError(400, "MALFORMED_JSON", details={"content_type": "application/json"})
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ApiError(400, "MALFORMED_JSON", text("JSON_TOO_DEEP"), {"max_depth": MAX_JSON_DEPTH}) from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "MALFORMED_JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "MALFORMED_JSON")
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and _depth(data) > MAX_JSON_DEPTH:
        raise ApiError(400, "MALFORMED_JSON", text("JSON_TOO_DEEP"), {"max_depth": MAX_JSON_DEPTH})
    g.json_body = data
    return data


def request_text_problems(json_data=None) -> list[dict]:
    """Every piece of broken text in the request: path values, query names
    and values, multipart field names, values and file names, and (given
    the parsed body) JSON strings and keys."""
    found = []
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and broken_text(value):
            found.append(_text_problem(name))
    multipart = request.mimetype == "multipart/form-data"
    for source in (request.args, request.form) if multipart else (request.args,):
        for name, value in source.items(multi=True):
            if broken_text(name) or broken_text(value):
                found.append(_text_problem(name))
    if multipart:
        for name, upload in request.files.items(multi=True):
            if broken_text(name) or broken_text(upload.filename or ""):
                found.append(_text_problem(f"{name}.filename"))
    if json_data is not None and _MAYBE_BROKEN_JSON.search(request.get_data(cache=True)):
        found.extend(json_text_problems(json_data))
    return found[:MAX_TEXT_PROBLEMS]


def json_body() -> dict:
    """The request's JSON body, validated against the requestBody schema
    that the OpenAPI document gives this route and method (checked once
    per request, by gateway.guard before the view runs)."""
    if "valid_body" in g:
        return g.valid_body
    op = openapi.operation(openapi.path_of_rule(request.url_rule.rule), request.method)
    schema = openapi.request_schema_name(op)
    if schema is None:  # a programming error: the view expects a body the document does not declare
        raise LookupError(f"no requestBody for {request.method} {request.url_rule.rule}")
    data = read_json()
    found = problems(schema, data)
    if found:
        raise validation_error(found)
    g.valid_body = data
    return data


@functools.lru_cache(maxsize=None)
def _param_validator(path: str, method: str, name: str) -> Draft202012Validator:
    op = openapi.operation(path, method)
    (schema,) = [p["schema"] for p in op["parameters"] if p["name"] == name and p["in"] == "query"]
    return Draft202012Validator(schema, format_checker=FormatChecker())


@functools.lru_cache(maxsize=None)
def _param_fast(path: str, method: str, name: str):
    """The compiled first check of one query parameter (None where its
    schema is not :func:`_compilable`): what it accepts, jsonschema accepts."""
    op = openapi.operation(path, method)
    (schema,) = [p["schema"] for p in op["parameters"] if p["name"] == name and p["in"] == "query"]
    if not _compilable(schema) or "$ref" in json.dumps(schema):
        return None
    return fastjsonschema.compile(schema, formats={f: _is_date for f in _FORMATS}, use_default=False)


def _param_problems(path: str, method: str, name: str, value) -> list:
    """jsonschema's errors for one query value, after the compiled check."""
    if _accepted(_param_fast(path, method, name), value):
        return []
    return sorted(_param_validator(path, method, name).iter_errors(value), key=lambda e: e.validator)


_INTEGER = re.compile(r"-?[0-9]{1,9}")


def _coerce(value: str, schema: dict):
    """A query string value as the type its schema wants (None if it cannot be)."""
    if schema.get("type") == "integer":
        # int() alone would also take " 5" and "1_0"
        return int(value) if _INTEGER.fullmatch(value) else None
    return value


def query_params() -> dict:
    """The query parameters the document declares for this route, coerced,
    defaulted and validated (undeclared ones are ignored); checked once per
    request."""
    if "valid_query" in g:
        return g.valid_query
    path = openapi.path_of_rule(request.url_rule.rule)
    op = openapi.operation(path, request.method)
    out, found = {}, []
    for param in op.get("parameters", []):
        if param["in"] != "query":
            continue
        name, schema = param["name"], param["schema"]
        raw = request.args.get(name)
        if raw is None or raw == "":
            if param.get("required"):
                found.append({"field": name, "message": text("problem.required")})
            elif "default" in schema:
                out[name] = schema["default"]
            continue
        value = _coerce(raw, schema)
        if value is None:
            found.append({"field": name, "message": text("problem.integer")})
            continue
        errors = _param_problems(path, request.method, name, value)
        if errors:
            found.append({"field": name, "message": _message(errors[0])})
            continue
        out[name] = value
    if found:
        raise validation_error(found)
    g.valid_query = out
    return out
