"""Dispatching units held to account: their cadres' months met, absences found, recalls,
replacements owed, the deduction the policy sets, and the ranking across units.

County A asks 3 days a month. Unit A (home: county A) has posting_a in A1 and, from
March, a second cadre in B1 (county B). January is closed for county A, March for
county B; February is live everywhere.
"""

from datetime import UTC, date, datetime

import pytest

from server.extensions import db
from server.models import ReplacementObligation
from server.services.ledger import local_today
from tests.api.test_assessment import case
from tests.api.test_attendance import _finding, policy, present
from tests.api.test_rules import close, workdays
from tests.test_platform import assert_error

PERIOD = {"from": "2026-01", "to": "2026-03"}


def at(month, day):
    return datetime(2026, month, day, 2, tzinfo=UTC)


@pytest.fixture
def units(client, make, world):
    policy(make, world.county_a, {"attendance": {"min_days_per_month": 3}})
    policy(
        make,
        world.county_a,
        {
            "attendance": {"min_days_per_month": 3},
            "consequences": {"deduction_per_absence": 0.5},
        },
        effective=date(2026, 3, 1),
    )
    for month in ("2026-01", "2026-03"):
        present(make, world.posting_a, workdays(month, 3))
    away = make.posting(
        make.user("cadre", name="赵六", unit=world.unit_a),
        world.village_b1,
        world.unit_a,
        start=date(2026, 3, 1),
    )
    # Unit C does well in county A; unit D is unit B's twin in county B.
    unit_c, unit_d = (
        make.unit(world.county_a, "凤台县农业局"),
        make.unit(world.county_b, "寿县水利局"),
    )
    good = make.posting(make.user("cadre", name="钱七"), world.village_a2, unit_c)
    for month in ("2026-01", "2026-02", "2026-03"):
        present(make, good, workdays(month, 3))
    make.posting(make.user("cadre", name="孙八"), world.village_b1, unit_d)

    _finding(make, world, world.posting_a, "absent", at(2, 3))
    _finding(make, world, world.posting_a, "absent", at(3, 5))
    _finding(make, world, world.posting_a, "present", at(3, 10))
    # An absence found, then amended: the amendment (on leave) is what counts.
    wrong = _finding(make, world, world.posting_a, "absent", at(3, 12))
    amendment = _finding(make, world, world.posting_a, "on_leave", at(3, 12))
    amendment.amends_id = wrong.id
    recalled = case(make, world, world.posting_a, ("recall", at(3, 20)), opened=at(3, 15))
    # A recall corrected to a talk is not a recall in force.
    case(make, world, away, ("recall", at(3, 21)), ("talk", at(3, 22)), opened=at(3, 15))
    db.session.add(
        ReplacementObligation(
            unit_id=world.unit_a.id,
            recalled_posting_id=world.posting_a.id,
            decision_id=recalled.decisions[0].id,
            deadline=date(2026, 3, 25),
        )
    )
    db.session.commit()
    close(client, make, world.reviewer_a, world.county_a, "2026-01")
    close(client, make, world.reviewer_b, world.county_b, "2026-03")
    return {"away": away, "unit_c": unit_c, "unit_d": unit_d}


def report(client, make, user, unit, **params):
    response = client.get(
        f"/api/v1/units/{unit.id}/accountability",
        query_string=params or PERIOD,
        headers=make.headers(user),
    )
    assert response.status_code == 200, response.json
    return response.json


def counts(entry, *keys):
    return tuple(entry[k] for k in keys)


FIGURES = ("postings", "closed_postings", "source", "met", "not_met", "compliance")
PENALTIES = ("absences_found", "recalls", "deduction", "replacements_open", "replacements_overdue")


def test_a_units_months_and_total(client, make, world, units):
    body = report(client, make, world.reviewer_a, world.unit_a)
    assert body["unit"] == {
        "id": world.unit_a.id,
        "name": "凤台县财政局",
        "level": "county",
        "region_code": world.county_a.code,
    }
    assert (body["from"], body["to"], body["whole_unit"]) == ("2026-01", "2026-03", True)
    jan, feb, mar = body["months"]
    assert counts(jan, *FIGURES) == (1, 1, "closed", 1, 0, 1.0)
    assert counts(feb, *FIGURES) == (1, 0, "live", 0, 1, 0.0)
    # posting_a met March live; the cadre in county B did not, frozen by its closure.
    assert counts(mar, *FIGURES) == (2, 1, "mixed", 1, 1, 0.5)
    assert counts(jan, *PENALTIES) == (0, 0, 0.0, 0, 0)
    assert counts(feb, *PENALTIES) == (1, 0, 0.1, 0, 0)
    # March: the policy in force on the 31st takes 0.5 a point; the replacement is late.
    assert counts(mar, *PENALTIES) == (1, 1, 0.5, 1, 1)
    total = body["total"]
    assert counts(total, "postings", "posting_months", "closed_posting_months") == (2, 4, 2)
    assert counts(total, "met", "not_met", "open", "undetermined", "compliance") == (
        2,
        2,
        0,
        0,
        0.5,
    )
    assert counts(total, *PENALTIES) == (2, 1, 0.6, 1, 1)
    (owed,) = total["replacements"]
    assert owed == {
        "id": owed["id"],
        "recalled_posting_id": world.posting_a.id,
        "deadline": "2026-03-25",
        "overdue": True,
    }


