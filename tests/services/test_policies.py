"""The policy in force: defaults overlaid, province down to village, with each level's
latest version effective on the day; sections merged key by key."""

from datetime import date

import marshmallow as ma
import pytest

from schemas.policies import PolicyRulesSchema
from server.extensions import db
from server.models import Policy
from server.services.policies import (
    DEFAULT_POLICY,
    ancestor_codes,
    checkin_policy,
    merge,
    policy_for,
    versions_in_force,
)


def version(region, number, effective_from, rules, world):
    row = Policy(
        region=region,
        version=number,
        effective_from=effective_from,
        rules=rules,
        created_by_id=world.admin.id,
    )
    db.session.add(row)
    db.session.flush()
    return row


def days_per_month(region, on_date):
    return policy_for(region, on_date)["attendance"]["min_days_per_month"]


def test_merge_overlays_key_by_key_and_replaces_lists_whole():
    changes = {
        "attendance": {"min_days_per_month": 15},
        "leave": {"approval_levels": [{"max_days": None, "level": "county"}]},
    }
    merged = merge(DEFAULT_POLICY, changes)
    assert merged["attendance"]["min_days_per_month"] == 15
    assert merged["attendance"]["counting_rule"] == "presence"
    assert merged["leave"]["approval_levels"] == [{"max_days": None, "level": "county"}]
    assert merged["leave"]["annual_cap_days"] == 30
    assert DEFAULT_POLICY["attendance"]["min_days_per_month"] == 20, "base untouched"
    merged["checkin"]["photo_required"]["presence"] = False
    assert DEFAULT_POLICY["checkin"]["photo_required"]["presence"] is True, "a fresh copy"


def test_ancestor_codes_run_from_the_province_down():
    assert ancestor_codes("340421100201") == [
        "340000000000",
        "340400000000",
        "340421000000",
        "340421100000",
        "340421100201",
    ]
    assert ancestor_codes("340421000000") == ["340000000000", "340400000000", "340421000000"]


def test_without_versions_the_defaults_apply(world):
    assert policy_for(world.village_a1, date(2026, 5, 1)) == DEFAULT_POLICY


def test_a_county_version_reaches_its_villages_and_not_the_neighbours(world):
    version(world.county_a, 1, date(2026, 1, 1), {"attendance": {"min_days_per_month": 15}}, world)
    assert days_per_month(world.village_a1, date(2026, 5, 1)) == 15
    assert days_per_month(world.village_a2, date(2026, 5, 1)) == 15
    assert days_per_month(world.village_b1, date(2026, 5, 1)) == 20


def test_a_village_overrides_one_field_and_inherits_the_rest(world):
    version(
        world.county_a,
        1,
        date(2026, 1, 1),
        {"attendance": {"min_days_per_month": 15, "counting_rule": "overnight"}},
        world,
    )
    version(
        world.village_a1, 1, date(2026, 1, 1), {"attendance": {"min_days_per_month": 18}}, world
    )
    mine = policy_for(world.village_a1, date(2026, 5, 1))["attendance"]
    assert mine["min_days_per_month"] == 18
    assert mine["counting_rule"] == "overnight"
    assert days_per_month(world.village_a2, date(2026, 5, 1)) == 15


def test_a_version_applies_from_its_effective_date_not_the_day_before(world):
    version(world.city, 1, date(2026, 7, 1), {"attendance": {"min_days_per_month": 22}}, world)
    assert days_per_month(world.village_b1, date(2026, 6, 30)) == 20
    assert days_per_month(world.village_b1, date(2026, 7, 1)) == 22


def test_a_later_version_replaces_an_earlier_one_of_the_same_region(world):
    version(world.county_a, 1, date(2026, 1, 1), {"attendance": {"min_days_per_month": 15}}, world)
    version(
        world.county_a,
        2,
        date(2026, 9, 1),
        {"household_visits": {"per_household_per_month": 2}},
        world,
    )
    # A version states the region's whole change from then on, not a delta on its
    # predecessor: September's version no longer lowers the days.
    assert days_per_month(world.village_a1, date(2026, 8, 31)) == 15
    september = policy_for(world.village_a1, date(2026, 9, 1))
    assert september["attendance"]["min_days_per_month"] == 20
    assert september["household_visits"]["per_household_per_month"] == 2


def test_a_correction_on_the_same_date_wins_by_its_higher_version(world):
    version(world.county_a, 1, date(2026, 3, 1), {"attendance": {"min_days_per_month": 12}}, world)
    fixed = version(
        world.county_a, 2, date(2026, 3, 1), {"attendance": {"min_days_per_month": 16}}, world
    )
    assert days_per_month(world.village_a1, date(2026, 3, 1)) == 16
    codes = ancestor_codes(world.village_a1.code)
    assert versions_in_force(codes, date(2026, 3, 1)) == {world.county_a.code: fixed}


