"""Policies over HTTP: versions added by the departments that own them, inherited down
the region tree from their effective date, and what is in force explained by source."""

import pytest

from server.extensions import db
from server.models import AuditEvent, MonthClosure, Policy
from tests.api.checkin_kit import submit
from tests.test_platform import assert_error

URL = "/api/v1/policies"


def add(client, headers, region, rules, effective_from="2026-01-01", reason="县委组织部文件"):
    body = {
        "region_code": region.code,
        "effective_from": effective_from,
        "rules": rules,
        "reason": reason,
    }
    return client.post(URL, json=body, headers=headers)


def in_force(client, headers, region, on_date):
    response = client.get(
        f"{URL}/in-force?region_code={region.code}&date={on_date}", headers=headers
    )
    assert response.status_code == 200, response.json
    return response.json


def days(document):
    return document["policy"]["attendance"]["min_days_per_month"]


@pytest.fixture
def reviewer_a(world, make):
    return make.headers(world.reviewer_a)


def test_a_reviewer_adds_a_version_for_their_county(client, world, reviewer_a):
    response = add(client, reviewer_a, world.county_a, {"attendance": {"min_days_per_month": 15}})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["region_code"] == world.county_a.code and body["region_name"] == "凤台县"
    assert body["version"] == 1 and body["effective_from"] == "2026-01-01"
    assert body["rules"] == {"attendance": {"min_days_per_month": 15}}
    assert body["created_by_id"] == world.reviewer_a.id
    stored = db.session.get(Policy, body["id"])
    assert stored.rules == {"attendance": {"min_days_per_month": 15}}
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "policy.create")
    ).scalar_one()
    assert event.object_type == "policy" and event.object_id == str(body["id"])
    assert event.actor_id == world.reviewer_a.id
    assert event.summary == {
        "region": world.county_a.code,
        "version": 1,
        "effective_from": "2026-01-01",
        "rules": {"attendance": {"min_days_per_month": 15}},
        "reason": "县委组织部文件",
    }


def test_a_county_change_reaches_its_villages_only(client, world, make, reviewer_a):
    add(client, reviewer_a, world.county_a, {"attendance": {"min_days_per_month": 15}})
    cadre = make.headers(world.cadre_b)
    assert days(in_force(client, cadre, world.village_a1, "2026-05-01")) == 15
    assert days(in_force(client, cadre, world.village_a2, "2026-05-01")) == 15
    assert days(in_force(client, cadre, world.village_b1, "2026-05-01")) == 20


def test_a_village_overrides_one_field_and_the_sources_say_why(client, world, make, reviewer_a):
    city = make.headers(world.city_reviewer)
    province = add(
        client, make.headers(world.admin), world.province, {"leave": {"annual_cap_days": 20}}
    ).json
    county = add(
        client,
        city,
        world.county_a,
        {"attendance": {"min_days_per_month": 15, "counting_rule": "overnight"}},
    ).json
    village = add(
        client, reviewer_a, world.village_a1, {"attendance": {"min_days_per_month": 18}}
    ).json
    document = in_force(client, make.headers(world.cadre_a), world.village_a1, "2026-05-01")
    attendance = document["policy"]["attendance"]
    assert attendance["min_days_per_month"] == 18
    assert attendance["counting_rule"] == "overnight"
    assert document["policy"]["leave"]["annual_cap_days"] == 20
    assert document["policy"]["checkin"]["duty"] == "daily"  # a default nobody changed
    assert document["region_code"] == world.village_a1.code and document["date"] == "2026-05-01"
    assert [(s["policy_id"], s["level"], s["region_code"]) for s in document["sources"]] == [
        (province["id"], "province", world.province.code),
        (county["id"], "county", world.county_a.code),
        (village["id"], "village", world.village_a1.code),
    ]
    assert document["sources"][2]["rules"] == {"attendance": {"min_days_per_month": 18}}
    assert days(in_force(client, reviewer_a, world.village_a2, "2026-05-01")) == 15


def test_a_version_counts_from_its_effective_date(client, world, reviewer_a):
    add(
        client,
        reviewer_a,
        world.county_a,
        {"attendance": {"min_days_per_month": 22}},
        effective_from="2026-07-01",
    )
    before = in_force(client, reviewer_a, world.village_a1, "2026-06-30")
    assert days(before) == 20 and before["sources"] == []
    assert days(in_force(client, reviewer_a, world.village_a1, "2026-07-01")) == 22


def test_a_correction_on_the_same_date_wins(client, world, make, reviewer_a):
    first = add(client, reviewer_a, world.county_a, {"attendance": {"min_days_per_month": 12}})
    fixed = add(client, reviewer_a, world.county_a, {"attendance": {"min_days_per_month": 16}})
    assert (first.json["version"], fixed.json["version"]) == (1, 2)
    document = in_force(client, reviewer_a, world.village_a1, "2026-01-01")
    assert days(document) == 16
    assert [s["policy_id"] for s in document["sources"]] == [fixed.json["id"]]
    # Versions number per region: county B starts at 1.
    other = add(
        client, make.headers(world.admin), world.county_b, {"leave": {"annual_cap_days": 10}}
    )
    assert other.json["version"] == 1


