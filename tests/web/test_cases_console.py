"""The console's cases: the list in scope, a case with the evidence beside the cadre's
answers, and the decision form for a reviewer of the right level, reaching the same
service (answer period, recall effects) as the API."""

import pytest

from server.extensions import db
from server.models import AuditEvent, CaseDecision, Posting, ReplacementObligation
from tests.api.case_kit import PDF, TEXT, answer, deadline_passed, own_initiative
from tests.web.console_kit import log_in, token


@pytest.fixture
def reviewer(client, world):
    assert log_in(client, world.reviewer_a).status_code == 302
    return client


@pytest.fixture
def case(client, world, make):
    """A recall case about cadre A, citing a check-in; cadre A has appealed with files."""
    checkin = make.checkin(world.posting_a)
    db.session.commit()
    opened = own_initiative(
        client,
        make.headers(world.reviewer_a),
        world.posting_a,
        "recall",
        evidence=[{"type": "checkin", "id": checkin.id, "note": "定位在县城"}],
    ).json
    appeal = answer(
        client,
        make.headers(world.cadre_a),
        opened["id"],
        kind="appeal",
        text="当天在县里开会，<b>有通知</b>。",
        files=[("会议通知.pdf", PDF), ("说明.txt", TEXT)],
    )
    assert appeal.status_code == 201, appeal.json
    deadline_passed(opened["id"])
    return {**opened, "checkin": checkin, "answer": appeal.json}


def page(response):
    return response.get_data(as_text=True)


def decide(client, case_id, measure, reason="经核实，申诉不成立。", **extra):
    path = f"/console/cases/{case_id}"
    form = {"measure": measure, "reason": reason, "csrf_token": token(client, path), **extra}
    return client.post(f"{path}/decisions", data=form)


def test_the_list_shows_cases_in_scope(reviewer, world, make, case):
    other = own_initiative(reviewer, make.headers(world.reviewer_b), world.posting_b).json
    listed = page(reviewer.get("/console/cases"))
    assert f'id="case-{case["id"]}"' in listed and f'id="case-{other["id"]}"' not in listed
    assert "召回撤换" in listed and "已答复" in listed
    assert f'id="case-{case["id"]}"' not in page(reviewer.get("/console/cases?status=decided"))
    assert f'id="case-{case["id"]}"' in page(reviewer.get("/console/cases?status=&measure=recall"))
    bad = reviewer.get("/console/cases?status=closed")
    assert bad.status_code == 422


def test_the_case_page_puts_evidence_beside_the_answers(reviewer, world, case):
    shown = page(reviewer.get(f"/console/cases/{case['id']}"))
    evidence = shown[shown.index('id="evidence"') : shown.index('id="answers"')]
    answers = shown[shown.index('id="answers"') : shown.index("决定记录")]
    checkin = case["checkin"]
    assert f"#checkin-{checkin.id}" in evidence and "定位在县城" in evidence
    assert "申诉" in answers and "&lt;b&gt;有通知&lt;/b&gt;" in answers  # escaped, never markup
    for attachment in case["answer"]["attachments"]:
        assert f"/console/cases/{case['id']}/attachments/{attachment['id']}" in answers
        assert attachment["filename"] in answers
    assert 'id="decide"' in shown and 'name="corrects_id"' not in shown


def test_a_decision_through_the_form_recalls(reviewer, world, case):
    response = decide(reviewer, case["id"], "recall")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/console/cases/{case['id']}"
    decision = db.session.execute(db.select(CaseDecision)).scalar_one()
    assert decision.measure == "recall" and decision.decided_by_id == world.reviewer_a.id
    posting = db.session.get(Posting, world.posting_a.id)
    db.session.refresh(posting)
    assert posting.status == "recalled"
    shown = page(reviewer.get(f"/console/cases/{case['id']}"))
    assert "决定已记录。" in shown and 'id="obligation"' in shown and "已召回" in shown
    assert f'name="corrects_id" value="{decision.id}"' in shown  # the form now corrects

    milder = decide(reviewer, case["id"], "admonition", "复核后改为诫勉。", corrects_id=decision.id)
    assert milder.status_code == 302
    shown = page(reviewer.get(f"/console/cases/{case['id']}"))
    assert "此前的召回不因本决定撤销" in shown
    obligation = db.session.execute(db.select(ReplacementObligation)).scalar_one()
    assert obligation.status == "open"


def test_no_form_while_the_cadre_may_still_answer(reviewer, world, make):
    opened = own_initiative(reviewer, make.headers(world.reviewer_a), world.posting_a).json
    shown = page(reviewer.get(f"/console/cases/{opened['id']}"))
    assert 'id="decide"' not in shown and 'id="answer-period"' in shown
    refused = decide(reviewer, opened["id"], "talk")
    assert refused.status_code == 409 and "answer_period_open" in page(refused)
    deadline_passed(opened["id"])
    assert 'id="decide"' in page(reviewer.get(f"/console/cases/{opened['id']}"))


def test_no_form_below_the_level(client, world, make, case):
    township = make.user("reviewer", jurisdiction=world.township_a)
    db.session.commit()
    log_in(client, township)
    shown = client.get(f"/console/cases/{case['id']}")
    assert shown.status_code == 200 and 'id="decide"' not in page(shown)
    refused = decide(client, case["id"], "recall")
    assert refused.status_code == 403 and "decision_level_required" in page(refused)


def test_a_form_without_its_token_or_reason_changes_nothing(reviewer, case):
    no_token = reviewer.post(
        f"/console/cases/{case['id']}/decisions", data={"measure": "talk", "reason": "x"}
    )
    assert no_token.status_code == 400 and "csrf_failed" in page(no_token)
    no_reason = decide(reviewer, case["id"], "talk", reason="")
    assert no_reason.status_code == 422
    assert db.session.execute(db.select(CaseDecision)).first() is None


def test_attachments_download_audited(reviewer, world, case):
    attachment = case["answer"]["attachments"][1]
    response = reviewer.get(f"/console/cases/{case['id']}/attachments/{attachment['id']}")
    assert response.status_code == 200 and response.data == TEXT
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "case_attachment.view")
    ).scalar_one()
    assert event.actor_id == world.reviewer_a.id


def test_other_counties_cases_are_404(client, world, case):
    log_in(client, world.reviewer_b)
    assert client.get(f"/console/cases/{case['id']}").status_code == 404
    attachment = case["answer"]["attachments"][0]
    path = f"/console/cases/{case['id']}/attachments/{attachment['id']}"
    assert client.get(path).status_code == 404
    assert decide(client, case["id"], "talk").status_code == 404


def test_english(reviewer, case):
    shown = page(reviewer.get(f"/console/cases/{case['id']}?lang=en"))
    assert "The cadre&#39;s answers" in shown and "appeal" in shown and "recall" in shown
