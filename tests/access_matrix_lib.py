"""Reads tests/access_policy.md (the school's access policy) into cells:
``{(route, scope, role): status}`` with route as ``"METHOD /path"``."""
from __future__ import annotations

import pathlib

POLICY = pathlib.Path(__file__).with_name("access_policy.md")
ROLES = ("admin", "director", "deputy", "class_teacher", "teacher", "secretary", "news_editor",
         "scheduler", "student", "parent")


def read_policy(path: pathlib.Path = POLICY) -> dict:
    """Every cell of the policy table; malformed rows raise ValueError."""
    cells: dict = {}
    header = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("| "):
            continue
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if parts[0] == "Маршрут":
            header = parts
            if tuple(parts[3:]) != ROLES:
                raise ValueError(f"line {number}: role columns must be {ROLES}")
            continue
        if header is None or set(parts[0]) <= {"-"}:
            continue  # the legend table above, or a separator line
        if len(parts) != len(header):
            raise ValueError(f"line {number}: {len(parts)} cells, expected {len(header)}")
        route, _, scope = parts[0], parts[1], parts[2]
        for role, value in zip(ROLES, parts[3:]):
            if not value.isdigit():
                raise ValueError(f"line {number}: {role}: {value!r} is not a status code")
            key = (route, scope, role)
            if key in cells:
                raise ValueError(f"line {number}: duplicate row {route} / {scope}")
            cells[key] = int(value)
    if not cells:
        raise ValueError("no policy rows found")
    return cells


def routes_of(cells: dict) -> set:
    return {route for route, _, _ in cells}
