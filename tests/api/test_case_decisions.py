"""Decisions: heard first, by the right level, final (a correction is a new record that
points at the old one); and a recall, which ends the posting, bars promotion and leaves
the dispatching unit a replacement to send."""

from datetime import date, timedelta

import pytest

from server.extensions import db
from server.models import AuditEvent, CaseDecision, Posting, ReplacementObligation
from server.services.case_decisions import years_after
from server.services.ledger import local_today
from tests.api.case_kit import (
    PDF,
    answer,
    deadline_passed,
    decide,
    open_case,
    own_initiative,
    recommendation,
)
from tests.test_platform import assert_error


def actions():
    return [
        e.action
        for e in db.session.execute(db.select(AuditEvent).order_by(AuditEvent.seq)).scalars()
    ]


def opened(client, make, reviewer, posting, measure="talk"):
    response = own_initiative(client, make.headers(reviewer), posting, measure)
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.fixture
def township_reviewer(world, make):
    user = make.user("reviewer", name="城关镇党委", jurisdiction=world.township_a)
    db.session.commit()
    return user


# ---------------------------------------------------------------- heard first


def test_no_decision_while_the_cadre_may_still_answer(client, world, make):
    case_id = opened(client, make, world.reviewer_a, world.posting_a)
    reviewer = make.headers(world.reviewer_a)
    refused = decide(client, reviewer, case_id, "talk")
    assert_error(refused, 409, "answer_period_open")
    deadline = (local_today() + timedelta(days=7)).isoformat()
    assert refused.json["errors"] == {"answer_deadline": deadline}
    assert db.session.execute(db.select(CaseDecision)).first() is None
    # A first answer does not end the period: more (the papers, an appeal) may follow.
    cadre = make.headers(world.cadre_a)
    assert answer(client, cadre, case_id, text="先简要说明，材料随后补交。").status_code == 201
    assert_error(decide(client, reviewer, case_id, "recall"), 409, "answer_period_open")
    assert answer(client, cadre, case_id, kind="appeal").status_code == 201
    assert db.session.execute(db.select(CaseDecision)).first() is None
    deadline_passed(case_id)
    assert decide(client, reviewer, case_id, "talk").status_code == 201


@pytest.mark.parametrize("measure", ["commendation", "dismissed"])
def test_what_cannot_harm_the_cadre_need_not_wait(client, world, make, measure):
    case_id = opened(client, make, world.reviewer_a, world.posting_a)
    response = decide(client, make.headers(world.reviewer_a), case_id, measure, "查无实据。")
    assert response.status_code == 201, response.json


def test_after_the_deadline_silence_does_not_block_a_decision(client, world, make):
    case_id = opened(client, make, world.reviewer_a, world.posting_a)
    deadline_passed(case_id)
    response = decide(client, make.headers(world.reviewer_a), case_id, "dismissed", "查无实据。")
    assert response.status_code == 201, response.json
    case = client.get(f"/api/v1/cases/{case_id}", headers=make.headers(world.cadre_a)).json
    assert case["status"] == "decided" and case["decision"] == "dismissed"


# ---------------------------------------------------------------- who decides


def test_the_level_the_policy_names_decides(client, world, make, township_reviewer):
    township = make.headers(township_reviewer)
    talk = opened(client, make, world.reviewer_a, world.posting_a, "talk")  # county
    reminder = opened(client, make, world.reviewer_a, world.posting_a, "reminder")  # township
    for case_id in (talk, reminder):
        deadline_passed(case_id)
    refused = decide(client, township, talk, "talk")
    assert_error(refused, 403, "decision_level_required")
    assert refused.json["errors"] == {"decision_level": "county", "your_level": "township"}
    # Deciding harsher than proposed needs the level of the harsher measure.
    harsher = decide(client, township, reminder, "admonition")
    assert_error(harsher, 403, "decision_level_required")
    assert harsher.json["errors"]["decision_level"] == "county"
    assert decide(client, township, reminder, "reminder").status_code == 201
    assert decide(client, make.headers(world.city_reviewer), talk, "talk").status_code == 201


