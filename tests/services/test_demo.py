"""The demo data set (`flask seed demo`): real Huainan divisions, plausible people,
the same rows every time. The database is empty at the start of each test."""

import re

import pytest
from geopy.distance import geodesic
from sqlalchemy import func

from server import demo_data
from server.demo_data import HouseholdRow, PersonRow, Plan, PostingRow, RegionRow, UnitRow
from server.extensions import db
from server.models import AuditEvent, Household, Posting, Region, Unit, User, UserRole
from server.models.postings import RESIDENT_ROLES
from server.models.regions import level_of_code
from server.services import audit, demo, postings
from server.services.regions import parent_code_of

REGIONS_DIR = demo.regions_dir_from_env()
pytestmark = pytest.mark.skipif(
    not all((REGIONS_DIR / name).is_file() for name in demo.FILES),
    reason=f"regions folder {REGIONS_DIR} is absent (set REGIONS_DIR): no demo data to test",
)
HUAINAN_COUNTIES = {"田家庵区", "大通区", "谢家集区", "八公山区", "潘集区", "凤台县", "寿县"}
DEMO_PHONE = re.compile(r"^1390554\d{4}$")


@pytest.fixture
def seeded(app):
    return demo.seed(regions_dir=REGIONS_DIR)


def _all(stmt):
    return db.session.execute(stmt).scalars().all()


def _with_role(role):
    return _all(db.select(User).join(UserRole).where(UserRole.role == role).order_by(User.phone))


def _seed_cli(app, *args):
    return app.test_cli_runner().invoke(args=["seed", "demo", *args])


def _snapshot():
    """The database's demo rows in the plan's shape (ids left out: they vary)."""
    regions = [RegionRow(r.code, r.name, r.latitude, r.longitude) for r in _all(db.select(Region))]
    units = [UnitRow(u.name, u.level, u.region.code) for u in _all(db.select(Unit))]
    people = [
        PersonRow(
            u.phone,
            u.name,
            *u.roles,
            u.jurisdiction_code,
            u.unit and u.unit.name,
            u.home_region_code,
        )
        for u in _all(db.select(User))
    ]
    posts = [
        PostingRow(p.cadre.phone, p.village.code, p.unit.name, p.role, p.start_date)
        for p in _all(db.select(Posting))
    ]
    households = [
        HouseholdRow(
            h.village.code, h.code, h.head_name, h.cadres[0].phone, h.latitude, h.longitude
        )
        for h in _all(db.select(Household))
    ]
    return _canonical(Plan(regions, units, people, posts, households))


def _canonical(plan):
    return Plan(*(tuple(sorted(rows, key=repr)) for rows in vars(plan).values()))


# ---------------------------------------------------------------- places


def test_huainan_with_its_counties_townships_and_villages(seeded):
    by_level = dict(
        db.session.execute(db.select(Region.level, func.count()).group_by(Region.level)).all()
    )
    assert by_level == {"province": 1, "city": 1, "county": 7, "township": 95, "village": 40}
    assert set(_all(db.select(Region.name).where(Region.level == "county"))) == HUAINAN_COUNTIES
    city = db.session.execute(db.select(Region).where(Region.code == "340400000000")).scalar_one()
    assert (city.name, city.parent.code, city.parent.name) == ("淮南市", "340000000000", "安徽省")
    assert seeded.counts()["villages"] == 40


def test_villages_are_real_committees_placed_inside_their_county(seeded):
    villages = _all(db.select(Region).where(Region.level == "village"))
    per_county = {}
    for village in villages:
        assert village.name.endswith("村委会")
        assert 32.3 <= village.latitude <= 33.1 and 116.4 <= village.longitude <= 117.3
        assert village.geofence_radius_m == 1000
        seat = demo_data.COUNTY_SEATS[village.code[:6]]
        assert geodesic(seat, (village.latitude, village.longitude)).km < 12
        per_county[village.code[:6]] = per_county.get(village.code[:6], 0) + 1
    assert per_county == demo_data.VILLAGES_PER_COUNTY
    # Spread over townships, not bunched in one.
    assert len({v.code[:9] for v in villages}) >= 30


