"""The compiled first check of request bodies (gateway.validation._fast)
never changes a verdict: for every schema of the document, what
``problems`` reports equals what jsonschema alone reports, on valid bodies
and on bodies that are wrong in the ways clients get them wrong."""
from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import openapi, validation

SCHEMAS = sorted(openapi.document()["components"]["schemas"])
REQUESTS = [name for name in SCHEMAS if name.endswith("Request") or name.endswith("Input")]

# values that sit on the edges where JSON Schema drafts and Python disagree
EDGES = [None, True, False, 0, 1, -1, 1.0, 1.5, 2**40, "", "x", "2026-10-12", "2026-02-30", "2026-10-12\n",
         "12.10.2026", "http://x", "https://example.org/a", "/local", "ftp://x", "news", "announcement",
         "lesson", "control", "ю" * 51, "a\n", [], [1], [1, True], {}, {"a": 1}]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8) | st.sampled_from(EDGES),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = openapi.document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def example(schema, depth=0):
    """A simple value of the shape ``schema`` asks for (valid or close)."""
    schema = resolve(schema) if isinstance(schema, dict) else {}
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return example(schema[key][0], depth)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object" or "properties" in schema:
        return {name: example(sub, depth + 1) for name, sub in schema.get("properties", {}).items()} if depth < 4 else {}
    if kind == "array":
        return [example(schema.get("items", {}), depth + 1) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return schema.get("minimum", 1.5)
    if kind == "boolean":
        return True
    if schema.get("format") == "date" or "date" in str(schema.get("pattern", "")):
        return "2026-10-12"
    if "pattern" in schema:
        return "https://example.org/"
    return "x" * max(1, schema.get("minLength", 1))


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, prefix + (i,))


def replaced(value, path, new):
    if not path:
        return new
    out = copy.deepcopy(value)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return out


def test_every_schema_of_the_document_is_compiled():
    # a schema left to jsonschema alone would silently lose the speed-up
    assert all(validation._fast(name) is not None for name in SCHEMAS)


@pytest.mark.parametrize("name", REQUESTS)
def test_examples_and_their_edge_variants_get_the_same_verdict(name):
    base = example({"$ref": f"#/components/schemas/{name}"})
    checked = 0
    for path in list(paths(base)):
        for edge in EDGES:
            body = replaced(base, path, edge)
            assert validation.problems(name, body) == validation.detailed_problems(name, body), (path, edge)
            checked += 1
    assert checked >= len(EDGES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(REQUESTS), data=st.data())
def test_random_changes_get_the_same_verdict(name, data):
    base = example({"$ref": f"#/components/schemas/{name}"})
    body = base
    for _ in range(data.draw(st.integers(0, 3))):
        path = data.draw(st.sampled_from(list(paths(body))))
        body = replaced(body, path, data.draw(json_values))
    assert validation.problems(name, body) == validation.detailed_problems(name, body)


def test_a_class_of_marks_is_accepted_by_the_compiled_check_alone(monkeypatch):
    body = {"marks": [{"student_id": f"s{i}", "value": 2 + i % 4, "kind": "control", "weight": 2, "comment": None}
                      for i in range(30)]}
    monkeypatch.setattr(validation, "detailed_problems", lambda *a: pytest.fail("jsonschema was asked"))
    assert validation.problems("PostMarksRequest", body) == []


def test_a_wrong_mark_is_reported_with_its_field_and_russian_text():
    body = {"marks": [{"student_id": "s1", "value": 5}, {"student_id": "s2", "value": True, "extra": 1},
                      {"value": 4.5}]}
    assert validation.problems("PostMarksRequest", body) == [
        {"field": "marks[1].extra", "message": "неизвестное поле"},
        {"field": "marks[1].value", "message": "неверный тип значения"},
        {"field": "marks[2].student_id", "message": "обязательное поле"},
        {"field": "marks[2].value", "message": "неверный тип значения"},
    ]


def test_a_schema_the_compiled_check_could_misread_is_left_to_jsonschema():
    assert validation._compilable({"type": "object", "properties": {"a": {"type": "integer"}}})
    assert not validation._compilable({"$ref": "#/components/schemas/X", "maxLength": 3})
    assert not validation._compilable({"type": "string", "format": "email"})
    assert not validation._compilable({"prefixItems": [{"type": "string"}]})
    assert not validation._compilable({"enum": [[1, 2]]})
    assert not validation._compilable({"anyOf": [{"type": "string"}, {"unevaluatedProperties": False}]})


def test_every_query_parameter_gets_the_same_verdict_from_the_compiled_check():
    """Each query parameter of the document: good and bad values are judged
    as jsonschema judges them (the compiled check only goes first)."""
    from jsonschema import Draft202012Validator, FormatChecker

    from gateway import openapi, validation

    samples = ["", "x", "2026-09-01", "2026-02-30", "2026-9-1", "a" * 300, 0, 1, -1, 10 ** 6, "abc-123"]
    checked = 0
    for path, item in openapi.document()["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            for param in op.get("parameters", []):
                if param.get("in") != "query":
                    continue
                plain = Draft202012Validator(param["schema"], format_checker=FormatChecker())
                for value in samples:
                    expected = sorted(e.validator for e in plain.iter_errors(value))
                    got = sorted(e.validator for e in validation._param_problems(path, method.upper(),
                                                                                  param["name"], value))
                    assert got == expected, (path, method, param["name"], value)
                checked += 1
    assert checked > 10