def test_a_correction_needs_the_level_of_what_it_corrects(client, world, make, township_reviewer):
    township, county = make.headers(township_reviewer), make.headers(world.reviewer_a)
    case_id = opened(client, make, township_reviewer, world.posting_a, "reminder")
    deadline_passed(case_id)
    # A reminder is the township's measure, but the county decided it.
    first = decide(client, county, case_id, "reminder", "县委组织部决定提醒。").json
    undo = decide(client, township, case_id, "dismissed", "撤销。", corrects_id=first["id"])
    assert_error(undo, 403, "decision_level_required")
    assert undo.json["errors"] == {"decision_level": "county", "your_level": "township"}
    talk = decide(client, county, case_id, "talk", "改为约谈。", corrects_id=first["id"]).json
    undo = decide(client, township, case_id, "reminder", "改为提醒。", corrects_id=talk["id"])
    assert_error(undo, 403, "decision_level_required")
    case = client.get(f"/api/v1/cases/{case_id}", headers=county).json
    assert case["decision"] == "talk" and len(case["decisions"]) == 2
    # A level corrects its own decisions within its own measures.
    own = opened(client, make, township_reviewer, world.posting_a, "reminder")
    deadline_passed(own)
    mine = decide(client, township, own, "reminder").json
    fixed = decide(client, township, own, "dismissed", "查无实据。", corrects_id=mine["id"])
    assert fixed.status_code == 201, fixed.json


def test_who_may_decide_at_all(client, world, make):
    case_id = opened(client, make, world.reviewer_a, world.posting_a)
    deadline_passed(case_id)
    for user in (world.cadre_a, world.inspector_a):
        assert_error(decide(client, make.headers(user), case_id, "talk"), 403, "role_required")
    # Out of one's jurisdiction, the case is out of scope: as if it did not exist.
    assert_error(
        decide(client, make.headers(world.reviewer_b), case_id, "talk"), 404, "case_not_found"
    )
    assert decide(client, make.headers(world.admin), case_id, "talk").status_code == 201


def test_nobody_decides_their_own_case(client, world, make):
    both = make.user("reviewer", "cadre", jurisdiction=world.county_a)
    posting = make.posting(both, world.village_a2, world.unit_a, role="team_member")
    db.session.commit()
    case_id = opened(client, make, world.reviewer_a, posting)
    deadline_passed(case_id)
    assert_error(decide(client, make.headers(both), case_id, "dismissed"), 403, "own_case")


@pytest.mark.parametrize(
    "body",
    [
        {"measure": "fine", "reason": "x"},
        {"measure": "talk", "reason": " "},
        {"measure": "talk"},
        {"measure": "talk", "reason": "x", "corrects_id": 1.5},
        {"measure": "talk", "reason": "x", "extra": 1},
    ],
)
def test_malformed_decisions_are_422(client, world, make, body):
    case_id = opened(client, make, world.reviewer_a, world.posting_a)
    response = client.post(
        f"/api/v1/cases/{case_id}/decisions", json=body, headers=make.headers(world.reviewer_a)
    )
    assert_error(response, 422, "validation_error")


# ---------------------------------------------------------------- final, and corrections


def test_a_decision_is_final_and_a_correction_points_at_it(client, world, make):
    reviewer = make.headers(world.reviewer_a)
    case_id = opened(client, make, world.reviewer_a, world.posting_a)
    deadline_passed(case_id)
    first = decide(client, reviewer, case_id, "talk").json
    again = decide(client, reviewer, case_id, "admonition")
    assert_error(again, 409, "case_decided")
    assert again.json["errors"] == {"decision_id": first["id"]}

    second = decide(client, reviewer, case_id, "reminder", "情节较轻。", corrects_id=first["id"])
    assert second.status_code == 201, second.json
    assert second.json["corrects_id"] == first["id"] and second.json["notice"] is None
    stale = decide(client, reviewer, case_id, "talk", corrects_id=first["id"])
    assert_error(stale, 409, "decision_superseded")
    assert stale.json["errors"] == {"decision_id": second.json["id"]}

    other = opened(client, make, world.reviewer_a, world.posting_a)
    foreign = decide(client, reviewer, case_id, "talk", corrects_id=999999)
    assert_error(foreign, 422, "validation_error")
    deadline_passed(other)
    assert_error(
        decide(client, reviewer, other, "talk", corrects_id=second.json["id"]),
        422,
        "validation_error",
    )

    case = client.get(f"/api/v1/cases/{case_id}", headers=make.headers(world.cadre_a)).json
    assert case["decision"] == "reminder"
    assert [
        (d["id"], d["measure"], d["corrects_id"], d["corrected_by_id"]) for d in case["decisions"]
    ] == [
        (first["id"], "talk", None, second.json["id"]),
        (second.json["id"], "reminder", first["id"], None),
    ]
    assert actions().count("case.decide") == 2


