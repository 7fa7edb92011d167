"""Deterministic demo data: Huainan city with its real divisions, plausible units, people,
postings and paired households.

`plan()` is pure: the same regions files always give the same rows, because every choice
is drawn from a SHA-256 of fixed text (no random module, no clock). `seed()` writes a plan
into an empty database in one transaction and records one audit event.
"""

import csv
import hashlib
import itertools
import os
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from geopy.distance import geodesic

from config import BASE_DIR
from server import auth
from server import demo_data as data
from server.demo_data import HouseholdRow, PersonRow, Plan, PostingRow, RegionRow, UnitRow
from server.errors import Conflict, Invalid
from server.extensions import db
from server.models import Household, Posting, Region, Unit, User
from server.models.regions import DEFAULT_GEOFENCE_M, code_prefix, level_of_code
from server.services import audit, demo_attendance
from server.services.regions import parent_code_of

DEFAULT_REGIONS_DIR = BASE_DIR.parent / "shared" / "testdata" / "regions"
FILES = ("anhui_cities.csv", "anhui_counties.csv", "anhui_townships.csv", "anhui_villages.csv")


def regions_dir_from_env():
    return Path(os.environ.get("REGIONS_DIR") or DEFAULT_REGIONS_DIR)


# ---------------------------------------------------------------- deterministic choices


def _h(*parts):
    """A stable 64-bit number from text: the demo's only source of variety."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _pick(seq, *parts):
    return seq[_h(*parts) % len(seq)]


def _near(origin, km_range, *parts):
    """A point at a hashed bearing and distance (within km_range) from origin."""
    low, high = km_range
    km = low + (high - low) * (_h("km", *parts) % 10_000) / 10_000
    point = geodesic(kilometers=km).destination(origin, bearing=_h("bearing", *parts) % 360)
    return round(point.latitude, 6), round(point.longitude, 6)


def _full(code):
    return code.ljust(12, "0")


def _names(salt):
    """An endless stream of distinct, common-looking Chinese names."""
    seen = set()
    for i in itertools.count():
        name = _pick(data.SURNAMES, salt, "s", i) + _pick(data.GIVEN_NAMES, salt, "g", i)
        if name not in seen:
            seen.add(name)
            yield name


def _phone(kind, index):
    return f"{data.PHONE_PREFIX}{data.PHONE_BLOCKS[kind] + index:04d}"


# ---------------------------------------------------------------- regions


def _load(regions_dir):
    folder = Path(regions_dir)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        message = (
            f"Regions folder {folder} is missing or incomplete (need {', '.join(missing)}); "
            "pass --regions-dir or set REGIONS_DIR."
        )
        raise Invalid("regions_missing", message, f"区划数据目录 {folder} 不存在或不完整。")
    tables = []
    for name in FILES:
        with open(folder / name, encoding="utf-8", newline="") as f:
            tables.append([r for r in csv.DictReader(f) if r["code"].startswith(data.CITY_CODE)])
    return tables


def _is_rural(township_code):
    # In the 9-digit code, 1xx are towns (镇) and 2xx townships (乡); 0xx are urban
    # subdistricts (街道), 4xx and up development zones and state farms.
    return township_code[6] in "12"


def _township_centre(code):
    km = data.TOWNSHIP_KM["rural" if _is_rural(code) else "street"]
    return _near(data.COUNTY_SEATS[code[:6]], km, code)


def _spread(pool, count):
    """Take villages round-robin over the townships, so a county's picks are not bunched."""
    by_township = {}
    for row in sorted(pool, key=lambda r: _h("village", r["code"])):
        by_township.setdefault(row["code"][:9], []).append(row)
    queues = [by_township[t] for t in sorted(by_township, key=lambda t: _h("township", t))]
    rounds = itertools.zip_longest(*queues)
    return [row for one_round in rounds for row in one_round if row is not None][:count]


def _plan_villages(townships, villages):
    centres = {t["code"]: _township_centre(t["code"]) for t in townships}
    committees = [v for v in villages if v["name"].endswith("村委会")]
    chosen = []
    for county, count in data.VILLAGES_PER_COUNTY.items():
        pool = [v for v in committees if v["code"].startswith(county)]
        rural = [v for v in pool if _is_rural(v["code"][:9])]
        picks = _spread(rural, count)
        chosen += picks + _spread([v for v in pool if v not in rural], count - len(picks))
    return [
        RegionRow(v["code"], v["name"], *_near(centres[v["code"][:9]], data.VILLAGE_KM, v["code"]))
        for v in chosen
    ]


