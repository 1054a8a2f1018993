"""Checks an answer against what the OpenAPI document promises for it."""
from __future__ import annotations

from jsonschema import Draft202012Validator

from gateway import openapi


def assert_documented(response, path: str, method: str) -> None:
    """The status is listed for the operation and the JSON body matches its schema."""
    doc = openapi.document()
    op = doc["paths"][path][method.lower()]
    entry = op["responses"].get(str(response.status_code))
    assert entry is not None, f"{method} {path}: {response.status_code} is not documented"
    if "$ref" in entry:
        entry = doc["components"]["responses"][entry["$ref"].rsplit("/", 1)[-1]]
    schema = entry.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return
    root = {**schema, "components": doc["components"]}
    errors = list(Draft202012Validator(root).iter_errors(response.get_json()))
    assert not errors, f"{method} {path} {response.status_code}: {[e.message for e in errors]}"