# ---------------------------------------------------------------- recall, end to end


def test_recall_after_an_appeal_ends_the_posting_and_opens_a_replacement(client, world, make):
    reviewer, cadre = make.headers(world.reviewer_a), make.headers(world.cadre_a)
    rec = recommendation(world.posting_a, "recall")
    case = open_case(client, reviewer, recommendation_id=rec.id).json
    assert client.get("/api/v1/me/cases", headers=cadre).json[0]["id"] == case["id"]

    appeal = answer(
        client,
        cadre,
        case["id"],
        kind="appeal",
        text="抽查当日我在县医院陪护，附病历。",
        files=[("病历.pdf", PDF)],
    )
    assert appeal.status_code == 201, appeal.json
    deadline_passed(case["id"])
    decision = decide(client, reviewer, case["id"], "recall", "病历日期与抽查日不符，申诉不成立。")
    assert decision.status_code == 201, decision.json
    today = local_today()
    assert decision.json["measure"] == "recall"
    assert decision.json["promotion_barred_until"] == years_after(today, 2).isoformat()
    assert decision.json["notice"] is None

    posting = db.session.get(Posting, world.posting_a.id)
    db.session.refresh(posting)
    assert posting.status == "recalled" and posting.end_date == today
    obligation = db.session.execute(db.select(ReplacementObligation)).scalar_one()
    assert obligation.unit_id == world.unit_a.id and obligation.status == "open"
    assert obligation.recalled_posting_id == posting.id
    assert obligation.decision_id == decision.json["id"]
    assert obligation.deadline == today + timedelta(days=30)
    assert actions()[-3:] == ["case.decide", "posting.recall", "replacement.open"]

    shown = client.get(f"/api/v1/cases/{case['id']}", headers=cadre).json
    assert shown["status"] == "decided" and shown["posting_status"] == "recalled"
    assert shown["answers"][0]["kind"] == "appeal"
    assert shown["answers"][0]["attachments"][0]["filename"] == "病历.pdf"
    # The obligation is the departments' business (its scope rule), not the cadre's.
    assert shown["replacement"] is None
    replacement = client.get(f"/api/v1/cases/{case['id']}", headers=reviewer).json["replacement"]
    assert replacement["id"] == obligation.id and replacement["case_id"] == case["id"]
    assert replacement["recalled_on"] == today.isoformat()


def test_only_a_posting_in_force_can_be_recalled(client, world, make):
    case_id = opened(client, make, world.reviewer_a, world.posting_a, "recall")
    deadline_passed(case_id)
    posting = db.session.get(Posting, world.posting_a.id)
    posting.status, posting.end_date = "ended", date(2026, 6, 30)
    db.session.commit()
    refused = decide(client, make.headers(world.reviewer_a), case_id, "recall")
    assert_error(refused, 409, "posting_not_active")
    assert refused.json["errors"]["status"] == "ended"
    assert db.session.execute(db.select(CaseDecision)).first() is None
    assert db.session.execute(db.select(ReplacementObligation)).first() is None