def _plan_regions(cities, counties, townships, villages):
    rows = [
        RegionRow(_full(data.PROVINCE_CODE), data.PROVINCE_NAME),
        *(RegionRow(_full(r["code"]), r["name"]) for r in cities + counties + townships),
        *_plan_villages(townships, villages),
    ]
    # Code order puts every parent before its children (its zeros sort first).
    return tuple(sorted(rows, key=lambda r: r.code))


# ---------------------------------------------------------------- people


def _plan_staff(regions, units, names):
    city = _full(data.CITY_CODE)
    bodies = [r for r in regions if r.code == city or level_of_code(r.code) == "county"]
    # People come from towns and subdistricts, not from development zones or state farms.
    townships = [r.code for r in regions if level_of_code(r.code) == "township" and r.code[6] < "4"]
    people = [PersonRow(_phone("admin", 0), data.ADMIN_NAME, "admin")]
    people += [
        PersonRow(_phone("reviewer", i), _department(r.name), "reviewer", r.code)
        for i, r in enumerate(bodies)
    ]
    for i, scope in enumerate(data.INSPECTOR_SCOPES):
        home = _pick([t for t in townships if t.startswith(scope)], "home", i)
        unit = _pick(units, "unit", i).name
        people.append(
            PersonRow(_phone("inspector", i), next(names), "inspector", _full(scope), unit, home)
        )
    return people


def _department(name):
    # A one-character county repeats its 县 in the committee's name: 寿县县委, but 凤台县委.
    return name + (name[-1] if len(name) == 2 else "") + data.REVIEWER_SUFFIX


def _unit_chooser(units):
    """Pick a dispatching unit for a village: the city's units or the village's own county's,
    whichever has sent fewest so far (ties broken by hash), so every unit has cadres out."""
    load = dict.fromkeys((u.name for u in units), 0)

    def choose(village_code, salt):
        eligible = [
            u.name for u in units if village_code.startswith(code_prefix(u.region_code, u.level))
        ]
        name = min(eligible, key=lambda n: (load[n], _h(salt, village_code, n)))
        load[name] += 1
        return name

    return choose


def _start(window, *parts):
    first, span = window
    return first + timedelta(days=_h("start", *parts) % span)


def _slots(villages):
    """(village, role) for every cadre: a first secretary everywhere, two team members in
    some villages, one paired-aid cadre in others."""
    team = sorted(villages, key=lambda v: _h("team", v.code))[: data.TEAM_VILLAGES]
    aid = sorted(villages, key=lambda v: _h("aid", v.code))[: data.AID_CADRES]
    return (
        [(v, "first_secretary") for v in villages]
        + [(v, "team_member") for v in sorted(team, key=lambda v: v.code) for _ in range(2)]
        + [(v, "paired_aid") for v in sorted(aid, key=lambda v: v.code)]
    )


def _plan_households(village, phone, names):
    low, high = data.HOUSEHOLDS_PER_AID
    rows = []
    for n in range(1, low + 1 + _h("households", village.code) % (high - low + 1)):
        code = f"{village.code}-{n:02d}"
        # Only some households have a recorded position; the rest get one on the first visit.
        position = (None, None)
        if n % 2:
            position = _near((village.latitude, village.longitude), data.HOUSEHOLD_KM, code)
        rows.append(HouseholdRow(village.code, code, next(names), phone, *position))
    return rows


def _plan_cadres(villages, units, names):
    people, postings, households, team_units = [], [], [], {}
    choose_unit = _unit_chooser(units)
    for i, (village, role) in enumerate(_slots(villages)):
        phone = _phone("cadre", i)
        if role == "paired_aid":
            unit = choose_unit(village.code, "aid")
            start = _start(data.AID_START, phone)
            households += _plan_households(village, phone, names)
        else:
            # One unit sends the whole village team (单位包村).
            if village.code not in team_units:
                team_units[village.code] = choose_unit(village.code, "team")
            unit = team_units[village.code]
            start = _start(data.RESIDENT_START, phone)
        people.append(PersonRow(phone, next(names), "cadre", unit_name=unit))
        postings.append(PostingRow(phone, village.code, unit, role, start))
    return people, postings, households


