"""Pending inspections are invisible to the people inspected (issue 8, with the
authorization sweep): nothing still pending (an assignment, a draw and its frame, a
draft finding and its problems, the team's arrival, a roll-call not yet issued) reaches
the cadre it concerns by any GET they may call, with any object or filter; nor can they
act on it; and the team itself sees an assignment only from its window's start.
World A's cadre is the one inspected (tests/api/sweep_inspections.py)."""

import pytest

from server.services.ledger import local_today
from tests.api import sweep_creates as creates
from tests.api import sweep_fixtures as fixtures
from tests.api import sweep_kit as kit
from tests.api import sweep_lists as lists
from tests.api.sweep_fixtures import allowed, describe, object_combos, spec_operations

# The worlds, built once for this module (sweep_fixtures.py).
sweep = fixtures.sweep
_transaction = fixtures._transaction


def pending_shown(response, op, side):
    """What of the inspections still pending for side's cadre a response shows."""
    params = kit.object_params(op)
    row_kind = params[-1][:-3] if params else lists.LISTS.get(op)
    shown = [
        f"{kind} {i}"
        for kind, i in lists.referenced(response.get_json(silent=True), row_kind)
        if i in side.pending.get(kind, ())
    ]
    text = kit.text_of(response)
    return shown + sorted(s for s in side.pending["strings"] if s in text)


def cadre_reads():
    return sorted(
        op
        for op in spec_operations()
        if op.startswith("GET ") and op not in kit.NO_TOKEN and allowed(op, "cadre")
    )


def local_month():
    return local_today().strftime("%Y-%m")


@pytest.mark.parametrize("op", cadre_reads())
def test_nothing_pending_reaches_the_inspected_cadre(sweep, app, op):
    """Every GET the cadre may call, with every object of their world and every filter:
    no assignment, draw, draft finding, team arrival or scheduled roll-call shows."""
    client = app.test_client()
    headers = sweep.a.headers("cadre")
    if kit.object_params(op):
        months = [{}] + ([{"month": local_month()}] if "{month}" in op else [])
        tries = [({**ids, **month}, None) for ids in object_combos(op, sweep.a) for month in months]
    else:
        tries = [({}, query) for query in lists.variants(spec_operations()[op], sweep.a)]
    wrong = []
    for ids, query in tries:
        response = sweep.isolated(
            lambda: kit.send(client, op, ids, headers, query)  # noqa: B023
        )
        names_pending = any(
            v in sweep.a.pending.get(p[:-3], ()) for p, v in ids.items() if p != "month"
        )
        if names_pending and not response.get_json()["error"].endswith("_not_found"):
            wrong.append(f"{ids}: {describe(response)} for a pending record")
        found = pending_shown(response, op, sweep.a)
        if found or response.status_code >= 500:
            wrong.append(f"{ids or query}: {describe(response)} shows {found}")
    assert not wrong, "\n".join(wrong)


def test_the_cadre_sees_what_is_no_longer_pending(sweep, app):
    """The control: a final finding about them and an issued roll-call do show."""
    client = app.test_client()
    headers = sweep.a.headers("cadre")
    final = sweep.get(client, f"/api/v1/findings/{sweep.a.objects['finding_final']}", headers)
    assert final.status_code == 200 and final.json["status"] == "final"
    listed = sweep.get(client, "/api/v1/findings", headers).json
    assert [f["id"] for f in listed] == [sweep.a.objects["finding_final"]]
    challenges = sweep.get(client, "/api/v1/me/challenges", headers).json
    assert [c["id"] for c in challenges] == [sweep.a.objects["challenge_issued"]]


# The cadre's writes that name a pending record: answered as for one that does not exist.
PENDING_WRITES = [
    ("POST /api/v1/problems/{problem_id}/start", "problem_id", "problem_draft"),
    ("POST /api/v1/problems/{problem_id}/submit", "problem_id", "problem_draft"),
]


@pytest.mark.parametrize(("op", "param", "label"), PENDING_WRITES)
def test_the_cadre_cannot_act_on_a_pending_record(sweep, app, op, param, label):
    client = app.test_client()
    headers = sweep.a.headers("cadre")

    def send(value):
        return sweep.isolated(lambda: kit.send(client, op, {param: value}, headers))

    pending = send(sweep.a.objects[label])
    assert pending.status_code == 404
    assert pending.get_json() == send(kit.MISSING).get_json()


def test_a_roll_call_not_yet_issued_cannot_be_answered_or_probed(sweep, app):
    client = app.test_client()
    own = sweep.a
    [scheduled] = own.pending["challenge"]
    body = next(b for op, b, ref, _ in creates.CREATES if ref == "challenge_issued")

    def answer(value):
        built = body(own, value)
        return sweep.isolated(
            lambda: kit.send(client, "POST /api/v1/checkins", {}, own.headers("cadre"), body=built)
        )

    assert creates.answer_without(answer(scheduled), scheduled) == creates.answer_without(
        answer(kit.MISSING), kit.MISSING
    )


@pytest.mark.parametrize("label", ["inspector", "inspector2"])
def test_an_assignment_is_sealed_from_its_team_until_the_window_opens(sweep, app, label):
    client = app.test_client()
    headers = sweep.a.headers(label)
    listed = {a["id"] for a in sweep.get(client, "/api/v1/assignments", headers).json}
    assert sweep.a.objects["assignment_open"] in listed
    assert sweep.a.objects["assignment_pending"] not in listed
    for op in (
        "GET /api/v1/assignments/{assignment_id}",
        "POST /api/v1/assignments/{assignment_id}/arrival",
        "POST /api/v1/assignments/{assignment_id}/findings",
    ):
        sealed, missing = (
            sweep.isolated(
                lambda: kit.send(client, op, {"assignment_id": value}, headers)  # noqa: B023
            )
            for value in (sweep.a.objects["assignment_pending"], kit.MISSING)
        )
        assert sealed.status_code == 404, (op, describe(sealed))
        assert sealed.get_json() == missing.get_json()
