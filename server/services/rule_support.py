"""What the rules (`rules.py`) read and write: the policy in force per village and day
with the versions behind it, closed months' frozen rows, references to evidence rows,
and the race-safe insert of recommendations."""

import hashlib
import json
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from server.extensions import db
from server.models import Checkin, MonthClosure, Photo, Recommendation, Region
from server.models.types import utcnow
from server.services import audit
from server.services.ledger import month_bounds
from server.services.ledger_queries import ACCEPTED
from server.services.policies import DEFAULT_POLICY, ancestor_codes, merge, versions_in_force


def shift(month, k):
    """'2026-03' shifted by k months ('2026-01' for k = -2)."""
    y, m = divmod(int(month[:4]) * 12 + int(month[5:7]) - 1 + k, 12)
    return f"{y:04d}-{m + 1:02d}"


def local_day(instant):
    return instant.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()


def rule_version(settings):
    return hashlib.sha256(audit.canonical_json(settings).encode()).hexdigest()


@dataclass
class Proposal:
    """A recommendation a rule would make; `months` are (month, closure) pairs whose
    counted presence check-ins (and their photos) are cited as well."""

    rule: str
    posting_id: int
    period: str
    settings: dict
    evidence: list
    summary: str
    months: tuple = field(default=())

    @property
    def dedup_key(self):
        return f"{self.rule}:{self.posting_id}:{self.period}"


class Policies:
    """The policy in force per village and day, and the ids of the versions merged into
    it (province first): one query per day, however many villages."""

    def __init__(self, village_codes):
        self.codes = sorted({c for code in village_codes for c in ancestor_codes(code)})
        self._latest, self._merged = {}, {}

    def on(self, village_code, day):
        if day not in self._latest:
            self._latest[day] = versions_in_force(self.codes, day)
        latest = self._latest[day]
        versions = [latest[c] for c in ancestor_codes(village_code) if c in latest]
        ids = tuple(v.id for v in versions)
        if ids not in self._merged:
            policy = DEFAULT_POLICY
            for version in versions:
                policy = merge(policy, version.rules)
            self._merged[ids] = policy
        return self._merged[ids], list(ids)

    def settings(self, name, village_code, day, **extra):
        """`consequences.rules.<name>` as used (None when the rule is off), with the
        other figures the rule reads (`extra`: {key: function of the policy}) and the
        policy versions in force."""
        policy, ids = self.on(village_code, day)
        rule = policy["consequences"]["rules"][name]
        if not rule.get("enabled"):
            return None
        figures = {key: read(policy) for key, read in extra.items()}
        return {**rule, **figures, "policy_ids": ids}


class Frozen:
    """Closed months' ledger rows of some postings, from the standing closure covering
    each posting's village (the highest one, as the ledger shows), parsed once a month."""

    def __init__(self, village_codes, posting_ids, closure, rows):
        self.codes = sorted({c for code in village_codes for c in ancestor_codes(code)})
        self.posting_ids = set(posting_ids)
        self._by_month = {closure.month: {row["posting_id"]: (closure, row) for row in rows}}

    def rows(self, month):
        if month not in self._by_month:
            closures = db.session.execute(
                select(MonthClosure)
                .join(Region, Region.id == MonthClosure.region_id)
                .where(
                    MonthClosure.month == month,
                    MonthClosure.status == "closed",
                    Region.code.in_(self.codes),
                )
                .order_by(Region.code.desc())  # the highest closure wins: applied last
            ).scalars()
            found = {}
            for closure in closures:
                for row in json.loads(closure.snapshot)["rows"]:
                    if row["posting_id"] in self.posting_ids:
                        found[row["posting_id"]] = (closure, row)
            self._by_month[month] = found
        return self._by_month[month]


# ---------------------------------------------------------------- evidence references


def closure_ref(closure):
    return {
        "type": "month_closure",
        "id": closure.id,
        "month": closure.month,
        "region_code": closure.region.code,
        "version": closure.version,
        "snapshot_hash": closure.snapshot_hash,
    }


LEDGER_FIGURES = (
    "status",
    "standard",
    "required_days",
    "days_counted",
    "days_present",
    "days_absent",
    "days_leave",
    "households_paired",
    "households_visited",
    "day_codes",
)


def ledger_ref(closure, row):
    """The posting's frozen row, as the snapshot (whose hash the closure cites) holds it."""
    return {
        "type": "ledger_month",
        "posting_id": row["posting_id"],
        "month": closure.month,
        "closure_id": closure.id,
        **{key: row.get(key) for key in LEDGER_FIGURES},
    }


