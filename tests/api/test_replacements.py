"""What a recall leaves owed: the dispatching unit's replacement, listed for the
departments concerned and met by naming the new posting."""

from datetime import timedelta

import pytest

from server.extensions import db
from server.models import AuditEvent, ReplacementObligation
from server.services.ledger import local_today
from tests.api.case_kit import deadline_passed, decide, own_initiative
from tests.test_platform import assert_error


def recall(client, make, reviewer, posting):
    case = own_initiative(client, make.headers(reviewer), posting, "recall").json
    deadline_passed(case["id"])
    decision = decide(client, make.headers(reviewer), case["id"], "recall")
    assert decision.status_code == 201, decision.json
    return db.session.execute(
        db.select(ReplacementObligation).where(
            ReplacementObligation.decision_id == decision.json["id"]
        )
    ).scalar_one()


@pytest.fixture
def owed(client, world, make):
    return recall(client, make, world.reviewer_a, world.posting_a)


def fulfil(client, headers, obligation_id, posting_id):
    return client.post(
        f"/api/v1/replacements/{obligation_id}/fulfil",
        json={"posting_id": posting_id},
        headers=headers,
    )


def listed(client, make, user, query=""):
    response = client.get(f"/api/v1/replacements{query}", headers=make.headers(user))
    assert response.status_code == 200, response.json
    return [row["id"] for row in response.json]


def test_the_departments_concerned_see_it(client, world, make, owed):
    for user in (world.admin, world.city_reviewer, world.reviewer_a):
        assert listed(client, make, user) == [owed.id]
    assert listed(client, make, world.reviewer_b) == []
    for user in (world.cadre_a, world.inspector_a):
        response = client.get("/api/v1/replacements", headers=make.headers(user))
        assert_error(response, 403, "role_required")
    row = client.get("/api/v1/replacements", headers=make.headers(world.reviewer_a)).json[0]
    assert row["unit_id"] == world.unit_a.id and row["unit_name"] == world.unit_a.name
    assert row["village_code"] == world.village_a1.code and row["status"] == "open"
    assert row["deadline"] == (local_today() + timedelta(days=30)).isoformat()
    assert row["overdue"] is False and row["replacement_posting_id"] is None


def test_filters(client, world, make, owed):
    admin = world.admin
    assert listed(client, make, admin, "?status=open") == [owed.id]
    assert listed(client, make, admin, "?status=fulfilled") == []
    assert listed(client, make, admin, f"?unit_id={world.unit_b.id}") == []
    assert listed(client, make, admin, "?overdue=true") == []
    assert listed(client, make, admin, "?overdue=false") == [owed.id]
    owed.deadline = local_today() - timedelta(days=1)
    db.session.commit()
    assert listed(client, make, admin, "?overdue=true") == [owed.id]
    row = client.get("/api/v1/replacements", headers=make.headers(admin)).json[0]
    assert row["overdue"] is True
    bad = client.get("/api/v1/replacements?status=late", headers=make.headers(admin))
    assert_error(bad, 422, "validation_error")


def test_a_new_posting_of_the_unit_in_the_village_fulfils_it(client, world, make, owed):
    successor = make.user("cadre", name="陈新", unit=world.unit_a)
    posting = make.posting(successor, world.village_a1, world.unit_a, start=local_today())
    db.session.commit()
    reviewer = make.headers(world.reviewer_a)
    response = fulfil(client, reviewer, owed.id, posting.id)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "fulfilled"
    assert response.json["replacement_posting_id"] == posting.id
    assert response.json["fulfilled_at"]
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "replacement.fulfil")
    ).scalar_one()
    assert event.summary["replacement_posting_id"] == posting.id
    assert event.summary["overdue"] is False
    again = fulfil(client, reviewer, owed.id, posting.id)
    assert_error(again, 409, "replacement_fulfilled")
    assert again.json["errors"] == {"replacement_posting_id": posting.id}


