"""The OpenAPI document and Flask's URL map list exactly the same routes,
and the document is complete: request schemas closed, error schema used."""
from __future__ import annotations

import re

from jsonschema import Draft202012Validator

from gateway import openapi

AUTOMATIC = {"HEAD", "OPTIONS"}


def routes_of(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods - AUTOMATIC:
            found.add((openapi.path_of_rule(rule.rule), method.lower()))
    return found


def documented(doc) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item}


def test_every_route_is_documented_and_every_operation_is_routed(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert routes_of(app) == documented(doc)


def test_api_md_routes_of_this_slice_are_present(app):
    expected = {("/api/v1" + p, m) for m, p in [
        ("post", "/auth/login"), ("get", "/me"), ("post", "/users"), ("post", "/students/{id}/parents"),
        ("put", "/parents/{id}/consent"), ("post", "/years"), ("post", "/subjects"), ("post", "/classes"),
        ("post", "/classes/{id}/students"), ("post", "/assignments"), ("post", "/lessons"),
        ("put", "/lessons/{id}/marks"), ("get", "/students/{id}/diary"), ("get", "/notifications"),
        ("get", "/reports/{kind}"), ("post", "/backups"), ("get", "/backups"), ("get", "/openapi.json")]}
    expected |= {("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get"), ("/", "get")}
    assert expected <= routes_of(app)


def test_document_basics(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["schemas"]["Error"]["required"] == ["error", "message", "details"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_resolves():
    doc = openapi.document()
    for ref in set(_refs(doc)):
        assert ref.startswith("#/components/"), ref
        _, _, section, name = ref.split("/")
        assert name in doc["components"][section], ref


def test_every_json_operation_documents_errors_and_bodies():
    doc = openapi.document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            assert any(code.startswith("2") for code in responses), (path, method)
            if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
                assert {"500", "503"} <= set(responses), (path, method)
                if op["security"]:
                    assert "401" in responses, (path, method)
            if "requestBody" in op:
                assert "400" in responses, (path, method)
            for name in re.findall(r"{(\w+)}", path):
                assert any(p["name"] == name and p["in"] == "path" for p in op.get("parameters", [])), (path, name)


def test_request_schemas_are_closed_and_valid():
    doc = openapi.document()
    for name, schema in openapi.REQUEST_SCHEMAS.items():
        Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False, name
        assert set(schema["required"]) <= set(schema["properties"]), name
    used = {openapi.request_schema_name(op) for item in doc["paths"].values() for op in item.values()} - {None}
    nested = {"PeriodInput", "MarkInput", "TimetableSlotInput", "PlanTopicInput"}
    assert used | nested == set(openapi.REQUEST_SCHEMAS)