def finding_ref(finding):
    return {
        "type": "finding",
        "id": finding.id,
        "outcome": finding.outcome,
        "observed_at": finding.observed_at.isoformat(),
        "amends_id": finding.amends_id,
        "signed_by": finding.signed_by,
    }


def assignment_ref(assignment):
    return {"type": "assignment", "id": assignment.id, "draw_id": assignment.draw_id}


def checkin_refs(checkins):
    """The check-ins, then every photo of theirs (by id and SHA-256)."""
    refs = [
        {
            "type": "checkin",
            "id": c.id,
            "local_date": c.local_date.isoformat(),
            "local_time": c.local_time.isoformat(),
            "standing": c.standing,
        }
        for c in checkins
    ]
    ids = [c.id for c in checkins]
    photos = db.session.execute(
        select(Photo.id, Photo.checkin_id, Photo.sha256)
        .where(Photo.checkin_id.in_(ids))
        .order_by(Photo.checkin_id, Photo.position)
    ).all()
    refs += [{"type": "photo", "id": p, "checkin_id": c, "sha256": s} for p, c, s in photos]
    return refs


def cite_counted_checkins(proposals):
    """Add to each proposal the presence check-ins that counted in its months, as they
    stood when the month was closed (received by then)."""
    wanted = [(p, month, closure) for p in proposals for month, closure in p.months]
    if not wanted:
        return
    bounds = [month_bounds(month) for _p, month, _c in wanted]
    checkins = db.session.execute(
        select(Checkin)
        .where(
            Checkin.posting_id.in_({p.posting_id for p, _m, _c in wanted}),
            Checkin.kind == "presence",
            ACCEPTED,
            Checkin.local_date.between(min(b[0] for b in bounds), max(b[1] for b in bounds)),
        )
        .order_by(Checkin.local_date, Checkin.local_time, Checkin.id)
    ).scalars()
    by_posting = {}
    for checkin in checkins:
        by_posting.setdefault(checkin.posting_id, []).append(checkin)
    cited = {}
    for (proposal, _month, closure), (first, last) in zip(wanted, bounds, strict=True):
        cited.setdefault(id(proposal), (proposal, []))[1].extend(
            c
            for c in by_posting.get(proposal.posting_id, [])
            if first <= c.local_date <= last and c.received_at <= closure.closed_at
        )
    for proposal, checkins in cited.values():
        if checkins:
            proposal.evidence.extend(checkin_refs(checkins))


# ---------------------------------------------------------------- writing


def new_only(proposals):
    """The proposals whose (rule, posting, period) has no recommendation yet."""
    keys = {p.dedup_key for p in proposals}
    if not keys:
        return []
    existing = set(
        db.session.execute(
            select(Recommendation.dedup_key).where(Recommendation.dedup_key.in_(keys))
        ).scalars()
    )
    fresh, seen = [], set()
    for proposal in proposals:
        if proposal.dedup_key not in existing | seen:
            fresh.append(proposal)
            seen.add(proposal.dedup_key)
    return fresh


def insert(proposals, trigger, *, actor=None, trigger_name):
    """Insert the proposals; a key another transaction inserted meanwhile is skipped by
    the database (ON CONFLICT DO NOTHING), never raised. One audit event per run."""
    dialect = db.session.get_bind().dialect.name
    make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    created = []
    for proposal in proposals:
        stmt = (
            make_insert(Recommendation)
            .values(
                posting_id=proposal.posting_id,
                rule=proposal.rule,
                measure=proposal.settings["measure"],
                period=proposal.period,
                dedup_key=proposal.dedup_key,
                rule_version=rule_version(proposal.settings),
                rule_settings=proposal.settings,
                evidence=proposal.evidence,
                summary=proposal.summary,
                status="open",
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(Recommendation.id)
        )
        new_id = db.session.execute(stmt).scalar_one_or_none()
        if new_id is not None:
            created.append((new_id, proposal))
    if created:
        audit.record(
            "recommendation.create",
            trigger,
            actor=actor,
            summary={
                "trigger": trigger_name,
                "recommendations": [
                    {
                        "id": new_id,
                        "rule": p.rule,
                        "measure": p.settings["measure"],
                        "posting_id": p.posting_id,
                        "period": p.period,
                    }
                    for new_id, p in created
                ],
            },
        )
    return [new_id for new_id, _p in created]
