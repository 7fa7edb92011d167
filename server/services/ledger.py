"""The monthly attendance ledger: per posting, who was in the village, who was excused,
who was not, and on what evidence.

Evidence is aggregated in SQL (`ledger_queries`), days are judged by the policy in force
on each of them (`ledger_rules`), and a month closed for a jurisdiction is served from
its frozen snapshot, never recomputed.
"""

import json
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import or_, select

from server import auth
from server.errors import Invalid
from server.extensions import db
from server.models.attendance import MonthClosure
from server.models.postings import Posting
from server.models.regions import LEVEL_DIGITS, Region
from server.models.units import Unit
from server.models.users import User
from server.services import calendar
from server.services import ledger_queries as q
from server.services.ledger_rules import PolicyBook, day_mask, judge, leave_masks
from server.services.lookups import region_by_code
from server.services.policies import ancestor_codes

MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
STATUSES = ("met", "not_met", "open", "undetermined")


def month_bounds(month):
    """'2026-03' -> (date(2026, 3, 1), date(2026, 3, 31)); 422 for anything else."""
    match = MONTH_PATTERN.match(month or "")
    if not match or not 2000 <= int(match.group(1)) <= 2100:
        raise Invalid(
            "invalid_month",
            "A month is written YYYY-MM.",
            "月份格式应为 YYYY-MM。",
            errors={"month": month},
        )
    first = date(int(match.group(1)), int(match.group(2)), 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return first, last


def local_today():
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()


@dataclass
class Ledger:
    month: str
    first: date
    last: date
    region: Region | None
    rows: list = field(default_factory=list)
    closures: list = field(default_factory=list)


def postings_in_month(*, actor, first, last, region=None, unit_id=None, posting_id=None):
    """The select() of postings the actor may see that served any day of the month."""
    stmt = auth.scoped(select(Posting.id), Posting, actor).where(
        Posting.start_date <= last,
        or_(Posting.end_date.is_(None), Posting.end_date >= first),
    )
    if region is not None:
        stmt = stmt.where(Posting.village_id.in_(auth.subtree_ids(region.prefix)))
    if unit_id is not None:
        stmt = stmt.where(Posting.unit_id == unit_id)
    if posting_id is not None:
        stmt = stmt.where(Posting.id == posting_id)
    return stmt


def month_ledger(*, actor, month, region_code=None, unit_id=None, status=None):
    """The ledger of every posting in scope for `month`, live or frozen."""
    first, last = month_bounds(month)
    region = region_by_code(region_code, "region") if region_code else None
    if status is not None and status not in STATUSES:
        raise Invalid(
            "invalid_status",
            f"status is one of {', '.join(STATUSES)}.",
            "状态取值无效。",
            errors={"status": status},
        )
    scope = postings_in_month(
        actor=actor, first=first, last=last, region=region, unit_id=unit_id
    ).subquery()
    ledger = Ledger(month=month, first=first, last=last, region=region)
    ledger.rows = compute_rows(select(scope.c.id), first, last)
    ledger.closures = overlay_closures(ledger.rows, month)
    if status is not None:
        ledger.rows = [row for row in ledger.rows if row["status"] == status]
    return ledger


def compute_rows(posting_ids, first, last):
    """Live ledger rows for the postings selected by `posting_ids` (a select of ids)."""
    postings = db.session.execute(
        select(Posting, User.name, Unit.name, Region)
        .join(User, User.id == Posting.cadre_id)
        .join(Unit, Unit.id == Posting.unit_id)
        .join(Region, Region.id == Posting.village_id)
        .where(Posting.id.in_(posting_ids))
    ).all()
    if not postings:
        return []
    days = calendar.month_days(first.year, first.month)
    book = PolicyBook(first, last, days)
    n = len(days)
    today = local_today()
    today_index = min(max((today - first).days, 0), n)
    presence = q.presence_masks(posting_ids, first, last)
    overnight = {}
    for rules in {book.rules_for(village.code) for *_, village in postings}:
        if rules.overnight:
            key = (rules.evening_from, rules.morning_until)
            if key not in overnight:
                overnight[key] = q.overnight_masks(posting_ids, first, last, *key)
    flags = q.open_flag_counts(posting_ids, first, last)
    findings = q.finding_counts(posting_ids, first, last)
    absences = leave_masks(q.approved_leaves(posting_ids, first, last), first, last)
    year_leave = leave_days_in_year(posting_ids, first.year)
    coverage = {}
    names = region_names({r.code for *_, r in postings})

    rows = []
    for posting, cadre_name, unit_name, village in postings:
        rules = book.rules_for(village.code)
        if not posting.is_resident:
            # Judged by household visits, not by days resident: a day without a check-in
            # is no absence for them.
            rules = replace(rules, daily_duty=0)
        start = max(posting.start_date, first)
        end = min(posting.end_date or last, last)
        present, pending = presence.get(posting.id, (0, 0))
        evening, morning = overnight.get((rules.evening_from, rules.morning_until), {}).get(
            posting.id, (0, 0)
        )
        away = absences.get(posting.id, {"leave": 0, "duty_trip": 0})
        row = judge(
            rules=rules,
            days_in_month=n,
            posted=day_mask(first, start, end),
            present=present,
            evening=evening,
            morning=morning,
            pending=pending,
            leave=away["leave"],
            trip=away["duty_trip"],
            today_index=today_index,
        )
        township = village.code[: LEVEL_DIGITS["township"]].ljust(12, "0")
        county = village.code[: LEVEL_DIGITS["county"]].ljust(12, "0")
        total, absent = findings.get(posting.id, (0, 0))
        row.update(
            posting_id=posting.id,
            cadre_id=posting.cadre_id,
            cadre_name=cadre_name,
            role=posting.role,
            standard="days" if posting.is_resident else "household_visits",
            unit_id=posting.unit_id,
            unit_name=unit_name,
            village_id=village.id,
            village_code=village.code,
            village_name=village.name,
            township_name=names.get(township),
            county_code=county,
            county_name=names.get(county),
            pending_flags=flags.get(posting.id, 0),
            findings_total=total,
            findings_absent=absent,
            households_paired=0,
            households_visited=0,
            leave_days_year=year_leave.get(posting.id, 0),
            annual_leave_cap=rules.annual_cap,
            over_annual_leave_cap=year_leave.get(posting.id, 0) > rules.annual_cap,
            closed=False,
            closure_id=None,
        )
        if not posting.is_resident:
            coverage.setdefault(rules.per_household, []).append(row)
        rows.append(row)
    judge_household_visits(coverage, posting_ids, first, last, today)
    for row in rows:
        row["minimum_met"] = {"met": True, "not_met": False}.get(row["status"])
    rows.sort(key=lambda r: (r["county_code"], r["village_code"], r["posting_id"]))
    return rows


def judge_household_visits(coverage, posting_ids, first, last, today):
    """Paired aid cadres are judged by visits to their households, not by days."""
    for per_household, rows in coverage.items():
        found = q.household_coverage(posting_ids, first, last, per_household)
        for row in rows:
            paired, visited = found.get(row["posting_id"], (0, 0))
            row["households_paired"], row["households_visited"] = paired, visited
            if paired == 0:
                row["status"] = "undetermined"
            elif visited >= paired:
                row["status"] = "met"
            elif last >= today:
                row["status"] = "open"
            else:
                row["status"] = "not_met"


def leave_days_in_year(posting_ids, year):
    """{posting_id: approved leave days (not duty trips) in the calendar year}."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    totals = {}
    for _id, posting_id, kind, start, end, returned_on in q.approved_leaves(
        posting_ids, first, last
    ):
        if kind != "leave":
            continue
        if returned_on is not None:
            end = min(end, returned_on - timedelta(days=1))
        days = (min(end, last) - max(start, first)).days + 1
        totals[posting_id] = totals.get(posting_id, 0) + max(days, 0)
    return totals


def region_names(village_codes):
    """Names of the townships and counties above the given villages, by code."""
    codes = set()
    for code in village_codes:
        codes.update(ancestor_codes(code)[2:4])
    return dict(
        db.session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all()
    )


def overlay_closures(rows, month):
    """Replace rows of postings in closed jurisdictions by their frozen version."""
    if not rows:
        return []
    village_codes = {row["village_code"] for row in rows}
    covering = set()
    for code in village_codes:
        covering.update(ancestor_codes(code))
    closures = (
        db.session.execute(
            select(MonthClosure)
            .join(Region, Region.id == MonthClosure.region_id)
            .where(
                MonthClosure.month == month,
                MonthClosure.status == "closed",
                Region.code.in_(covering),
            )
            .order_by(Region.code.desc())  # the highest closure wins: applied last
        )
        .scalars()
        .all()
    )
    index = {row["posting_id"]: i for i, row in enumerate(rows)}
    for closure in closures:
        for frozen in json.loads(closure.snapshot)["rows"]:
            i = index.get(frozen["posting_id"])
            if i is not None:
                rows[i] = {**frozen, "closed": True, "closure_id": closure.id}
    return closures


def with_evidence(found, rows):
    """The rows, each with the presence check-ins behind its days (for one page)."""
    by_posting = q.evidence_by_day([row["posting_id"] for row in rows], found.first, found.last)
    return [{**row, "checkins_by_day": by_posting.get(row["posting_id"], {})} for row in rows]


def summarize(rows, key):
    """Compliance per county (`key='county'`) or per dispatching unit (`key='unit'`)."""
    groups = {}
    for row in rows:
        group_key = (
            (row["county_code"], row["county_name"])
            if key == "county"
            else (
                row["unit_id"],
                row["unit_name"],
            )
        )
        entry = groups.setdefault(
            group_key,
            {"key": group_key[0], "name": group_key[1], "postings": 0}
            | {status: 0 for status in STATUSES}
            | {"days_absent": 0, "findings_absent": 0, "pending_flags": 0},
        )
        entry["postings"] += 1
        entry[row["status"]] += 1
        for counter in ("days_absent", "findings_absent", "pending_flags"):
            entry[counter] += row[counter]
    for entry in groups.values():
        judged = entry["met"] + entry["not_met"]
        entry["compliance"] = round(entry["met"] / judged, 4) if judged else None
    return sorted(groups.values(), key=lambda e: str(e["key"]))


def posting_month(*, actor, posting_id, month):
    """One posting's month day by day, with the evidence behind each day."""
    first, last = month_bounds(month)
    posting = auth.get_visible(Posting, posting_id, actor)
    ids = postings_in_month(actor=actor, first=first, last=last, posting_id=posting.id)
    rows = compute_rows(ids, first, last)
    if not rows:
        raise Invalid(
            "not_posted_in_month",
            f"This posting did not serve in {month}.",
            f"该派驻在{month}不在岗。",
            errors={"month": month},
        )
    closures = overlay_closures(rows, month)
    evidence = q.day_evidence(posting, first, last)
    days = []
    for i, entry in enumerate(calendar.month_days(first.year, first.month)):
        found = evidence.get(entry.day, {})
        days.append(
            {
                "day": entry.day,
                "code": rows[0]["day_codes"][i],
                "working": entry.working,
                "kind": entry.kind,
                "checkins": found.get("checkins", []),
                "leave_ids": found.get("leave_ids", []),
                "finding_ids": found.get("finding_ids", []),
            }
        )
    return {"posting": posting, "row": rows[0], "days": days, "closures": closures}