def test_what_does_not_replace(client, world, make, owed):
    today = local_today()
    cadres = [make.user("cadre", unit=world.unit_a) for _ in range(4)]
    elsewhere = make.posting(cadres[0], world.village_a2, world.unit_a, start=today)
    other_unit = make.posting(cadres[1], world.village_a1, world.unit_b, start=today)
    too_early = make.posting(
        cadres[2], world.village_a1, world.unit_a, start=today - timedelta(days=1)
    )
    ended = make.posting(
        cadres[3], world.village_a1, world.unit_a, start=today, end=today, status="ended"
    )
    db.session.commit()
    reviewer = make.headers(world.reviewer_a)
    cases = {
        elsewhere.id: "In another village.",
        other_unit.id: "Another dispatching unit's posting.",
        too_early.id: f"Starts before the recall ({today}).",
        ended.id: "Not active (ended).",
        owed.recalled_posting_id: "It is the recalled posting itself.",
    }
    for posting_id, reason in cases.items():
        response = fulfil(client, reviewer, owed.id, posting_id)
        assert_error(response, 422, "not_a_replacement")
        assert reason in response.json["errors"]["posting_id"]
    hidden = fulfil(client, reviewer, owed.id, world.posting_b.id)
    assert_error(hidden, 422, "posting_not_found")
    assert db.session.get(ReplacementObligation, owed.id).status == "open"


def test_one_posting_replaces_one_recall(client, world, make, owed):
    colleague = make.user("cadre", unit=world.unit_a)
    second = make.posting(colleague, world.village_a1, world.unit_a, role="team_member")
    db.session.commit()
    owed_again = recall(client, make, world.reviewer_a, second)
    successor = make.user("cadre", unit=world.unit_a)
    posting = make.posting(successor, world.village_a1, world.unit_a, start=local_today())
    db.session.commit()
    reviewer = make.headers(world.reviewer_a)
    assert fulfil(client, reviewer, owed.id, posting.id).status_code == 200
    response = fulfil(client, reviewer, owed_again.id, posting.id)
    assert_error(response, 422, "not_a_replacement")
    assert response.json["errors"]["posting_id"] == [
        f"Already the replacement for obligation {owed.id}."
    ]


def test_the_units_department_sees_it_but_the_villages_acts(client, world, make):
    # Unit B (county B) sends a team member to village A1 (county A).
    sent = make.user("cadre", unit=world.unit_b)
    posting = make.posting(sent, world.village_a1, world.unit_b, role="team_member")
    db.session.commit()
    owed = recall(client, make, world.reviewer_a, posting)
    assert listed(client, make, world.reviewer_b) == [owed.id]
    successor = make.user("cadre", unit=world.unit_b)
    new = make.posting(successor, world.village_a1, world.unit_b, start=local_today())
    db.session.commit()
    refused = fulfil(client, make.headers(world.reviewer_b), owed.id, new.id)
    assert_error(refused, 403, "out_of_jurisdiction")
    assert fulfil(client, make.headers(world.reviewer_a), owed.id, new.id).status_code == 200


def test_out_of_scope_is_404(client, world, make, owed):
    for path_id in (owed.id, 999999):
        response = fulfil(client, make.headers(world.reviewer_b), path_id, world.posting_b.id)
        assert_error(response, 404, "replacement_obligation_not_found")
    assert_error(
        fulfil(client, make.headers(world.cadre_a), owed.id, world.posting_a.id),
        403,
        "role_required",
    )


def test_concurrent_fulfilments_use_one_posting_once(own_database):
    from tests.api.test_checkin_sync import _parallel
    from tests.factories import Factory

    app = own_database
    with app.app_context():
        make = Factory()
        world = make.world()
        colleague = make.user("cadre", unit=world.unit_a)
        second = make.posting(colleague, world.village_a1, world.unit_a, role="team_member")
        reviewers = [make.user("reviewer", jurisdiction=world.county_a) for _ in range(2)]
        db.session.commit()
        heads = [make.headers(r) for r in reviewers]
        db.session.commit()
        for posting in (world.posting_a, second):
            case = own_initiative(app.test_client(), heads[0], posting, "recall").json
            deadline_passed(case["id"])
            decision = decide(app.test_client(), heads[0], case["id"], "recall")
            assert decision.status_code == 201, decision.json
        owed = db.session.execute(db.select(ReplacementObligation.id)).scalars().all()
        successor = make.user("cadre", unit=world.unit_a)
        posting_id = make.posting(successor, world.village_a1, world.unit_a, start=local_today()).id
        db.session.commit()
    turns = iter(range(2))

    def act():
        n = next(turns)
        return fulfil(app.test_client(), heads[n], owed[n], posting_id).status_code

    assert sorted(_parallel(2, act)) == [200, 422]
    with app.app_context():
        used = (
            db.session.execute(
                db.select(ReplacementObligation.id).where(
                    ReplacementObligation.replacement_posting_id == posting_id
                )
            )
            .scalars()
            .all()
        )
        assert len(used) == 1
