"""Postings: one resident village at a time; paired aid alongside."""

import pytest

from server.extensions import db
from server.models import AuditEvent, Posting
from tests.test_platform import assert_error


def body(world, cadre, village, **overrides):
    data = {
        "cadre_id": cadre.id,
        "village_code": village.code,
        "unit_id": world.unit_a.id,
        "role": "team_member",
        "start_date": "2026-03-01",
    }
    return {**data, **overrides}


def test_reviewer_posts_a_cadre_to_a_village(client, world, make):
    cadre = make.user("cadre", name="周杰")
    response = client.post(
        "/api/v1/postings",
        json=body(world, cadre, world.village_a2),
        headers=make.headers(world.reviewer_a),
    )
    assert response.status_code == 201
    assert response.json["status"] == "active"
    assert response.json["village_name"] == "西湖村委会"
    assert response.json["is_resident"] is True
    assert db.session.get(Posting, response.json["id"]).cadre_id == cadre.id
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "posting.create")
    ).scalar_one()
    assert event.summary["village"] == world.village_a2.code


def test_a_second_active_resident_posting_is_refused(client, world, make):
    response = client.post(
        "/api/v1/postings",
        json=body(world, world.cadre_a, world.village_a2, start_date="2027-01-01"),
        headers=make.headers(world.admin),
    )
    assert_error(response, 409, "posting_overlap")
    assert response.json["errors"] == {"posting_id": world.posting_a.id}


def test_overlapping_dates_are_refused_even_for_ended_postings(client, world, make):
    cadre = make.user("cadre")
    make.posting(
        cadre,
        world.village_a1,
        world.unit_a,
        start=_d("2025-01-01"),
        end=_d("2025-12-31"),
        status="ended",
    )
    response = client.post(
        "/api/v1/postings",
        json=body(world, cadre, world.village_a2, start_date="2025-06-01"),
        headers=make.headers(world.admin),
    )
    assert_error(response, 409, "posting_overlap")
    after = client.post(
        "/api/v1/postings",
        json=body(world, cadre, world.village_a2, start_date="2026-01-01"),
        headers=make.headers(world.admin),
    )
    assert after.status_code == 201


def test_paired_aid_may_run_alongside_a_resident_posting(client, world, make):
    response = client.post(
        "/api/v1/postings",
        json=body(world, world.cadre_a, world.village_a2, role="paired_aid"),
        headers=make.headers(world.admin),
    )
    assert response.status_code == 201
    assert response.json["is_resident"] is False


def test_the_database_itself_refuses_two_active_resident_postings(world, make):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            make.posting(world.cadre_a, world.village_a2, world.unit_a, start=_d("2030-01-01"))


@pytest.mark.parametrize(
    "overrides, error, field",
    [
        ({"village_code": "340421100000"}, "not_a_village", "village_code"),
        ({"village_code": "340421100299"}, "region_not_found", "village_code"),
        ({"unit_id": 9999}, "unit_not_found", "unit_id"),
        ({"role": "mayor"}, "validation_error", "role"),
        ({"end_date": "2026-02-01"}, "validation_error", "end_date"),
        ({"status": "recalled"}, "validation_error", "status"),
        ({"start_date": "2026-02-30"}, "validation_error", "start_date"),
    ],
)
def test_invalid_postings(client, world, make, overrides, error, field):
    cadre = make.user("cadre")
    response = client.post(
        "/api/v1/postings",
        json=body(world, cadre, world.village_a2, **overrides),
        headers=make.headers(world.admin),
    )
    assert_error(response, 422, error)
    assert field in response.json["errors"]


def test_only_cadres_can_be_posted(client, world, make):
    response = client.post(
        "/api/v1/postings",
        json=body(world, world.inspector_a, world.village_a2),
        headers=make.headers(world.admin),
    )
    assert_error(response, 422, "cadre_not_found")


def test_reviewer_cannot_post_into_another_county(client, world, make):
    response = client.post(
        "/api/v1/postings",
        json=body(world, make.user("cadre"), world.village_b1),
        headers=make.headers(world.reviewer_a),
    )
    assert_error(response, 403, "out_of_jurisdiction")


