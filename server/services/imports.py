"""Roster import: units, cadres and postings from one .xlsx or .csv file, all or nothing.

Rows are validated by doing: they are written in file order inside a savepoint, so the
posting rules of services/postings.py judge each row against the database *and* the
earlier rows of the same file, with no second copy of those rules here. Any row error
rolls the savepoint back, and the caller gets every row's errors at once.
"""

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.orm import selectinload

from server import auth
from server.errors import Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import Posting, Region, Unit, User
from server.services import audit, postings, roster_files

COUNTS = ("units_created", "cadres_created", "postings_created", "unchanged")
_CHUNK = 500  # keys per IN (...) list, well under every driver's parameter limit


def import_roster(*, actor, file):
    data, records = roster_files.read(file)
    result = {"rows": len(records), **_all_or_nothing(actor, records)}
    digest = hashlib.sha256(data).hexdigest()
    summary = result | {"sha256": digest, "filename": getattr(file, "filename", None)}
    audit.record(
        "roster.import", actor=actor, object_type="roster", object_id=digest, summary=summary
    )
    db.session.commit()
    return result


def _all_or_nothing(actor, records):
    # A savepoint, not session.rollback(): whatever the session held before stays.
    savepoint = db.session.begin_nested()
    try:
        counts, report = _apply(actor, records)
    except BaseException:
        savepoint.rollback()
        raise
    if report:
        savepoint.rollback()
        raise Invalid(
            "roster_invalid",
            f"Rows with errors: {len(report)}. Nothing was imported.",
            f"有 {len(report)} 行存在错误，未导入任何数据。",
            errors={"rows": report},
        )
    savepoint.commit()
    return counts


# ---------------------------------------------------------------- writing the rows


@dataclass
class _Known:
    """What the database and the earlier rows hold, under the keys a roster uses."""

    regions: dict
    units: dict
    users: dict
    postings: dict  # (phone, village code, role, start date) -> (posting, row or None)
    residents: set  # phones with a resident posting, stored or in an earlier row
    unit_specs: dict  # unit name -> (level, region code) from its first row giving both
    counts: Counter = field(default_factory=Counter)


def _apply(actor, records):
    known = _load(records)
    report = []
    for row, values, errors in records:
        village = _village(actor, values, errors, known)
        unit = _unit(actor, values, errors, known)
        cadre = _cadre(actor, values, errors, known, unit)
        if not errors:
            _posting(row, values, errors, known, village, unit, cadre)
        if errors:
            report.append({"row": row, "errors": errors})
    db.session.flush()  # inside the caller's try: a failing insert must undo the savepoint
    return {key: known.counts[key] for key in COUNTS}, report


def _load(records):
    def wanted(*columns):
        return sorted({v[c] for _, v, _ in records for c in columns if c in v})

    def fetch(stmt, column, keys):
        for start in range(0, len(keys), _CHUNK):
            yield from db.session.execute(stmt.where(column.in_(keys[start : start + _CHUNK])))

    codes = wanted("village_code", "unit_region_code", "home_region_code")
    phones = wanted("phone")
    users = db.select(User).options(selectinload(User.role_rows))
    existing = db.select(Posting, User.phone, Region.code).join(Posting.cadre).join(Posting.village)
    specs = {}
    for _, v, _ in records:
        if {"unit_name", "unit_level", "unit_region_code"} <= v.keys():
            specs.setdefault(v["unit_name"], (v["unit_level"], v["unit_region_code"]))
    stored = list(fetch(existing, User.phone, phones))
    return _Known(
        regions={r.code: r for (r,) in fetch(db.select(Region), Region.code, codes)},
        units={u.name: u for (u,) in fetch(db.select(Unit), Unit.name, wanted("unit_name"))},
        users={u.phone: u for (u,) in fetch(users, User.phone, phones)},
        postings={(phone, code, p.role, p.start_date): (p, None) for p, phone, code in stored},
        residents={phone for p, phone, _ in stored if p.is_resident},
        unit_specs=specs,
    )