def test_a_county_relaxing_the_photo_duty_lets_photo_less_check_ins_through(
    client, world, make, reviewer_a
):
    cadre = make.headers(world.cadre_a)
    assert_error(submit(client, cadre, photo=False), 422, "photo_required")
    response = add(
        client, reviewer_a, world.county_a, {"checkin": {"photo_required": {"presence": False}}}
    )
    assert response.status_code == 201
    assert submit(client, cadre, photo=False).status_code == 201
    # County B keeps the default.
    assert_error(
        submit(
            client,
            make.headers(world.cadre_b),
            photo=False,
            latitude=world.village_b1.latitude,
            longitude=world.village_b1.longitude,
        ),
        422,
        "photo_required",
    )


@pytest.mark.parametrize(
    "rules, field",
    [
        ({}, "rules"),
        ({"attendance": {}}, "rules"),
        ({"attendance": {"min_days_per_month": 40}}, "rules"),
        ({"attendance": {"counting_rule": "vibes"}}, "rules"),
        ({"attendance": {"evening_from": "25:00"}}, "rules"),
        ({"checkin": {"duty": "hourly"}}, "rules"),
        ({"checkin": {"photo_required": {"selfie": True}}}, "rules"),
        ({"leave": {"approval_levels": [{"max_days": 3, "level": "township"}]}}, "rules"),
        ({"thresholds": {"poor_accuracy_m": -5}}, "rules"),
        ({"weather": {"sunny": True}}, "rules"),
    ],
)
def test_invalid_rules_are_422(client, world, reviewer_a, rules, field):
    response = add(client, reviewer_a, world.county_a, rules)
    assert_error(response, 422, "validation_error")
    assert field in response.json["errors"]
    assert db.session.execute(db.select(Policy)).first() is None


def test_the_rules_errors_name_the_setting(client, world, reviewer_a):
    response = add(
        client,
        reviewer_a,
        world.county_a,
        {
            "leave": {
                "approval_levels": [
                    {"max_days": 3, "level": "county"},
                    {"max_days": None, "level": "township"},
                ]
            }
        },
    )
    assert_error(response, 422, "validation_error")
    assert "approval_levels" in response.json["errors"]["rules"]["leave"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"reason": ""}, "reason"),
        ({"reason": None}, "reason"),
        ({"effective_from": "2026-02-30"}, "effective_from"),
        ({"region_code": "34042110020"}, "region_code"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_bodies_are_422(client, world, reviewer_a, body, field):
    payload = {
        "region_code": world.county_a.code,
        "effective_from": "2026-01-01",
        "rules": {"attendance": {"min_days_per_month": 15}},
        "reason": "x",
        **body,
    }
    response = client.post(URL, json=payload, headers=reviewer_a)
    assert_error(response, 422, "validation_error")
    assert field in response.json["errors"]


def test_an_unknown_region_is_422(client, world, reviewer_a):
    response = client.post(
        URL,
        json={
            "region_code": "340421999000",
            "effective_from": "2026-01-01",
            "rules": {"leave": {"annual_cap_days": 10}},
            "reason": "x",
        },
        headers=reviewer_a,
    )
    assert_error(response, 422, "region_not_found")


@pytest.mark.parametrize(
    "caller, region, status, error",
    [
        ("reviewer_b", "county_a", 403, "out_of_jurisdiction"),
        ("reviewer_a", "city", 403, "out_of_jurisdiction"),
        ("reviewer_a", "village_b1", 403, "out_of_jurisdiction"),
        ("cadre_a", "village_a1", 403, "role_required"),
        ("inspector_a", "county_a", 403, "role_required"),
    ],
)
def test_only_the_owning_department_may_add_versions(
    client, world, make, caller, region, status, error
):
    response = add(
        client,
        make.headers(getattr(world, caller)),
        getattr(world, region),
        {"attendance": {"min_days_per_month": 15}},
    )
    assert_error(response, status, error)
    assert db.session.execute(db.select(Policy)).first() is None
    assert (
        db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action == "policy.create")
        ).first()
        is None
    )


AUTHORITY = {
    "consequences.decision_levels": {"consequences": {"decision_levels": {"recall": "township"}}},
    "consequences.rules": {"consequences": {"rules": {"false_checkin": {"enabled": False}}}},
    "leave.approval_levels": {
        "leave": {"approval_levels": [{"max_days": None, "level": "township"}]}
    },
}