def test_a_correction_of_a_recall_does_not_reinstate(client, world, make):
    reviewer = make.headers(world.reviewer_a)
    case_id = opened(client, make, world.reviewer_a, world.posting_a, "recall")
    deadline_passed(case_id)
    recall = decide(client, reviewer, case_id, "recall").json
    milder = decide(
        client, reviewer, case_id, "admonition", "复核后改为诫勉。", corrects_id=recall["id"]
    )
    assert milder.status_code == 201, milder.json
    assert milder.json["notice"]["code"] == "recall_stands"
    assert milder.json["promotion_barred_until"] is None
    posting = db.session.get(Posting, world.posting_a.id)
    db.session.refresh(posting)
    assert posting.status == "recalled" and posting.end_date == local_today()
    obligation = db.session.execute(db.select(ReplacementObligation)).scalar_one()
    assert obligation.status == "open" and obligation.decision_id == recall["id"]
    # The recall decision stays on record with its bar; the measure in force is milder.
    case = client.get(f"/api/v1/cases/{case_id}", headers=reviewer).json
    assert case["decision"] == "admonition"
    assert case["decisions"][0]["promotion_barred_until"] == recall["promotion_barred_until"]
    assert case["replacement"]["status"] == "open"

    # Back to a recall: nothing to end again, no second obligation.
    again = decide(client, reviewer, case_id, "recall", "维持召回。", corrects_id=milder.json["id"])
    assert again.status_code == 201, again.json
    assert again.json["notice"]["code"] == "recall_in_effect"
    assert again.json["promotion_barred_until"] == recall["promotion_barred_until"]
    assert db.session.execute(db.select(db.func.count(ReplacementObligation.id))).scalar_one() == 1


def test_the_policy_sets_the_bar_and_the_replacement_deadline(client, world, make):
    reviewer = make.headers(world.reviewer_a)
    changed = client.post(
        "/api/v1/policies",
        json={
            "region_code": world.county_a.code,
            "effective_from": "2020-01-01",
            "rules": {"consequences": {"promotion_bar_years": 0, "replacement_days": 10}},
            "reason": "本县规定",
        },
        headers=reviewer,
    )
    assert changed.status_code == 201, changed.json
    case_id = opened(client, make, world.reviewer_a, world.posting_a, "recall")
    deadline_passed(case_id)
    decision = decide(client, reviewer, case_id, "recall").json
    assert decision["promotion_barred_until"] is None
    obligation = db.session.execute(db.select(ReplacementObligation)).scalar_one()
    assert obligation.deadline == local_today() + timedelta(days=10)


def test_a_bar_from_29_february():
    assert years_after(date(2028, 2, 29), 2) == date(2030, 2, 28)
    assert years_after(date(2028, 2, 29), 4) == date(2032, 2, 29)
    assert years_after(date(2028, 2, 29), 0) is None


# ---------------------------------------------------------------- at the same time


def test_concurrent_decisions_record_exactly_one(own_database):
    from tests.api.test_checkin_sync import _parallel
    from tests.factories import Factory

    app = own_database
    with app.app_context():
        world = Factory().world()
        db.session.commit()
        rec = recommendation(world.posting_a, "recall")
        headers = Factory().headers(world.reviewer_a)
        db.session.commit()
        client = app.test_client()
        case_id = open_case(client, headers, recommendation_id=rec.id).json["id"]
        deadline_passed(case_id)

    def request():
        response = decide(app.test_client(), headers, case_id, "recall")
        return response.status_code, response.json.get("error", "")

    answers = _parallel(4, request)
    assert sorted(answers) == [(201, "")] + [(409, "case_decided")] * 3, answers
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(CaseDecision.id))).scalar_one() == 1
        obligations = db.select(db.func.count(ReplacementObligation.id))
        assert db.session.execute(obligations).scalar_one() == 1


def test_concurrent_openings_of_one_recommendation_open_one_case(own_database):
    from tests.api.test_checkin_sync import _parallel
    from tests.factories import Factory

    app = own_database
    with app.app_context():
        world = Factory().world()
        db.session.commit()
        rec_id = recommendation(world.posting_a, "talk").id
        headers = Factory().headers(world.reviewer_a)
        db.session.commit()

    def request():
        response = open_case(app.test_client(), headers, recommendation_id=rec_id)
        return response.status_code, response.json.get("error", "")

    answers = _parallel(4, request)
    assert sorted(answers) == [(201, "")] + [(409, "case_exists")] * 3, answers