def test_the_obligation_counts_from_the_recall_until_it_is_fulfilled(client, make, world, units):
    obligation = db.session.execute(db.select(ReplacementObligation)).scalar_one()
    obligation.status, obligation.fulfilled_at = "fulfilled", at(3, 24)
    db.session.commit()
    body = report(client, make, world.admin, world.unit_a, **{"from": "2026-02", "to": "2026-03"})
    assert [m["replacements_open"] for m in body["months"]] == [0, 0]
    assert body["total"]["replacements"] == []


def test_a_department_where_the_units_cadres_serve_sees_those_only(client, make, world, units):
    body = report(client, make, world.reviewer_b, world.unit_a)
    assert body["whole_unit"] is False
    assert [m["postings"] for m in body["months"]] == [0, 0, 1]
    assert [m["source"] for m in body["months"]] == [None, None, "closed"]
    assert counts(body["total"], *PENALTIES) == (0, 0, 0.0, 0, 0)


def test_out_of_reach_is_like_missing(client, make, world, units):
    headers = make.headers(world.reviewer_b)
    hidden = client.get(f"/api/v1/units/{units['unit_c'].id}/accountability", headers=headers)
    missing = client.get("/api/v1/units/999999/accountability", headers=headers)
    assert_error(hidden, 404, "unit_not_found")
    assert hidden.json == missing.json
    for who in ("cadre_a", "inspector_a"):
        response = client.get(
            f"/api/v1/units/{world.unit_a.id}/accountability",
            headers=make.headers(getattr(world, who)),
        )
        assert_error(response, 403, "role_required")


def test_the_default_period_is_this_year_so_far(client, make, world):
    today = local_today()
    body = client.get(
        f"/api/v1/units/{world.unit_b.id}/accountability", headers=make.headers(world.reviewer_b)
    ).json
    assert body["from"] == f"{today.year}-01"
    assert body["to"] == f"{today.year}-{today.month:02d}"
    assert len(body["months"]) == today.month


@pytest.mark.parametrize(
    "params, error",
    [
        ({"from": "2026-03", "to": "2026-01"}, "invalid_period"),
        ({"from": "2026-01", "to": "2099-01"}, "invalid_period"),
        ({"from": "2024-01", "to": "2026-03"}, "period_too_long"),
        ({"from": "2026-13"}, "validation_error"),
        ({"to": "March"}, "validation_error"),
    ],
)
def test_a_bad_period_is_422(client, make, world, params, error):
    for url in (f"/api/v1/units/{world.unit_a.id}/accountability", "/api/v1/units/accountability"):
        response = client.get(url, query_string=params, headers=make.headers(world.admin))
        assert_error(response, 422, error)


def ranking(client, make, user, **params):
    response = client.get(
        "/api/v1/units/accountability",
        query_string={**PERIOD, **params},
        headers=make.headers(user),
    )
    assert response.status_code == 200, response.json
    return response.json


def test_units_are_ranked_by_deduction_then_compliance(client, make, world, units):
    # A paired aid cadre without households yet: no month can be judged.
    unit_e = make.unit(world.county_a, "凤台县林业局")
    make.posting(make.user("cadre"), world.village_a2, unit_e, role="paired_aid")
    db.session.commit()
    body = ranking(client, make, world.city_reviewer)
    assert body["region_code"] == world.city.code
    ranked = [
        (u["rank"], u["unit"]["name"], u["deduction"], u["compliance"]) for u in body["units"]
    ]
    assert ranked == [
        (1, "凤台县农业局", 0.0, 1.0),
        # Equal figures share a rank.
        (2, "寿县教育局", 0.0, 0.0),
        (2, "寿县水利局", 0.0, 0.0),
        (4, "凤台县林业局", 0.0, None),
        (5, "凤台县财政局", 0.6, 0.5),
    ]
    assert body["units"][3]["undetermined"] == 3
    unit_a = body["units"][-1]
    assert counts(unit_a, "postings", "absences_found", "recalls") == (2, 2, 1)


def test_the_ranking_covers_a_region_within_ones_jurisdiction(client, make, world, units):
    names = lambda body: [u["unit"]["name"] for u in body["units"]]  # noqa: E731
    assert names(ranking(client, make, world.reviewer_a)) == ["凤台县农业局", "凤台县财政局"]
    county_b = ranking(client, make, world.city_reviewer, region_code=world.county_b.code)
    # All three equal (nothing met, nothing found): one rank, in the order of their ids.
    assert names(county_b) == ["凤台县财政局", "寿县教育局", "寿县水利局"]
    assert {u["rank"] for u in county_b["units"]} == {1}
    # Unit A's cadre in county B did not meet March: counted there, without penalties.
    assert counts(county_b["units"][0], "postings", "not_met", "deduction") == (1, 1, 0.0)
    assert len(ranking(client, make, world.admin)["units"]) == 4
    response = client.get(
        "/api/v1/units/accountability",
        query_string={"region_code": world.county_b.code},
        headers=make.headers(world.reviewer_a),
    )
    assert_error(response, 403, "out_of_jurisdiction")
    response = client.get("/api/v1/units/accountability", headers=make.headers(world.cadre_a))
    assert_error(response, 403, "role_required")