def plan(regions_dir):
    """The demo's rows, computed from the regions files alone."""
    regions = _plan_regions(*_load(regions_dir))
    units = tuple(UnitRow(name, level, _full(prefix)) for name, level, prefix in data.UNITS)
    villages = [r for r in regions if level_of_code(r.code) == "village"]
    names = _names("people")
    staff = _plan_staff(regions, units, names)
    cadres, postings, households = _plan_cadres(villages, units, names)
    return Plan(regions, units, tuple(staff + cadres), tuple(postings), tuple(households))


# ---------------------------------------------------------------- writing


def _exists(model):
    return db.session.execute(db.select(model).limit(1)).first() is not None


def _insert_places(the_plan):
    regions = {}
    for row in the_plan.regions:
        level = level_of_code(row.code)
        regions[row.code] = Region(
            **asdict(row),
            level=level,
            parent=regions[parent_code_of(row.code, level)] if level != "province" else None,
            geofence_radius_m=DEFAULT_GEOFENCE_M if level == "village" else None,
        )
    units = {
        u.name: Unit(name=u.name, level=u.level, region=regions[u.region_code])
        for u in the_plan.units
    }
    db.session.add_all([*regions.values(), *units.values()])
    return regions, units


def _insert_people(the_plan, regions, units):
    # Argon2 is the slow part, so one hash serves every demo user (they share the password).
    password_hash = auth.hash_password(data.DEMO_PASSWORD)
    users = {
        p.phone: User(
            name=p.name,
            phone=p.phone,
            roles=[p.role],
            password_hash=password_hash,
            jurisdiction=regions.get(p.jurisdiction_code),
            unit=units.get(p.unit_name),
            home_region=regions.get(p.home_region_code),
        )
        for p in the_plan.people
    }
    db.session.add_all(users.values())
    for p in the_plan.postings:
        village, unit = regions[p.village_code], units[p.unit_name]
        db.session.add(
            Posting(
                cadre=users[p.phone],
                village=village,
                unit=unit,
                role=p.role,
                start_date=p.start_date,
            )
        )
    for h in the_plan.households:
        db.session.add(
            Household(
                village=regions[h.village_code],
                code=h.code,
                head_name=h.head_name,
                latitude=h.latitude,
                longitude=h.longitude,
                cadres=[users[h.cadre_phone]],
            )
        )


def seed(*, regions_dir, if_empty=False):
    """Write the demo into an empty database and commit. Returns the plan, or None when
    `if_empty` is set and users exist already (the quiet mode for container start-up)."""
    if if_empty and _exists(User):
        return None
    the_plan = plan(regions_dir)  # first, so a missing regions folder is the error shown
    if _exists(User) or _exists(Region):
        raise Conflict(
            "database_not_empty",
            "The demo goes into an empty database; this one has users or regions.",
            "演示数据只能写入空数据库。",
        )
    _insert_people(the_plan, *_insert_places(the_plan))
    db.session.flush()
    today = datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()
    postings = db.session.execute(db.select(Posting).order_by(Posting.id)).scalars().all()
    departments = {  # who approved the demo's leave: the county's department
        user.jurisdiction.code: user
        for user in db.session.execute(db.select(User).where(User.jurisdiction_id.is_not(None)))
        .scalars()
        .all()
        if user.has_role("reviewer")
    }
    checkins = demo_attendance.seed_history(postings, today, departments=departments)
    counts = the_plan.counts() | {"checkins": checkins, "history_until": today.isoformat()}
    audit.record("demo.seed", object_type="demo", summary=counts)
    db.session.commit()
    return the_plan


def loaded_logins(*, regions_dir):
    """The demo log-ins, if this database holds the demo (for `make run` after the
    first): the plan is pure, so recomputing it tells which phones to look for."""
    the_plan = plan(regions_dir)
    rows = the_plan.logins()
    phones = [row[2] for row in rows]
    found = db.session.execute(db.select(User.phone).where(User.phone.in_(phones))).scalars()
    return rows if set(found) == set(phones) else None
