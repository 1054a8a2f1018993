"""The gateway's route guard (gateway.guard.ROUTES) says who may ever use a
route, so that a caller who may not is refused before their request is
validated. It must agree with identity's access policy (the source of
truth for every action identity decides) and with the school's access
policy (tests/access_policy.md): it never refuses a role the school lets
use a route, and where it answers alone (no resource to ask about) its 403
is the policy's answer. R-A1, R-A3, R-A5."""
from __future__ import annotations

from identity import decisions

from gateway import guard

from access_matrix_lib import ROLES, read_policy

ALL = frozenset(ROLES)


def test_route_roles_are_identitys_roles_for_every_action_it_decides():
    checked = 0
    for key, route in guard.ROUTES.items():
        rule = decisions.POLICY.get(route.action)
        if rule is None:
            continue
        assert (route.roles or ALL) == (rule.roles or ALL), key
        assert route.resource == rule.resource, key
        checked += 1
    assert checked >= 20
    decided_elsewhere = {r.action for r in guard.ROUTES.values() if r.action and r.action not in decisions.POLICY}
    assert decided_elsewhere == set(decisions.ACTION_RESOURCE)  # diary, report, user card
    for route in guard.ROUTES.values():
        if route.action in decisions.ACTION_RESOURCE:
            assert route.resource == decisions.ACTION_RESOURCE[route.action]


def test_route_roles_agree_with_the_schools_access_policy():
    cells = read_policy()
    by_route: dict = {}
    for (route, scope, role), status in cells.items():
        by_route.setdefault(route, {}).setdefault(role, set()).add(status)
    assert set(by_route) == set(guard.ROUTES)
    for key, route in guard.ROUTES.items():
        allowed = route.roles or ALL
        for role, statuses in by_route[key].items():
            if any(200 <= s < 300 for s in statuses):
                assert role in allowed, f"{key}: the guard refuses {role}, whom the school allows"
            if role not in allowed:
                assert statuses <= {403, 404}, (key, role, statuses)
                if not route.action:  # nothing to ask identity: the guard's 403 is the answer
                    assert statuses == {403}, (key, role, statuses)