def test_parents_follow_the_codes(seeded):
    for region in _all(db.select(Region)):
        assert region.level == level_of_code(region.code)
        if region.level == "province":
            assert region.parent is None
        else:
            assert region.parent.code == parent_code_of(region.code, region.level)
        if region.level != "village":
            assert region.latitude is None and region.geofence_radius_m is None


# ---------------------------------------------------------------- people


def test_every_cadre_has_one_resident_posting_or_paired_aid(seeded):
    cadres = _with_role("cadre")
    assert len(cadres) == 60
    for cadre in cadres:
        mine = _all(db.select(Posting).where(Posting.cadre_id == cadre.id))
        assert all(p.status == "active" and p.unit_id == cadre.unit_id for p in mine)
        assert all(p.start_date.year in (2025, 2026) for p in mine)
        roles = [p.role for p in mine]
        assert len(roles) == 1 or set(roles) == {"paired_aid"}
    roles = _all(db.select(Posting.role))
    assert {r: roles.count(r) for r in set(roles)} == {
        "first_secretary": 40,
        "team_member": 12,
        "paired_aid": 8,
    }
    villages = _all(db.select(Posting.village_id).where(Posting.role == "first_secretary"))
    assert len(set(villages)) == 40


def test_no_resident_postings_overlap(seeded):
    for posting in _all(db.select(Posting).where(Posting.role.in_(RESIDENT_ROLES))):
        clash = postings.overlapping(
            posting.cadre_id, posting.start_date, posting.end_date, exclude_id=posting.id
        )
        assert clash == []


def test_paired_aid_cadres_have_three_or_four_households_in_their_village(seeded):
    aid_postings = _all(db.select(Posting).where(Posting.role == "paired_aid"))
    assert aid_postings
    for posting in aid_postings:
        paired = [h for h in _all(db.select(Household)) if posting.cadre in h.cadres]
        assert 3 <= len(paired) <= 4
        assert {h.village_id for h in paired} == {posting.village_id}
        assert all(h.head_name for h in paired)
        assert any(h.latitude is not None for h in paired)


def test_inspectors_reviewers_and_admin(seeded):
    inspectors = _with_role("inspector")
    assert len(inspectors) == 10
    for inspector in inspectors:
        assert inspector.jurisdiction.level in ("city", "county")
        assert inspector.unit is not None
        assert inspector.home_region.level == "township"
        assert inspector.home_region.code.startswith("3404")
    reviewers = _with_role("reviewer")
    assert {r.jurisdiction.name for r in reviewers} == HUAINAN_COUNTIES | {"淮南市"}
    assert {"淮南市委组织部", "凤台县委组织部", "寿县县委组织部"} <= {r.name for r in reviewers}
    assert [u.name for u in _with_role("admin")] == [demo_data.ADMIN_NAME]
    users = _all(db.select(User))
    assert len(users) == 79
    assert all(DEMO_PHONE.match(u.phone) for u in users)
    # One hash for everyone: hashing is the slow part, and the password is shared anyway.
    assert len({u.password_hash for u in users}) == 1


# ---------------------------------------------------------------- determinism and audit


def test_database_holds_exactly_the_plan_and_the_plan_never_changes(seeded):
    fresh = demo.plan(REGIONS_DIR)
    assert fresh == seeded
    assert fresh.digest() == demo.plan(REGIONS_DIR).digest()
    assert _snapshot() == _canonical(fresh)


def test_seeding_twice_gives_the_same_rows(app):
    """Two seeds into two fresh transactions (a savepoint rolled back in between)."""
    connection = db.session.get_bind()  # the per-test connection from conftest
    digests = []
    for _ in range(2):
        savepoint = connection.begin_nested()
        demo.seed(regions_dir=REGIONS_DIR)
        digests.append(_snapshot().digest())
        db.session.close()  # end the session's own savepoint, which sits inside ours
        savepoint.rollback()
    assert db.session.scalar(db.select(func.count()).select_from(User)) == 0
    assert digests[0] == digests[1]