def _region(code, column, errors, known, level=None):
    region = known.regions.get(code)
    if code is not None and region is None:
        _fail(errors, column, f"No region with code {code}.")
    elif region is not None and level and region.level != level:
        _fail(errors, column, f"{code} is a {region.level}, not a {level}.")
        return None
    return region


def _manages(actor, region, column, errors):
    """auth.ensure_manages, reported against the row instead of failing the request."""
    try:
        auth.ensure_manages(actor, region)
    except Forbidden as exc:
        _fail(errors, column, exc.message)
        return False
    return True


def _village(actor, values, errors, known):
    village = _region(values.get("village_code"), "village_code", errors, known, "village")
    return village if village and _manages(actor, village, "village_code", errors) else None


def _unit(actor, values, errors, known):
    name = values.get("unit_name")
    unit = known.units.get(name) or _new_unit(actor, name, errors, known)
    if unit is None:
        return None
    for column, actual in (("unit_level", unit.level), ("unit_region_code", unit.region.code)):
        if values.get(column) not in (None, actual):
            _fail(errors, column, f"The unit {name} has {actual}.")
    return unit


def _new_unit(actor, name, errors, known):
    if name is None:
        return None
    if name not in known.unit_specs:
        _fail(errors, "unit_name", "A new unit needs unit_level and unit_region_code.")
        return None
    level, code = known.unit_specs[name]
    region = _region(code, "unit_region_code", errors, known)
    if region is None or not _manages(actor, region, "unit_region_code", errors):
        return None
    unit = Unit(name=name, level=level, region=region)
    db.session.add(unit)
    known.units[name] = unit
    known.counts["units_created"] += 1
    return unit


def _cadre(actor, values, errors, known, unit):
    phone, name = values.get("phone"), values.get("name")
    home = _region(values.get("home_region_code"), "home_region_code", errors, known)
    user = known.users.get(phone)
    if phone is None or name is None:
        return None
    if user is None:
        user = User(name=name, phone=phone, roles=["cadre"], unit=unit, home_region=home)
        db.session.add(user)
        known.users[phone] = user
        known.counts["cadres_created"] += 1
    elif user.id is not None and not auth.manages_user(actor, user):
        # Someone serving or employed elsewhere: not this department's to post. Said
        # neutrally, so a roster cannot be used to probe who exists where.
        _fail(errors, "phone", "This phone number cannot be used in this import.")
        return None
    elif user.name != name:
        _fail(errors, "name", "This phone number is registered, or used above, for another name.")
        return None
    elif not user.has_role("cadre"):
        # As in services/users.py: reviewers may not change a reviewer's or admin's roles.
        if user.has_role("reviewer", "admin") and not actor.has_role("admin"):
            _fail(errors, "phone", "Only an administrator can post a reviewer or administrator.")
            return None
        user.roles = [*user.roles, "cadre"]
    return user


def _posting(row, values, errors, known, village, unit, cadre):
    key = (cadre.phone, village.code, values["role"], values["start_date"])
    if key in known.postings:
        earlier_row = known.postings[key][1]
        if earlier_row is not None:
            _fail(errors, "start_date", f"The same posting as row {earlier_row}.")
        else:
            known.counts["unchanged"] += 1
        return
    end = values.get("end_date")
    posting = Posting(
        cadre=cadre,
        village=village,
        unit=unit,
        role=values["role"],
        start_date=values["start_date"],
        end_date=end,
        status="ended" if end is not None and end < postings.local_today() else "active",
    )
    # Only a cadre with resident postings can clash; skipping the others keeps a large
    # import to one bulk flush instead of a flush and two queries per row.
    if cadre.phone in known.residents:
        db.session.flush()  # the rules query the database, so earlier rows must be in it
        posting.cadre_id = cadre.id
        try:
            postings.check_resident_rules(posting)
        except Conflict as exc:
            _fail(errors, "start_date", exc.message)
            return
    db.session.add(posting)
    if posting.is_resident:
        known.residents.add(cadre.phone)
    known.postings[key] = (posting, row)
    known.counts["postings_created"] += 1


def _fail(errors, column, message):
    errors.setdefault(column, []).append(message)