def test_an_older_date_entered_later_does_not_displace_a_newer_date(world):
    version(world.county_a, 1, date(2026, 6, 1), {"attendance": {"min_days_per_month": 16}}, world)
    version(world.county_a, 2, date(2026, 2, 1), {"attendance": {"min_days_per_month": 12}}, world)
    assert days_per_month(world.village_a1, date(2026, 3, 1)) == 12
    assert days_per_month(world.village_a1, date(2026, 6, 1)) == 16


def test_checkin_policy_reads_the_thresholds_and_photo_duty(world):
    version(
        world.county_a,
        1,
        date(2026, 1, 1),
        {
            "thresholds": {"poor_accuracy_m": 150},
            "checkin": {"photo_required": {"presence": False}},
        },
        world,
    )
    policy = checkin_policy(world.village_a1, date(2026, 2, 1))
    assert policy["poor_accuracy_m"] == 150
    assert policy["impossible_travel_kmh"] == 150
    assert policy["photo_required"] == {
        **DEFAULT_POLICY["checkin"]["photo_required"],
        "presence": False,
    }


def _field_tree(schema):
    tree = {}
    for name, field in schema.fields.items():
        nested = getattr(field, "schema", None)
        tree[name] = _field_tree(nested) if isinstance(field, ma.fields.Nested) else None
    return tree


def _key_tree(document):
    return {
        key: _key_tree(value) if isinstance(value, dict) else None
        for key, value in document.items()
    }


def test_the_rules_schema_mirrors_the_defaults_section_by_section():
    assert _field_tree(PolicyRulesSchema()) == _key_tree(DEFAULT_POLICY)
    assert PolicyRulesSchema().load(DEFAULT_POLICY) == DEFAULT_POLICY


@pytest.mark.parametrize(
    "rules",
    [
        {},
        {"attendance": {}},
        {"attendance": {"min_days_per_month": 32}},
        {"attendance": {"min_days_per_month": 20.5}},
        {"attendance": {"min_days_per_month": True}},
        {"attendance": {"min_days_per_year": 367}},
        {"attendance": {"counting_rule": "vibes"}},
        {"attendance": {"evening_from": "24:00"}},
        {"attendance": {"morning_until": "9:00"}},
        {"attendance": {"holidays_excused": "yes"}},
        {"attendance": {"surprise": 1}},
        {"checkin": {"duty": "hourly"}},
        {"checkin": {"photo_required": {"selfie": True}}},
        {"checkin": {"photo_required": {"presence": 1}}},
        {"household_visits": {"per_household_per_month": 0}},
        {"leave": {"approval_levels": []}},
        {"leave": {"approval_levels": [{"max_days": 3, "level": "township"}]}},
        {
            "leave": {
                "approval_levels": [
                    {"max_days": 5, "level": "township"},
                    {"max_days": 3, "level": "county"},
                    {"max_days": None, "level": "city"},
                ]
            }
        },
        {
            "leave": {
                "approval_levels": [
                    {"max_days": 3, "level": "county"},
                    {"max_days": None, "level": "township"},
                ]
            }
        },
        {
            "leave": {
                "approval_levels": [
                    {"max_days": None, "level": "township"},
                    {"max_days": None, "level": "county"},
                ]
            }
        },
        {"leave": {"approval_levels": [{"max_days": None, "level": "village"}]}},
        {"leave": {"annual_cap_days": -1}},
        {"thresholds": {"poor_accuracy_m": 0}},
        {"thresholds": {"poor_accuracy_m": "200"}},
        {"thresholds": {"impossible_travel_kmh": float("nan")}},
        {"thresholds": {"phash_max_distance": 65}},
        {"thresholds": {"contradiction_window": "same_week"}},
        {"weather": {}},
    ],
)
def test_invalid_rules_are_refused(rules):
    with pytest.raises(ma.ValidationError):
        PolicyRulesSchema().load(rules)


def test_valid_partial_rules_load_as_given():
    rules = {
        "attendance": {"min_days_per_year": None, "counting_rule": "overnight"},
        "leave": {
            "approval_levels": [
                {"max_days": 5, "level": "township"},
                {"max_days": None, "level": "county"},
            ]
        },
        "thresholds": {"household_radius_m": 500},
    }
    assert PolicyRulesSchema().load(rules) == rules
