"""Two disjoint jurisdictions for the authorization sweep (test_authorization_sweep.py,
test_pending_sweep.py; assembled in sweep_fixtures.py, inspections in
sweep_inspections.py).

Side A is Fengtai county (Huainan city), side B Changfeng county (Hefei city): nothing
of one lies inside the other. Each side has a city and a county reviewer, two
inspectors (a team), the cadre everything is about, another cadre of the same county,
and at least one object of every kind an API path names, made through the API where
that is how they arise. Every text a side writes carries its tag ("SideA"), so that a
response can be searched for the other side's rows even in a spreadsheet.
"""

import io
from dataclasses import dataclass, field
from datetime import timedelta

from server import auth
from server.extensions import db
from server.models import (
    AuthSession,
    Flag,
    Photo,
    Posting,
    Recommendation,
    ReplacementObligation,
)
from server.models.types import utcnow
from tests.api.case_kit import answer, deadline_passed, decide, own_initiative
from tests.api.checkin_kit import device_time, fields, photo_for, post

MONTH = "2026-03"  # a month every posting served, closed on both sides
# What each side is made of: (city, county, township 1, township 2) codes and the two
# villages' positions.
PLACES = {
    "A": ("340400", "340421", (32.7093, 116.7112), (32.7201, 116.6904)),
    "B": ("340100", "340121", (31.9931, 117.1671), (32.0102, 117.1893)),
}


@dataclass
class Side:
    tag: str
    users: dict = field(default_factory=dict)  # label -> user id
    objects: dict = field(default_factory=dict)  # label -> id
    codes: dict = field(default_factory=dict)  # label -> division code
    pending: dict = field(default_factory=dict)  # what the cadre must not learn of yet
    tokens: dict = field(default_factory=dict)  # label -> Authorization header
    village_position: tuple = ()  # the cadre's village, for check-ins made there
    photos: list = field(default_factory=list)  # the bytes of each photo sent

    def headers(self, label):
        return self.tokens[label]


def ok(response, status=(200, 201)):
    assert response.status_code in status, (response.status_code, response.get_json())
    return response.get_json()


def token(user):
    """A log-in that outlives the module (the configured 15 minutes might not)."""
    session = AuthSession(id=auth.new_token_id(), user_id=user.id, device_id="sweep")
    db.session.add(session)
    db.session.flush()
    access = auth.encode_token(user.id, session.id, "access", utcnow() + timedelta(hours=12))
    return {"Authorization": f"Bearer {access}"}


def _places(make, side, province):
    city_code, county_code, first, second = PLACES[side.tag]
    tag = side.tag
    city = make.region(f"{city_code}000000", f"市Side{tag}", parent=province)
    county = make.region(f"{county_code}000000", f"县Side{tag}", parent=city)
    towns = [
        make.region(f"{county_code}{n}000", f"镇{n}Side{tag}", parent=county) for n in (100, 101)
    ]
    villages = [
        make.region(
            f"{town.code[:9]}201", f"村{n}Side{tag}", parent=town, latitude=lat, longitude=lon
        )
        for n, (town, (lat, lon)) in enumerate(zip(towns, (first, second), strict=True), 1)
    ]
    side.codes.update(
        city=city.code,
        county=county.code,
        township=towns[0].code,
        village=villages[0].code,
        village2=villages[1].code,
    )
    side.objects.update(village=villages[0].id)
    side.village_position = first
    return city, county, villages


def _people(make, side, city, county, villages):
    tag = side.tag
    unit = make.unit(county, f"派出单位Side{tag}", "county")
    people = {
        "city_reviewer": make.user("reviewer", name=f"市组织部Side{tag}", jurisdiction=city),
        "reviewer": make.user("reviewer", name=f"县组织部Side{tag}", jurisdiction=county),
        "inspector": make.user("inspector", name=f"督查甲Side{tag}", jurisdiction=county),
        "inspector2": make.user("inspector", name=f"督查乙Side{tag}", jurisdiction=county),
        "cadre": make.user("cadre", name=f"第一书记Side{tag}", unit=unit),
        "other_cadre": make.user("cadre", name=f"队员Side{tag}", unit=unit),
        "recalled_cadre": make.user("cadre", name=f"召回队员Side{tag}", unit=unit),
    }
    posting = make.posting(people["cadre"], villages[0], unit)
    make.posting(people["other_cadre"], villages[1], unit, role="team_member")
    recalled = make.posting(people["recalled_cadre"], villages[1], unit, role="team_member")
    household = make.household(villages[0], people["cadre"], head_name=f"户主Side{tag}")
    side.users.update({label: user.id for label, user in people.items()})
    side.objects.update(
        unit=unit.id,
        posting=posting.id,
        recalled_posting=recalled.id,
        household=household.id,
        cadre=people["cadre"].id,
        inspector=people["inspector"].id,
        reviewer=people["reviewer"].id,
    )
    return people


def checkin(client, side, seed, url="/api/v1/checkins", headers=None, note=None):
    """A check-in at the cadre's village with one honest photo: (answer, form)."""
    lat, lon = side.village_position
    form = fields(latitude=lat + 0.0003, longitude=lon, device_id=f"phone-{side.tag}", note=note)
    at = device_time()
    form["captured_at"] = at.isoformat()
    if "arrival" in url:
        del form["kind"]  # the server sets it
    photo = photo_for(at, seed, lat + 0.0003, lon)
    side.photos.append(photo)
    return ok(post(client, headers or side.headers("cadre"), form, [photo], url=url)), form


