"""Opening cases (from a recommendation or on one's own initiative), the cadre being
told, and the cadre's answers with their attachments (kept like photos: no row without
its file, no file without its row)."""

from datetime import timedelta

import pytest

from server import storage
from server.extensions import db
from server.models import AuditEvent, Case, CaseAnswer, CaseAttachment, Recommendation
from server.services import case_answers
from server.services.ledger import local_today
from tests.api.case_kit import (
    PDF,
    PNG,
    TEXT,
    answer,
    deadline_passed,
    decide,
    open_case,
    own_initiative,
    recommendation,
)
from tests.test_platform import assert_error


@pytest.fixture
def store(app, tmp_path, monkeypatch):
    """An evidence store of this test's own, so its contents can be counted."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return storage.get_store()


def stored_files(store, area):
    return sorted(p.name for p in (store.root / area).rglob("*") if p.is_file())


def events(action):
    return (
        db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
        .scalars()
        .all()
    )


@pytest.fixture
def case_a(client, world, make):
    response = own_initiative(client, make.headers(world.reviewer_a), world.posting_a)
    assert response.status_code == 201, response.json
    return response.json


# ---------------------------------------------------------------- opening


def test_opening_from_a_recommendation_takes_everything_from_it(client, world, make):
    rec = recommendation(world.posting_a, "recall")
    response = open_case(client, make.headers(world.reviewer_a), recommendation_id=rec.id)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["posting_id"] == world.posting_a.id and body["cadre_id"] == world.cadre_a.id
    assert body["recommendation_id"] == rec.id
    assert body["proposed_measure"] == "recall" and body["summary"] == rec.summary
    assert body["evidence"] == rec.evidence
    # The default policy: the county decides recalls; seven days to answer.
    assert body["decision_level"] == "county"
    assert body["answer_deadline"] == (local_today() + timedelta(days=7)).isoformat()
    assert body["status"] == "open" and body["decision"] is None
    assert body["answers"] == [] and body["decisions"] == [] and body["replacement"] is None
    db.session.expire_all()
    assert db.session.get(Recommendation, rec.id).status == "case_opened"
    (event,) = events("case.open")
    assert event.object_id == str(body["id"]) and event.actor_id == world.reviewer_a.id
    assert event.summary["recommendation_id"] == rec.id


def test_one_case_per_recommendation(client, world, make):
    rec = recommendation(world.posting_a, "talk")
    first = open_case(client, make.headers(world.reviewer_a), recommendation_id=rec.id)
    again = open_case(client, make.headers(world.city_reviewer), recommendation_id=rec.id)
    assert_error(again, 409, "case_exists")
    assert again.json["errors"]["case_id"] == first.json["id"]
    assert db.session.execute(db.select(db.func.count(Case.id))).scalar_one() == 1


def test_a_set_aside_recommendation_opens_nothing(client, world, make):
    rec = recommendation(world.posting_a, "talk", status="set_aside")
    response = open_case(client, make.headers(world.reviewer_a), recommendation_id=rec.id)
    assert_error(response, 409, "recommendation_set_aside")


def test_own_initiative_with_evidence_and_the_policy_levels(client, world, make):
    checkin = make.checkin(world.posting_a)
    db.session.commit()
    response = own_initiative(
        client,
        make.headers(world.reviewer_a),
        world.posting_a,
        "reminder",
        evidence=[
            {"type": "checkin", "id": checkin.id, "note": "签到位置在县城"},
            {"type": "ledger_month", "month": "2026-03"},
        ],
    )
    assert response.status_code == 201, response.json
    assert response.json["decision_level"] == "township"  # the mildest measure
    assert response.json["evidence"][0] == {
        "type": "checkin",
        "id": checkin.id,
        "note": "签到位置在县城",
    }
    assert response.json["recommendation_id"] is None


def test_policy_sets_level_and_answer_days(client, world, make):
    reviewer = make.headers(world.reviewer_a)
    # Who decides is set from above (a county cannot change its own powers).
    changed = client.post(
        "/api/v1/policies",
        json={
            "region_code": world.county_a.code,
            "effective_from": "2020-01-01",
            "rules": {"consequences": {"answer_days": 3, "decision_levels": {"talk": "city"}}},
            "reason": "市委组织部规定",
        },
        headers=make.headers(world.city_reviewer),
    )
    assert changed.status_code == 201, changed.json
    body = own_initiative(client, reviewer, world.posting_a, "talk").json
    assert body["decision_level"] == "city"
    assert body["answer_deadline"] == (local_today() + timedelta(days=3)).isoformat()


def test_evidence_must_be_visible_to_whoever_cites_it(client, world, make):
    elsewhere = make.checkin(world.posting_b)
    db.session.commit()
    response = own_initiative(
        client,
        make.headers(world.reviewer_a),
        world.posting_a,
        evidence=[{"type": "checkin", "id": elsewhere.id}],
    )
    assert_error(response, 422, "evidence_not_found")
    assert response.json["errors"]["evidence"] == {
        "0": {"id": [f"No checkin {elsewhere.id} in your scope."]}
    }


def test_evidence_must_be_about_the_case_s_posting_or_cadre(client, world, make):
    colleague = make.user("cadre", name="陈静", unit=world.unit_a)
    theirs = make.checkin(make.posting(colleague, world.village_a1, world.unit_a))
    mine = make.checkin(world.posting_a)
    db.session.commit()
    response = own_initiative(
        client,
        make.headers(world.reviewer_a),
        world.posting_a,
        evidence=[{"type": "checkin", "id": mine.id}, {"type": "checkin", "id": theirs.id}],
    )
    assert_error(response, 422, "evidence_not_about_case")
    assert response.json["errors"]["evidence"] == {
        "1": {"id": [f"checkin {theirs.id} is about someone else."]}
    }
    assert db.session.scalars(db.select(Case)).all() == []


@pytest.mark.parametrize(
    "body",
    [
        {"recommendation_id": 1, "summary": "另写"},  # the recommendation brings its own
        {"posting_id": 1, "proposed_measure": "talk"},  # no summary
        {"posting_id": 1, "proposed_measure": "dismissed", "summary": "x"},  # not a measure
        {"posting_id": 1, "proposed_measure": "talk", "summary": "   "},
        {"posting_id": 1, "proposed_measure": "talk", "summary": "x", "status": "decided"},
        {
            "posting_id": 1,
            "proposed_measure": "talk",
            "summary": "x",
            "evidence": [{"type": "checkin"}],
        },
        {
            "posting_id": 1,
            "proposed_measure": "talk",
            "summary": "x",
            "evidence": [{"type": "ledger_month"}],
        },
        {
            "posting_id": 1,
            "proposed_measure": "talk",
            "summary": "x",
            "evidence": [{"type": "rumour", "id": 1}],
        },
    ],
)
def test_malformed_bodies_are_422(client, world, make, body):
    response = open_case(client, make.headers(world.reviewer_a), **body)
    assert_error(response, 422, "validation_error")


def test_who_may_open(client, world, make):
    rec = recommendation(world.posting_a)
    assert_error(
        open_case(client, make.headers(world.reviewer_b), recommendation_id=rec.id),
        404,
        "recommendation_not_found",
    )
    assert_error(
        own_initiative(client, make.headers(world.reviewer_b), world.posting_a),
        404,
        "posting_not_found",
    )
    assert_error(
        own_initiative(client, make.headers(world.cadre_a), world.posting_a), 403, "role_required"
    )
    assert (
        own_initiative(client, make.headers(world.city_reviewer), world.posting_a).status_code
        == 201
    )
    assert own_initiative(client, make.headers(world.admin), world.posting_a).status_code == 201


def test_nobody_opens_a_case_about_themselves(client, world, make):
    both = make.user("reviewer", "cadre", jurisdiction=world.county_a)
    posting = make.posting(both, world.village_a2, world.unit_a, role="team_member")
    db.session.commit()
    response = own_initiative(client, make.headers(both), posting)
    assert_error(response, 403, "own_case")


# ---------------------------------------------------------------- the cadre is told


def test_the_cadre_polls_their_cases_undecided_first(client, world, make):
    reviewer = make.headers(world.reviewer_a)
    first = own_initiative(client, reviewer, world.posting_a, "talk").json
    second = own_initiative(client, reviewer, world.posting_a, "reminder").json
    third = own_initiative(client, reviewer, world.posting_a, "commendation").json
    deadline_passed(second["id"])
    assert decide(client, reviewer, second["id"], "reminder").status_code == 201
    own_initiative(client, make.headers(world.reviewer_b), world.posting_b)

    mine = client.get("/api/v1/me/cases", headers=make.headers(world.cadre_a))
    assert mine.status_code == 200
    assert [c["id"] for c in mine.json] == [third["id"], first["id"], second["id"]]
    assert mine.json[0]["answer_deadline"] and mine.json[2]["decision"] == "reminder"
    assert (
        client.get("/api/v1/me/cases", headers=make.headers(world.cadre_b)).json[0]["cadre_id"]
        == world.cadre_b.id
    )
    assert_error(client.get("/api/v1/me/cases", headers=reviewer), 403, "role_required")


def test_list_is_scoped_and_filtered(client, world, make):
    a = own_initiative(client, make.headers(world.reviewer_a), world.posting_a, "talk").json
    b = own_initiative(client, make.headers(world.reviewer_b), world.posting_b, "reminder").json

    def ids(user, query=""):
        response = client.get(f"/api/v1/cases{query}", headers=make.headers(user))
        assert response.status_code == 200
        return [c["id"] for c in response.json]

    assert ids(world.city_reviewer) == [b["id"], a["id"]]
    assert ids(world.reviewer_a) == [a["id"]]
    assert ids(world.cadre_a) == [a["id"]]
    assert ids(world.inspector_a) == []
    assert ids(world.admin, "?measure=reminder") == [b["id"]]
    assert ids(world.admin, f"?posting_id={world.posting_a.id}&status=open") == [a["id"]]
    assert ids(world.admin, "?status=decided") == []
    assert_error(
        client.get("/api/v1/cases?status=closed", headers=make.headers(world.admin)),
        422,
        "validation_error",
    )


# ---------------------------------------------------------------- answers


def test_the_cadre_answers_with_attachments(client, world, make, case_a, store):
    files = [("会议通知.pdf", PDF), ("说明.txt", TEXT), ("现场.png", PNG)]
    response = answer(client, make.headers(world.cadre_a), case_a["id"], kind="appeal", files=files)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["kind"] == "appeal" and body["late"] is False
    assert [(a["filename"], a["mime_type"]) for a in body["attachments"]] == [
        ("会议通知.pdf", "application/pdf"),
        ("说明.txt", "text/plain; charset=utf-8"),
        ("现场.png", "image/png"),
    ]
    assert [a["size_bytes"] for a in body["attachments"]] == [len(PDF), len(TEXT), len(PNG)]
    for attachment, (_, content) in zip(body["attachments"], files, strict=True):
        assert store.read(attachment["sha256"]) == content
    assert stored_files(store, "tmp") == []
    case = client.get(f"/api/v1/cases/{case_a['id']}", headers=make.headers(world.reviewer_a))
    assert case.json["status"] == "answered"
    assert case.json["answers"][0]["attachments"] == body["attachments"]
    (event,) = events("case.answer")
    assert event.summary["case_id"] == case_a["id"] and len(event.summary["attachments"]) == 3


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd", "passwd.txt"),
        ("report\u202etxt.exe", "reporttxt.exe.txt"),  # the bidi override that hides .exe
        ("page.html", "page.html.txt"),  # plain text, whatever the name claims
    ],
)
def test_filenames_are_made_safe(client, world, make, case_a, sent, kept):
    # More cases, below the transport: tests/services/test_case_answers.py.
    response = answer(client, make.headers(world.cadre_a), case_a["id"], files=[(sent, TEXT)])
    assert response.status_code == 201, response.json
    assert response.json["attachments"][0]["filename"] == kept


@pytest.mark.parametrize(
    ("name", "content", "status", "error"),
    [
        ("setup.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", 415, "attachment_unsupported_type"),
        ("notes.txt", "说明".encode("gb18030") + b"\xff\xfe", 415, "attachment_unsupported_type"),
        ("x.txt", b"line\x00with NUL", 415, "attachment_unsupported_type"),
        ("empty.pdf", b"", 422, "attachment_empty"),
        ("big.pdf", PDF + b"0" * 1000, 413, "attachment_too_large"),
    ],
)
def test_refused_attachments_leave_nothing(
    client, world, make, case_a, store, monkeypatch, name, content, status, error
):
    # 10 MB in the service; lowered here, since the test client spools big bodies to
    # temporary files it never closes.
    monkeypatch.setattr(case_answers, "MAX_ATTACHMENT_BYTES", len(PDF) + 999)
    files = [("ok.pdf", PDF), (name, content)]
    response = answer(client, make.headers(world.cadre_a), case_a["id"], files=files)
    assert_error(response, status, error)
    assert db.session.execute(db.select(CaseAnswer)).first() is None
    assert stored_files(store, "tmp") == [] and stored_files(store, "originals") == []


def test_at_most_five_attachments(client, world, make, case_a):
    files = [(f"{i}.txt", TEXT + str(i).encode()) for i in range(6)]
    response = answer(client, make.headers(world.cadre_a), case_a["id"], files=files)
    assert_error(response, 422, "validation_error")
    assert "attachments" in response.json["errors"]


@pytest.mark.parametrize(
    "form",
    [{"kind": "complaint", "text": "x"}, {"kind": "appeal", "text": "  "}, {"kind": "appeal"}],
)
def test_malformed_answers_are_422(client, world, make, case_a, form):
    response = client.post(
        f"/api/v1/cases/{case_a['id']}/answers",
        data=form,
        headers=make.headers(world.cadre_a),
        content_type="multipart/form-data",
    )
    assert_error(response, 422, "validation_error")


def test_a_failure_in_the_middle_leaves_no_row_and_no_file(
    client, world, make, case_a, store, monkeypatch
):
    real_stage, calls = storage.stage, []

    def stage_then_fail(session, data, sha):
        calls.append(sha)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_stage(session, data, sha)

    monkeypatch.setattr(storage, "stage", stage_then_fail)
    files = [("a.pdf", PDF), ("b.txt", TEXT)]
    response = answer(client, make.headers(world.cadre_a), case_a["id"], files=files)
    assert_error(response, 500, "internal_error")
    assert len(calls) == 2  # the first file had been staged
    assert db.session.execute(db.select(CaseAttachment)).first() is None
    assert db.session.execute(db.select(CaseAnswer)).first() is None
    assert stored_files(store, "tmp") == [] and stored_files(store, "originals") == []
    assert db.session.get(Case, case_a["id"]).status == "open"


def test_a_late_answer_is_kept_and_marked(client, world, make, case_a):
    deadline_passed(case_a["id"])
    response = answer(client, make.headers(world.cadre_a), case_a["id"])
    assert response.status_code == 201 and response.json["late"] is True


def test_only_the_cadre_of_the_case_answers(client, world, make, case_a):
    assert_error(answer(client, make.headers(world.reviewer_a), case_a["id"]), 403, "not_your_case")
    assert_error(answer(client, make.headers(world.cadre_b), case_a["id"]), 404, "case_not_found")
    assert_error(answer(client, make.headers(world.cadre_a), 999999), 404, "case_not_found")


def test_no_answer_once_decided(client, world, make, case_a):
    cadre = make.headers(world.cadre_a)
    assert answer(client, cadre, case_a["id"]).status_code == 201
    assert answer(client, cadre, case_a["id"], kind="appeal").status_code == 201
    deadline_passed(case_a["id"])
    assert decide(client, make.headers(world.reviewer_a), case_a["id"], "talk").status_code == 201
    assert_error(answer(client, cadre, case_a["id"], kind="appeal"), 409, "case_decided")


# ---------------------------------------------------------------- attachments served


def test_attachments_are_downloads_audited_and_scoped(client, world, make, case_a, store):
    sent = answer(client, make.headers(world.cadre_a), case_a["id"], files=[("说明 1.txt", TEXT)])
    attachment = sent.json["attachments"][0]
    url = f"/api/v1/cases/{case_a['id']}/attachments/{attachment['id']}"
    for user in (world.cadre_a, world.reviewer_a, world.city_reviewer):
        response = client.get(url, headers=make.headers(user))
        assert response.status_code == 200 and response.data == TEXT
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"] == (
            "attachment; filename=\"___1.txt\"; filename*=UTF-8''%E8%AF%B4%E6%98%8E%201.txt"
        )
        assert response.headers["Cache-Control"] == "no-store"
    assert [e.actor_id for e in events("case_attachment.view")] == [
        world.cadre_a.id,
        world.reviewer_a.id,
        world.city_reviewer.id,
    ]
    for user in (world.reviewer_b, world.cadre_b, world.inspector_a):
        assert_error(client.get(url, headers=make.headers(user)), 404, "case_not_found")
    other = own_initiative(client, make.headers(world.reviewer_a), world.posting_a).json
    assert_error(
        client.get(
            f"/api/v1/cases/{other['id']}/attachments/{attachment['id']}",
            headers=make.headers(world.reviewer_a),
        ),
        404,
        "case_attachment_not_found",
    )
    store.original_path(attachment["sha256"]).unlink()
    assert_error(
        client.get(url, headers=make.headers(world.reviewer_a)), 404, "evidence_file_missing"
    )


def test_storage_check_counts_attachments_as_known(client, world, make, case_a, store):
    sent = answer(client, make.headers(world.cadre_a), case_a["id"], files=[("a.pdf", PDF)])
    sha = sent.json["attachments"][0]["sha256"]
    report = storage.check(db.session)
    assert report.ok and report.orphans == [] and report.missing == []
    # Without its row, the same file is an orphan; without its file, the row is missing.
    db.session.delete(db.session.get(CaseAttachment, sent.json["attachments"][0]["id"]))
    db.session.flush()
    assert storage.check(db.session).orphans == [sha]
    db.session.rollback()
    store.original_path(sha).unlink()
    assert storage.check(db.session).missing == [sha]


def test_the_storage_check_command_knows_attachments(app, client, world, make, case_a, store):
    answer(client, make.headers(world.cadre_a), case_a["id"], files=[("a.pdf", PDF)])
    result = app.test_cli_runner().invoke(args=["storage", "check"])
    assert result.exit_code == 0, result.output
    assert "orphan" not in result.output and "storage check: OK" in result.output
