"""The authorization sweep (issue 8), generated from the OpenAPI spec: every operation
is tried, so that one added later without scoping fails here until it is placed.

- Without a token, every operation that needs one answers 401 in the error shape.
- World B's people (a city and a county reviewer, an inspector, a cadre) and world A's
  other cadre get, for every operation naming one of world A's objects, 404 exactly as
  for an id that does not exist (403 role_required where the spec says the role may not
  call it at all; public reference data excepted, see sweep_kit.PUBLIC).
- No list, report or export shows them a row of world A, whatever its filters say.
- A creation naming world A's objects answers as if they did not exist.

The tables are in sweep_kit.py, sweep_lists.py and sweep_creates.py; the worlds in
sweep_world.py (test_pending_sweep.py holds the last point).
"""

import pytest

from tests.api import sweep_creates as creates
from tests.api import sweep_fixtures as fixtures
from tests.api import sweep_kit as kit
from tests.api import sweep_lists as lists
from tests.api.sweep_fixtures import allowed, describe, is_error, object_combos, spec_operations

# The worlds, built once for this module (sweep_fixtures.py).
sweep = fixtures.sweep
_transaction = fixtures._transaction


def id_operations():
    return sorted(op for op in spec_operations() if kit.object_params(op))


# ---------------------------------------------------------------- the spec itself


def test_every_operation_is_swept_or_excused():
    ops = spec_operations()
    made = {op for op, *_ in creates.CREATES}
    places = {
        "ids": {op for op in ops if kit.object_params(op)},
        "lists": set(lists.LISTS) | set(lists.PUBLIC_LISTS),
        "creates": made,
        "unscoped": set(kit.UNSCOPED),
    }
    for op in ops:
        found = [name for name, members in places.items() if op in members]
        assert len(found) == 1, f"{op}: place it in exactly one table ({found})"
    stale = set().union(*places.values()) - set(ops)
    assert not stale, f"not in the spec any more: {stale}"
    for op in places["ids"]:
        if "requestBody" in ops[op]:
            assert op in kit.BODIES, f"{op}: give BODIES a body that passes validation"


def test_the_role_gates_are_the_documented_ones():
    documented = {
        op: gate
        for op, operation in spec_operations().items()
        if (gate := kit.documented_gate(operation))
    }
    assert documented == kit.GATES


def test_every_other_403_the_sweep_expects_is_documented():
    """A 403 other than the role gate (for public reference data, whose existence is no
    secret) is acceptable only where the spec says so, by its error code."""
    expected = [(op, e[1]) for op, e in kit.PUBLIC.items() if e[0] == 403]
    expected += [(op, e[1]) for op, _, _, e in creates.CREATES if e and e[0] == 403]
    ops = spec_operations()
    for op, error in expected:
        assert error in kit.documented_403(ops[op]), f"{op}: document {error}"


def test_only_the_excused_operations_need_no_token():
    ops = spec_operations()
    open_ = {op for op, operation in ops.items() if not operation.get("security")}
    assert open_ == kit.NO_TOKEN
    for op in set(ops) - kit.NO_TOKEN:
        assert "401" in ops[op]["responses"], f"{op}: document the 401"


# ---------------------------------------------------------------- no token