def _evidence(client, side):
    """A check-in with a photo and a flag, a decision on it, a leave, a policy."""
    created, _ = checkin(client, side, seed=10 + ord(side.tag))
    side.objects.update(checkin=created["id"], photo=created["photos"][0]["id"])
    db.session.add(Flag(checkin_id=created["id"], code="outside_geofence", severity="high"))
    db.session.commit()
    reviewer = side.headers("reviewer")
    review = {"decision": "accepted", "reason": f"核实无误Side{side.tag}"}
    url = f"/api/v1/checkins/{created['id']}/reviews"
    side.objects["review"] = ok(client.post(url, json=review, headers=reviewer))["id"]
    leave = {
        "kind": "leave",
        "start_date": "2099-03-02",
        "end_date": "2099-03-03",
        "reason": f"事假Side{side.tag}",
    }
    created = client.post("/api/v1/leaves", json=leave, headers=side.headers("cadre"))
    side.objects["leave"] = ok(created)["id"]
    policy = {
        "region_code": side.codes["county"],
        "effective_from": "2026-01-01",
        "rules": {"attendance": {"min_days_per_month": 18}},
        "reason": f"Side{side.tag}",
    }
    made = client.post("/api/v1/policies", json=policy, headers=reviewer)
    side.objects["policy"] = ok(made)["id"]


def _problem(client, side):
    """A problem about the cadre's posting, rectified with a photo."""
    body = {
        "village_code": side.codes["village"],
        "posting_id": side.objects["posting"],
        "category": "驻村管理",
        "description": f"值班表缺失Side{side.tag}",
        "deadline": "2099-01-01",
    }
    problem = ok(client.post("/api/v1/problems", json=body, headers=side.headers("reviewer")))
    cadre = side.headers("cadre")
    url = f"/api/v1/problems/{problem['id']}"
    ok(client.post(f"{url}/start", json={"note": f"开始Side{side.tag}"}, headers=cadre))
    photo = photo_for(device_time(), 700 + ord(side.tag))
    submitted = client.post(
        f"{url}/submit",
        data={"note": f"已整改Side{side.tag}", "photos": [(io.BytesIO(photo), "r.jpg")]},
        headers=cadre,
        content_type="multipart/form-data",
    )
    ok(submitted)
    side.objects["problem"] = problem["id"]
    side.objects["rectification_photo"] = _first(
        db.select(Photo.id).where(Photo.rectification_id.is_not(None)).order_by(Photo.id.desc())
    )


def _consequences(client, side):
    """March closed (its reminders), a case answered with a file, a recall owed."""
    reviewer = side.headers("reviewer")
    closure = {"region_code": side.codes["county"], "month": MONTH}
    closed = client.post("/api/v1/attendance/closures", json=closure, headers=reviewer)
    side.objects["closure"] = ok(closed)["id"]
    side.objects["recommendation"] = _first(
        db.select(Recommendation.id).where(Recommendation.posting_id == side.objects["posting"])
    )
    posting = _posting(side, "posting")
    case = ok(own_initiative(client, reviewer, posting, "talk"))
    files = [("a.txt", f"说明Side{side.tag}".encode())]
    answered = answer(client, side.headers("cadre"), case["id"], files=files)
    side.objects.update(case=case["id"], attachment=ok(answered)["attachments"][0]["id"])
    recall = ok(own_initiative(client, reviewer, _posting(side, "recalled_posting"), "recall"))
    deadline_passed(recall["id"])
    ok(decide(client, reviewer, recall["id"], "recall"))
    side.objects["obligation"] = db.session.execute(
        db.select(ReplacementObligation.id).where(
            ReplacementObligation.recalled_posting_id == side.objects["recalled_posting"]
        )
    ).scalar_one()


def _posting(side, label):
    return db.session.get(Posting, side.objects[label])


def _first(stmt):
    found = db.session.execute(stmt).scalar()
    assert found is not None, stmt
    return found


def build_side(client, make, tag, province):
    side = Side(tag)
    city, county, villages = _places(make, side, province)
    people = _people(make, side, city, county, villages)
    side.tokens = {label: token(user) for label, user in people.items()}
    db.session.commit()
    _evidence(client, side)
    _problem(client, side)
    _consequences(client, side)
    return side


def crossing(client, a, b):
    """B's cadre sends A's first photo from A's phone: the flags on that check-in name
    what they matched, and those are A's records, hidden from B. B's department opens a
    case citing it (its evidence bundle holds the check-in and its flags)."""
    at = device_time()
    form = fields(
        latitude=b.village_position[0] + 0.0003,
        longitude=b.village_position[1],
        device_id=f"phone-{a.tag}",
        captured_at=at,
    )
    b.objects["crossing"] = ok(post(client, b.headers("cadre"), form, [a.photos[0]]))["id"]
    cited = [{"type": "checkin", "id": b.objects["crossing"]}]
    case = own_initiative(
        client, b.headers("reviewer"), _posting(b, "posting"), "reminder", evidence=cited
    )
    b.objects["crossing_case"] = ok(case)["id"]
