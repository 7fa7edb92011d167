"""The reviewers' queue: open flags in scope, most severe and oldest first, each with
the evidence behind it (photos, distances, the earlier photo a reused one matches)."""

from datetime import date, timedelta

import pytest
from sqlalchemy import event

from server.extensions import db
from server.models import Flag
from server.models.types import utcnow
from tests.api.checkin_kit import device_time, photo_for, submit
from tests.test_platform import assert_error


def flagged(make, posting, code="outside_geofence", severity="high", *, at=None, **row):
    """A flagged check-in row with one flag, created at `at`."""
    checkin = make.checkin(posting, verdict="flagged", **row)
    flag = Flag(
        checkin=checkin,
        code=code,
        severity=severity,
        details={"distance_m": 2400.0},
        created_at=at or utcnow(),
    )
    db.session.add(flag)
    db.session.flush()
    return flag


def queue(client, headers, **query):
    response = client.get("/api/v1/flags", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response


def ids(response):
    return [item["id"] for item in response.json]


def test_most_severe_first_then_oldest(client, world, make):
    start = utcnow() - timedelta(days=3)
    # Created before the older one: the order is by time, not by id.
    newer_medium = flagged(
        make, world.posting_a, "new_device", "medium", at=start + timedelta(days=1)
    )
    older_medium = flagged(make, world.posting_a, "clock_skew", "medium", at=start)
    newer_critical = flagged(
        make,
        world.posting_a,
        "contradicted_by_inspection",
        "critical",
        at=start + timedelta(days=2),
    )
    low = flagged(make, world.posting_a, "poor_accuracy", "low", at=start - timedelta(days=1))
    high = flagged(make, world.posting_a, at=start + timedelta(hours=5))
    decided = flagged(make, world.posting_a, "mock_location", "critical", at=start)
    decided.status = "dismissed"
    db.session.commit()

    response = queue(client, make.headers(world.reviewer_a))
    expected = [newer_critical, high, older_medium, newer_medium, low]
    assert ids(response) == [f.id for f in expected]
    assert response.headers["X-Pagination"]
    high_item = response.json[1]
    assert {k: high_item[k] for k in ("code", "severity", "status", "details")} == {
        "code": "outside_geofence",
        "severity": "high",
        "status": "open",
        "details": {"distance_m": 2400.0},
    }


def test_filters(client, world, make):
    aid = make.posting(world.aid_cadre_a, world.village_a2, world.unit_a, role="team_member")
    in_a1 = flagged(make, world.posting_a, local_date=date(2026, 3, 31))
    in_a2 = flagged(make, aid, "clock_skew", "medium", local_date=date(2026, 4, 1))
    dismissed = flagged(make, world.posting_a, "new_device", "medium")
    dismissed.status = "dismissed"
    db.session.commit()
    reviewer = make.headers(world.reviewer_a)

    assert ids(queue(client, reviewer, status="dismissed")) == [dismissed.id]
    assert ids(queue(client, reviewer, severity="medium")) == [in_a2.id]
    assert ids(queue(client, reviewer, code="outside_geofence")) == [in_a1.id]
    assert ids(queue(client, reviewer, region_code=world.village_a2.code)) == [in_a2.id]
    assert ids(queue(client, reviewer, region_code=world.township_a.code)) == [in_a1.id, in_a2.id]
    assert ids(queue(client, reviewer, posting_id=world.posting_a.id)) == [in_a1.id]
    assert ids(queue(client, reviewer, month="2026-03")) == [in_a1.id]
    assert ids(queue(client, reviewer, month="2026-04")) == [in_a2.id]
    for bad in ({"month": "2026-13"}, {"status": "closed"}, {"region_code": "3404"}):
        response = client.get("/api/v1/flags", query_string=bad, headers=reviewer)
        assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("month", ["0000-01", "9999-12"])
def test_a_month_beyond_the_calendar_is_422_not_500(client, world, make, month):
    # Found by the API fuzzer: date() refused the year and the queue answered 500.
    response = client.get(
        "/api/v1/flags", query_string={"month": month}, headers=make.headers(world.reviewer_a)
    )
    assert_error(response, 422, "validation_error")


def test_inspection_arrivals_are_not_in_the_queue(client, world, make):
    flagged(make, world.posting_a, kind="inspection_arrival", cadre=world.inspector_a)
    db.session.commit()
    assert queue(client, make.headers(world.reviewer_a)).json == []


def test_scope(client, world, make):
    flag_a = flagged(make, world.posting_a)
    flag_b = flagged(make, world.posting_b)
    db.session.commit()
    assert ids(queue(client, make.headers(world.reviewer_a))) == [flag_a.id]
    assert ids(queue(client, make.headers(world.reviewer_b))) == [flag_b.id]
    assert ids(queue(client, make.headers(world.city_reviewer))) == [flag_a.id, flag_b.id]
    assert ids(queue(client, make.headers(world.admin))) == [flag_a.id, flag_b.id]
    for caller in (world.cadre_a, world.inspector_a):
        response = client.get("/api/v1/flags", headers=make.headers(caller))
        assert_error(response, 403, "role_required")


@pytest.fixture
def reused(client, world, make):
    def send(first_cadre, **first):
        picture = photo_for(device_time(), 7)
        earlier = submit(client, make.headers(first_cadre), files=[picture], **first)
        later = submit(client, make.headers(world.cadre_a), files=[picture])
        assert earlier.status_code == later.status_code == 201, (earlier.json, later.json)
        return earlier.json, later.json

    return send


def test_evidence_with_the_earlier_photo_a_reused_one_matches(client, world, make, reused):
    earlier, later = reused(world.cadre_a)
    reviewer = make.headers(world.reviewer_a)
    (item,) = queue(client, reviewer, code="photo_reused").json

    assert item["severity"] == "high" and item["status"] == "open" and item["created_at"]
    checkin = item["checkin"]
    assert checkin["id"] == later["id"] and checkin["kind"] == "presence"
    assert checkin["cadre_id"] == world.cadre_a.id and checkin["cadre_name"] == "张伟"
    assert checkin["posting_id"] == world.posting_a.id
    assert (checkin["village_code"], checkin["village_name"]) == (
        world.village_a1.code,
        "东湖村委会",
    )
    for key in ("captured_at", "received_at", "local_date", "latitude", "longitude"):
        assert checkin[key] == later[key]
    assert checkin["accuracy_m"] == 12.0 and checkin["distance_m"] == later["distance_m"]
    assert checkin["verdict"] == "flagged" and checkin["review_decision"] is None
    (photo,) = checkin["photos"]
    assert (
        photo["id"] == later["photos"][0]["id"]
        and photo["sha256"] == earlier["photos"][0]["sha256"]
    )
    assert (photo["width"], photo["height"]) == (640, 480)
    assert photo["exif_latitude"] == pytest.approx(32.7093, abs=1e-3)
    assert photo["url"] == f"/api/v1/photos/{photo['id']}"
    assert client.get(photo["url"] + "?variant=thumb", headers=reviewer).status_code == 200

    (match,) = item["reused_from"]
    assert match["match"] == "identical" and match["hamming_distance"] == 0
    assert match["earlier_visible"] is True
    assert match["earlier_photo"]["id"] == earlier["photos"][0]["id"]
    assert match["earlier_checkin"]["id"] == earlier["id"]
    assert match["earlier_checkin"]["cadre_name"] == "张伟"
    assert "photos" not in match["earlier_checkin"]
    assert item["details"]["earlier_checkin_id"] == earlier["id"]


def test_a_reuse_outside_scope_is_only_a_fact(client, world, make, reused):
    b1 = world.village_b1
    earlier, later = reused(
        world.cadre_b, latitude=b1.latitude, longitude=b1.longitude, device_id="phone-lina"
    )
    (item,) = queue(client, make.headers(world.reviewer_a), code="photo_reused").json
    (match,) = item["reused_from"]
    assert match["earlier_visible"] is False
    assert match["earlier_photo"] is None and match["earlier_checkin"] is None
    assert match["match"] == "identical"
    # Not even the ids of the other county's records.
    assert "earlier_checkin_id" not in item["details"]
    assert all("earlier_photo_id" not in m for m in item["details"]["matches"])

    (item,) = queue(client, make.headers(world.city_reviewer), code="photo_reused").json
    assert item["reused_from"][0]["earlier_checkin"]["id"] == earlier["id"]
    assert item["details"]["earlier_checkin_id"] == earlier["id"]


def test_the_check_in_itself_names_no_record_outside_scope_either(client, world, make, reused):
    """Found by the authorization sweep: the check-in's own flags gave a reviewer the ids
    of another county's check-in, photo and cadre that the queue hides."""
    b1 = world.village_b1
    # Same picture, same phone (the default one) as cadre_b's a moment before.
    earlier, later = reused(world.cadre_b, latitude=b1.latitude, longitude=b1.longitude)
    url = f"/api/v1/checkins/{later['id']}"

    def details(caller, code):
        checkin = client.get(url, headers=make.headers(caller)).json
        return next(f["details"] for f in checkin["flags"] if f["code"] == code)

    reuse = details(world.reviewer_a, "photo_reused")
    phone = details(world.reviewer_a, "new_device")
    assert "earlier_checkin_id" not in reuse
    assert all("earlier_photo_id" not in m for m in reuse["matches"])
    assert phone["other_cadre_ids"] == []
    # The city's department sees both counties: to it, nothing is hidden.
    assert details(world.city_reviewer, "photo_reused")["earlier_checkin_id"] == earlier["id"]
    assert details(world.city_reviewer, "new_device")["other_cadre_ids"] == [world.cadre_b.id]


def test_the_queue_names_a_phone_s_other_users_in_scope_only(client, world, make):
    b1 = world.village_b1
    far = {"latitude": b1.latitude, "longitude": b1.longitude}
    submit(client, make.headers(world.cadre_b), device_id="shared-phone", **far)
    submit(client, make.headers(world.cadre_a), device_id="shared-phone", photo_seed=2)
    (mine,) = queue(client, make.headers(world.reviewer_a), code="new_device").json
    assert mine["details"]["reason"] and mine["details"]["other_cadre_ids"] == []
    by_city = queue(client, make.headers(world.city_reviewer), code="new_device").json
    assert [f["details"]["other_cadre_ids"] for f in by_city] == [[world.cadre_b.id]]


def test_the_queue_names_a_repeated_spot_s_first_check_in_in_scope_only(client, world, make):
    """Found by review: repeated_position compares with every check-in, anyone's."""
    spot = {"latitude": world.village_b1.latitude, "longitude": world.village_b1.longitude}
    first = make.checkin(world.posting_b, local_date=date(2026, 3, 2), **spot)
    flag = flagged(make, world.posting_a, "repeated_position")
    flag.details = {"latitude": spot["latitude"], "longitude": spot["longitude"],
                    "earlier_checkin_id": first.id, "earlier_date": "2026-03-02",
                    "same_cadre": False}  # fmt: skip
    db.session.commit()
    (mine,) = queue(client, make.headers(world.reviewer_a), code="repeated_position").json
    assert "earlier_checkin_id" not in mine["details"]
    assert mine["details"]["same_cadre"] is False  # the fact stays
    (city,) = queue(client, make.headers(world.city_reviewer), code="repeated_position").json
    assert city["details"]["earlier_checkin_id"] == first.id


def test_a_page_costs_the_same_queries_for_few_or_many_flags(client, world, make):
    def reused_from(earlier):
        flag = flagged(make, world.posting_a, "photo_reused")
        flag.details = {"matches": [_match(earlier.id)]}

    def statements():
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            queue(client, headers)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    headers = make.headers(world.reviewer_a)
    for _ in range(2):
        reused_from(make.checkin(world.posting_a))
    db.session.commit()
    few = statements()
    for _ in range(6):
        reused_from(make.checkin(world.posting_a))
    db.session.commit()
    assert statements() == few


def test_a_page_of_check_ins_costs_the_same_queries_for_few_or_many_flags(client, world, make):
    """The check-in list shows a reviewer each flag's details, with the ids they name
    checked against the reviewer's scope: once for the page, not once per flag."""
    colleague = make.checkin(world.posting_b)  # another county: named, never shown

    def flags_naming_others():
        reused = flagged(make, world.posting_a, "photo_reused")
        reused.details = {"matches": [_match(make.checkin(world.posting_a).id)]}
        travel = flagged(make, world.posting_a, "impossible_travel")
        travel.details = {"other_checkin_id": colleague.id, "speed_kmh": 900.0}
        shared = flagged(make, world.posting_a, "new_device")
        shared.details = {"reason": "shared", "other_cadre_ids": [world.cadre_b.id]}

    def statements():
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            response = client.get("/api/v1/checkins", headers=headers)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert response.status_code == 200
        return len(seen), response.json

    headers = make.headers(world.reviewer_a)
    flags_naming_others()
    db.session.commit()
    few, _ = statements()
    for _ in range(4):
        flags_naming_others()
    db.session.commit()
    many, page = statements()
    assert many == few
    details = [f["details"] for c in page for f in c["flags"]]
    assert len(details) == 15
    assert all("other_checkin_id" not in d for d in details)  # the other county's
    assert all(d.get("other_cadre_ids") in (None, []) for d in details)
    assert sum("earlier_checkin_id" in m for d in details for m in d.get("matches", [])) == 5


def _match(checkin_id):
    return {
        "photo_sha256": "a" * 64,
        "match": "near_duplicate",
        "earlier_photo_id": 999_999,
        "earlier_checkin_id": checkin_id,
        "hamming_distance": 4,
    }