@pytest.mark.parametrize("setting", sorted(AUTHORITY))
def test_a_level_cannot_set_who_decides_in_its_own_region(client, world, make, setting):
    township = make.user("reviewer", name="城关镇党委", jurisdiction=world.township_a)
    db.session.commit()
    for headers, region in [
        (make.headers(township), world.township_a),
        (make.headers(world.reviewer_a), world.county_a),
    ]:
        response = add(client, headers, region, AUTHORITY[setting])
        assert_error(response, 403, "authority_setting_reserved")
        assert response.json["errors"] == {"rules": [setting]}
    assert db.session.execute(db.select(Policy)).first() is None
    # Other settings stay the region's own.
    assert (
        add(
            client, make.headers(township), world.township_a, {"leave": {"annual_cap_days": 20}}
        ).status_code
        == 201
    )


@pytest.mark.parametrize("caller", ["reviewer_a", "city_reviewer", "admin"])
def test_a_level_above_or_an_admin_sets_who_decides(client, world, make, caller):
    response = add(
        client,
        make.headers(getattr(world, caller)),
        world.township_a,
        AUTHORITY["consequences.decision_levels"],
    )
    assert response.status_code == 201, response.json
    document = in_force(client, make.headers(world.admin), world.village_a1, "2026-02-01")
    assert document["policy"]["consequences"]["decision_levels"]["recall"] == "township"


def close(world, region, month):
    closure = MonthClosure(
        region=region,
        month=month,
        version=1,
        status="closed",
        snapshot="{}",
        snapshot_hash="0" * 64,
        row_count=0,
        closed_by_id=world.admin.id,
    )
    db.session.add(closure)
    db.session.commit()
    return closure


def test_a_version_dated_in_a_closed_month_is_refused(client, world, make, reviewer_a):
    closure = close(world, world.city, "2026-03")
    response = add(
        client,
        reviewer_a,
        world.county_a,
        {"attendance": {"min_days_per_month": 15}},
        effective_from="2026-03-15",
    )
    assert_error(response, 409, "month_closed")
    assert response.json["errors"] == {"month": "2026-03", "closure_id": closure.id}
    # April stays open.
    later = add(
        client,
        reviewer_a,
        world.county_a,
        {"attendance": {"min_days_per_month": 15}},
        effective_from="2026-04-01",
    )
    assert later.status_code == 201


def test_a_reopened_month_takes_versions_again(client, world, reviewer_a):
    closure = close(world, world.county_a, "2026-03")
    closure.status = "reopened"
    db.session.commit()
    response = add(
        client,
        reviewer_a,
        world.county_a,
        {"attendance": {"min_days_per_month": 15}},
        effective_from="2026-03-15",
    )
    assert response.status_code == 201


def test_versions_are_listed_province_first_and_readable_by_everyone(client, world, make):
    admin = make.headers(world.admin)
    ids = {
        name: add(client, admin, getattr(world, name), {"leave": {"annual_cap_days": n}}).json["id"]
        for n, name in enumerate(["village_a1", "province", "county_b", "county_a"], start=10)
    }
    cadre = make.headers(world.cadre_b)
    everything = client.get(URL, headers=cadre)
    assert everything.status_code == 200
    assert [p["id"] for p in everything.json] == [
        ids["province"],
        ids["county_a"],
        ids["village_a1"],
        ids["county_b"],
    ]
    assert "X-Pagination" in everything.headers
    own = client.get(f"{URL}?region_code={world.village_a1.code}", headers=cadre).json
    assert [p["id"] for p in own] == [ids["village_a1"]]
    chain = client.get(
        f"{URL}?region_code={world.village_a1.code}&include_ancestors=true", headers=cadre
    ).json
    assert [p["id"] for p in chain] == [ids["province"], ids["county_a"], ids["village_a1"]]
    one = client.get(f"{URL}/{ids['county_b']}", headers=make.headers(world.cadre_a))
    assert one.status_code == 200 and one.json["region_code"] == world.county_b.code


def test_a_missing_version_is_404(client, world, make):
    assert_error(
        client.get(f"{URL}/999999", headers=make.headers(world.admin)), 404, "policy_not_found"
    )


@pytest.mark.parametrize(
    "query, status, error",
    [
        ("region_code=340421999000&date=2026-01-01", 422, "region_not_found"),
        ("region_code=340421100201", 422, "validation_error"),
        ("region_code=340421100201&date=2026-13-01", 422, "validation_error"),
        ("date=2026-01-01", 422, "validation_error"),
    ],
)
def test_in_force_needs_a_known_region_and_a_date(client, world, make, query, status, error):
    response = client.get(f"{URL}/in-force?{query}", headers=make.headers(world.cadre_a))
    assert_error(response, status, error)


def test_listing_an_unknown_region_is_422(client, world, make):
    response = client.get(f"{URL}?region_code=340421999000", headers=make.headers(world.admin))
    assert_error(response, 422, "region_not_found")