def test_ending_a_posting_sets_its_end_date_and_frees_the_cadre(client, world, make):
    headers = make.headers(world.reviewer_a)
    ended = client.patch(
        f"/api/v1/postings/{world.posting_a.id}", json={"status": "ended"}, headers=headers
    )
    assert ended.status_code == 200
    assert ended.json["end_date"] is not None
    again = client.post(
        "/api/v1/postings",
        json=body(world, world.cadre_a, world.village_a2, start_date="2099-01-01"),
        headers=headers,
    )
    assert again.status_code == 201


def test_reactivating_into_an_overlap_is_refused(client, world, make):
    old = make.posting(
        world.cadre_a,
        world.village_a2,
        world.unit_a,
        start=_d("2024-01-01"),
        end=_d("2024-12-31"),
        status="ended",
    )
    response = client.patch(
        f"/api/v1/postings/{old.id}", json={"status": "active"}, headers=make.headers(world.admin)
    )
    assert_error(response, 409, "posting_overlap")


def test_list_filters(client, world, make):
    headers = make.headers(world.admin)
    make.posting(world.aid_cadre_a, world.village_a2, world.unit_a, role="paired_aid")

    def ids(query):
        return [p["id"] for p in client.get("/api/v1/postings?" + query, headers=headers).json]

    assert ids("role=paired_aid") != []
    assert ids(f"cadre_id={world.cadre_b.id}") == [world.posting_b.id]
    assert ids("within=340422000000") == [world.posting_b.id]
    assert ids(f"unit_id={world.unit_b.id}") == [world.posting_b.id]
    assert ids("status=recalled") == []


def _d(text):
    from datetime import date

    return date.fromisoformat(text)


def test_a_deactivated_cadre_cannot_be_posted(client, world, make):
    cadre = make.user("cadre", active=False)
    response = client.post(
        "/api/v1/postings",
        json=body(world, cadre, world.village_a2),
        headers=make.headers(world.admin),
    )
    assert_error(response, 422, "cadre_inactive")


def test_an_edit_does_not_undo_a_recall(client, world, make):
    posting = world.posting_a
    posting.status, posting.end_date = "recalled", _d("2026-11-02")
    db.session.commit()
    url, headers = f"/api/v1/postings/{posting.id}", make.headers(world.reviewer_a)
    undo = client.patch(url, json={"status": "active", "end_date": None}, headers=headers)
    assert_error(undo, 409, "posting_recalled")
    assert undo.json["errors"] == {"fields": ["status", "end_date"]}
    later = client.patch(url, json={"end_date": "2026-12-31"}, headers=headers)
    assert_error(later, 409, "posting_recalled")
    db.session.expire_all()
    assert (posting.status, posting.end_date) == ("recalled", _d("2026-11-02"))
    # Other particulars may still be put right.
    fixed = client.patch(
        url, json={"role": "team_leader", "end_date": "2026-11-02"}, headers=headers
    )
    assert fixed.status_code == 200, fixed.json
    assert fixed.json["status"] == "recalled"


def test_dates_of_a_closed_month_stay_as_they_were(client, world, make):
    from server.models import MonthClosure

    closure = MonthClosure(
        region=world.county_a,
        month="2026-03",
        version=1,
        status="closed",
        snapshot="{}",
        snapshot_hash="0" * 64,
        row_count=0,
        closed_by_id=world.admin.id,
    )
    db.session.add(closure)
    db.session.commit()
    url, headers = f"/api/v1/postings/{world.posting_a.id}", make.headers(world.reviewer_a)
    for change in ({"start_date": "2026-04-01"}, {"end_date": "2026-02-28"}):
        response = client.patch(url, json=change, headers=headers)
        assert_error(response, 409, "month_closed")
        assert response.json["errors"] == {"month": "2026-03", "closure_id": closure.id}
    db.session.expire_all()
    assert (world.posting_a.start_date, world.posting_a.end_date) == (_d("2026-01-01"), None)
    # Days outside the closed month may change.
    for change in ({"start_date": "2025-12-01"}, {"end_date": "2026-05-31"}):
        assert client.patch(url, json=change, headers=headers).status_code == 200