def test_without_a_token_every_protected_operation_is_401(sweep, app):
    client = app.test_client()
    ids = {p: sweep.a.objects[labels[0]] for p, labels in kit.PATH_OBJECTS.items()}
    wrong = []
    for op in sorted(set(spec_operations()) - kit.NO_TOKEN):
        for headers, error in (
            ({}, "unauthorized"),
            ({"Authorization": "Bearer not-a-token"}, "invalid_token"),
        ):
            response = sweep.isolated(lambda: kit.send(client, op, ids, headers))  # noqa: B023
            if not is_error(response, 401, error):
                wrong.append(f"{op} {headers or 'no token'}: {describe(response)}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------- objects by id


def expected_for(op, label):
    if not allowed(op, label):
        return 403, "role_required"
    return kit.PUBLIC.get(op, (404, None))


def callers(sweep):
    """World B's people, and world A's other cadre (a neighbour of the cadre)."""
    found = [(f"B.{label}", sweep.b.headers(label), label) for label in kit.OUTSIDERS]
    return [*found, ("A.other_cadre", sweep.a.headers("other_cadre"), "other_cadre")]


@pytest.mark.parametrize("op", id_operations())
def test_objects_of_world_a_are_hidden_from_everyone_outside_it(sweep, app, op):
    client = app.test_client()
    missing = dict.fromkeys(kit.object_params(op), kit.MISSING)
    wrong = []
    for name, headers, label in callers(sweep):
        status, error = expected_for(op, label)
        nowhere = sweep.isolated(lambda: kit.send(client, op, missing, headers))  # noqa: B023
        for ids in object_combos(op, sweep.a):
            response = sweep.isolated(lambda: kit.send(client, op, ids, headers))  # noqa: B023
            ok = response.status_code == status
            if status == 404:
                # Hidden exactly: the very answer an id that does not exist gets.
                ok = ok and response.get_json() == nowhere.get_json()
                ok = ok and response.get_json()["error"].endswith("_not_found")
            elif status >= 400:
                ok = ok and is_error(response, status, error)
            if not ok:
                wrong.append(f"{name} {ids}: {describe(response)}, expected {status} {error}")
    assert not wrong, "\n".join(wrong)


# World B's own records that cite something of world A's (sweep_world.crossing).
CROSSINGS = {"checkin_id": "crossing", "case_id": "crossing_case"}


def own_reads():
    return [op for op in id_operations() if op.startswith("GET ")]


@pytest.mark.parametrize("op", own_reads())
def test_world_b_s_own_records_name_nothing_of_world_a(sweep, app, op):
    """A record of B's may point at A's (a photo first used there, a phone shared): the
    pointers are left out for whoever may not see A's side."""
    client = app.test_client()
    params = kit.object_params(op)
    combos = object_combos(op, sweep.b)
    if len(params) == 1 and params[0] in CROSSINGS:
        combos.append({params[0]: sweep.b.objects[CROSSINGS[params[0]]]})
    wrong = []
    for label in kit.OUTSIDERS:
        for ids in combos:
            response = sweep.isolated(
                lambda: kit.send(client, op, ids, sweep.b.headers(label))  # noqa: B023
            )
            found = lists.leaks(response, None, sweep.rows_a, "SideA")
            if found or response.status_code >= 500:
                wrong.append(f"B.{label} {ids}: {describe(response)} shows {found}")
    assert not wrong, "\n".join(wrong)


def insider(op):
    """Who in world A may reach the object (the control that the ids are real)."""
    gate = kit.GATES.get(op, {"admin"})
    for label in ("admin", "inspector", "cadre"):
        if kit.ROLES[label] & gate:
            return label
    raise AssertionError(op)


@pytest.mark.parametrize("op", id_operations())
def test_the_swept_objects_are_real_and_the_bodies_valid(sweep, app, op):
    """The control: world A's insider reaches every object the sweep tries (so each
    404 above is the scope speaking), with a body that passes validation."""
    client = app.test_client()
    label = insider(op)
    headers = sweep.a.tokens[label]
    wrong = []
    for ids in object_combos(op, sweep.a):
        if (
            label == "inspector"
            and ids.get("assignment_id") == sweep.a.objects["assignment_pending"]
        ):
            continue  # sealed from the team too until its window opens (test_pending_sweep)
        response = sweep.isolated(lambda: kit.send(client, op, ids, headers))  # noqa: B023
        body = response.get_json(silent=True) or {}
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code in (404, 500) or error in ("validation_error", "role_required"):
            wrong.append(f"{label} {ids}: {describe(response)} {body}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------- lists


@pytest.mark.parametrize("op", sorted(lists.LISTS))
def test_no_list_shows_world_b_a_row_of_world_a(sweep, app, op):
    client = app.test_client()
    wrong = []
    for label in kit.OUTSIDERS:
        headers = sweep.b.headers(label)
        for query in lists.variants(spec_operations()[op], sweep.a):
            response = sweep.isolated(
                lambda: kit.send(client, op, {}, headers, query)  # noqa: B023
            )
            if not allowed(op, label):
                if not is_error(response, 403, "role_required"):
                    wrong.append(f"B.{label}: {describe(response)}, expected 403")
                break
            if response.status_code >= 500:
                wrong.append(f"B.{label} {query}: {describe(response)}")
            found = lists.leaks(response, lists.LISTS[op], sweep.rows_a, "SideA")
            if found:
                wrong.append(f"B.{label} {query}: {describe(response)} shows {found}")
            for name in lists.HIDDEN_POINTERS & set(query):
                if not filters_like_nothing(sweep, client, op, headers, query, name, response):
                    wrong.append(f"B.{label} {query}: {describe(response)}, unlike a missing id")
    assert not wrong, "\n".join(wrong)


def filters_like_nothing(sweep, client, op, headers, query, name, response):
    """A filter on a hidden object answers exactly as a filter on one that does not
    exist (status, body, page count): nothing tells the caller it is there."""
    value, nowhere_query = query[name], {**query, name: kit.MISSING}
    nowhere = sweep.isolated(lambda: kit.send(client, op, {}, headers, nowhere_query))
    return (
        response.status_code == nowhere.status_code
        and response.headers.get("X-Pagination") == nowhere.headers.get("X-Pagination")
        and creates.answer_without(response, value) == creates.answer_without(nowhere, kit.MISSING)
    )


# Who in world A sees its rows in each list (the control that the sweep can see them).
LIST_INSIDERS = {
    "GET /api/v1/me": "cadre",
    "GET /api/v1/me/challenges": "cadre",
    "GET /api/v1/me/reviews": "cadre",
    "GET /api/v1/me/cases": "cadre",
    "GET /api/v1/assignments": "inspector",
    "GET /api/v1/audit-events": "admin",
}
# A verdict on the whole audit chain: it has no rows to show anyone.
NO_ROWS = {"GET /api/v1/audit-events/verification"}


@pytest.mark.parametrize("op", sorted(set(lists.LISTS) - NO_ROWS))
def test_world_a_sees_its_own_rows_in_every_list(sweep, app, op):
    """The control: the same queries show world A's insider its rows (so an empty
    answer above is the scope speaking)."""
    client = app.test_client()
    headers = sweep.a.tokens[LIST_INSIDERS.get(op, "reviewer")]
    shown = []
    for query in lists.variants(spec_operations()[op], sweep.a):
        response = sweep.isolated(
            lambda: kit.send(client, op, {}, headers, query)  # noqa: B023
        )
        assert response.status_code < 500, describe(response)
        shown += lists.leaks(response, lists.LISTS[op], sweep.rows_a, "SideA")
    assert shown


@pytest.mark.parametrize("op", sorted(lists.PUBLIC_LISTS))
def test_public_lists_answer_everyone(sweep, app, op):
    client = app.test_client()
    query = lists.variants(spec_operations()[op], sweep.a)[0]
    for label in kit.OUTSIDERS:
        response = sweep.isolated(
            lambda: kit.send(client, op, {}, sweep.b.headers(label), query)  # noqa: B023
        )
        assert response.status_code == 200, (label, describe(response))


# ---------------------------------------------------------------- creations


@pytest.mark.parametrize(
    "case", creates.CREATES, ids=[f"{op} {ref}" for op, _, ref, _ in creates.CREATES]
)
def test_creations_naming_world_a_answer_as_if_it_did_not_exist(sweep, app, case):
    op, body, ref, expected = case
    client = app.test_client()
    value = creates.reference(sweep.a, ref)
    wrong = []
    for label in kit.OUTSIDERS:
        headers = sweep.b.headers(label)
        built = body(sweep.b, value)

        def named(built=built, headers=headers):
            return sweep.isolated(lambda: kit.send(client, op, {}, headers, body=built))

        response = named()
        if not allowed(op, label):
            ok = is_error(response, 403, "role_required")
        elif expected is None:
            # (A batch answers 200 with an answer per item: those must agree too.)
            nowhere = named(body(sweep.b, kit.MISSING), headers)
            ok = creates.answer_without(response, value) == creates.answer_without(
                nowhere, kit.MISSING
            )
        else:
            ok = is_error(response, *expected)
        if not ok:
            wrong.append(f"B.{label}: {describe(response)} {response.get_json()}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "case", creates.CREATES, ids=[f"{op} {ref}" for op, _, ref, _ in creates.CREATES]
)
def test_the_same_creations_from_inside_world_a_reach_their_object(sweep, app, case):
    """The control: inside world A the reference is recognized (so the answers above
    are the scope speaking, not a body that fails for another reason)."""
    op, body, ref, expected = case
    client = app.test_client()
    label = next(lb for lb in ("reviewer", "cadre") if allowed(op, lb))
    headers = sweep.a.headers(label)

    def send(value):
        built = body(sweep.a, value)
        return sweep.isolated(lambda: kit.send(client, op, {}, headers, body=built))

    response = send(creates.reference(sweep.a, ref))
    assert response.status_code < 500, describe(response)
    if expected is None:
        assert response.get_json() != send(kit.MISSING).get_json()
    else:
        assert not is_error(response, *expected), describe(response)