def test_one_audit_event_with_the_counts_and_the_chain_verifies(seeded):
    events = _all(db.select(AuditEvent))
    assert [e.action for e in events] == ["demo.seed"]
    assert events[0].summary.items() >= seeded.counts().items()
    assert events[0].summary["checkins"] > 0
    assert audit.verify_chain() == (1, None, None)


def test_an_attendance_history_for_the_console(seeded):
    """Last month and this month up to yesterday: most days present, some missing, some
    flags awaiting review, approved leave and duty trips, one leave awaiting approval."""
    from server.models import Checkin, Flag, Leave
    from server.services import ledger
    from server.services.demo_attendance import _history_days

    admin = db.session.execute(db.select(User).where(User.phone == "13905540001")).scalar_one()
    today = ledger.local_today()
    last_month = _history_days(today)[0].strftime("%Y-%m")
    rows = ledger.month_ledger(actor=admin, month=last_month).rows
    statuses = {row["status"] for row in rows}
    assert {"met", "not_met"} <= statuses
    assert sum(row["days_absent"] for row in rows) > 0
    assert any(row["households_visited"] for row in rows if row["standard"] != "days")
    assert _all(db.select(Flag).where(Flag.status == "open"))
    kinds = {(leave.kind, leave.status) for leave in _all(db.select(Leave))}
    assert {("leave", "approved"), ("duty_trip", "approved"), ("leave", "pending")} <= kinds
    days = {c.local_date for c in _all(db.select(Checkin))}
    assert max(days) < today


# ---------------------------------------------------------------- the command


def test_command_prints_log_ins_that_work(app, client):
    result = _seed_cli(app, "--regions-dir", str(REGIONS_DIR))
    assert result.exit_code == 0, result.output
    password = re.search(r"^password: (\S+)$", result.output, re.M).group(1)
    assert password == demo_data.DEMO_PASSWORD
    for expected in ("13905540001", "淮南市委组织部", "凤台县委组织部", "first_secretary"):
        assert expected in result.output
    assert "argon2" not in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("first_secretary"))
    phone = re.search(r"1390554\d{4}", line).group(0)

    r = client.post(
        "/api/v1/auth/login", json={"phone": phone, "password": password, "device_id": "demo"}
    )
    assert r.status_code == 200, r.json
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json['access_token']}"})
    assert me.json["active_posting"]["role"] == "first_secretary"
    assert me.json["active_posting"]["village_code"].startswith(demo_data.SHOWCASE_COUNTY)


def test_if_empty_does_nothing_when_a_user_exists(app, make):
    make.user("admin")
    result = _seed_cli(app, "--if-empty", "--regions-dir", str(REGIONS_DIR))
    assert result.exit_code == 0, result.output
    assert "not loaded" in result.output
    assert db.session.scalar(db.select(func.count()).select_from(User)) == 1
    assert db.session.scalar(db.select(func.count()).select_from(Region)) == 0


def test_if_empty_seeds_an_empty_database(app):
    result = _seed_cli(app, "--if-empty", "--regions-dir", str(REGIONS_DIR))
    assert result.exit_code == 0, result.output
    assert len(_with_role("cadre")) == 60


def test_refuses_a_database_that_is_not_empty(app, make):
    make.region("340000000000", "安徽省")
    result = _seed_cli(app, "--regions-dir", str(REGIONS_DIR))
    assert result.exit_code == 1
    assert "database_not_empty" in result.output
    assert db.session.scalar(db.select(func.count()).select_from(User)) == 0


def test_missing_regions_folder_is_a_clear_error(app, tmp_path, monkeypatch):
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("REGIONS_DIR", str(missing))
    result = _seed_cli(app)
    assert result.exit_code == 1
    assert "regions_missing" in result.output and str(missing) in result.output
    assert db.session.scalar(db.select(func.count()).select_from(Region)) == 0
