"""Dispatching units held to account (DOMAIN.md: the unit answers for the cadres it
sends, and its score loses points for each absence inspectors find).

Per unit and month: its cadres' postings and how many met the minimum (from the frozen
snapshot where the month is closed, the live ledger otherwise, and which), absences
found on site (final findings `absent` in force), recalls (case decisions `recall` in
force), replacement obligations open and overdue at the month's end, and the deduction
(absences found times the policy's `deduction_per_absence` at the unit's home region on
the month's last day); and a ranking of every unit in scope.

Findings count whenever they are final: an absence found after a month was closed
still costs the unit, because it is an inspection fact, not an attendance figure.
"""

from sqlalchemy import or_, select

from server import auth
from server.errors import Invalid, NotFound
from server.extensions import db
from server.models import Case, CaseDecision, Posting, ReplacementObligation, Unit
from server.services import ledger
from server.services import ledger_queries as q
from server.services.lookups import region_by_code
from server.services.rule_runs import months_between
from server.services.rule_support import Policies, local_day, shift

MAX_MONTHS = 24
STATUSES = ("met", "not_met", "open", "undetermined")


def period(from_month=None, to_month=None):
    """The months asked for: by default January to the current month."""
    today = ledger.local_today()
    current = f"{today.year:04d}-{today.month:02d}"
    to_month = to_month or current
    from_month = from_month or f"{to_month[:4]}-01"
    ledger.month_bounds(from_month)
    ledger.month_bounds(to_month)
    count = months_between(from_month, to_month) + 1
    if count < 1 or to_month > current:
        raise Invalid(
            "invalid_period",
            "`from` must not be after `to`, nor `to` after the current month.",
            "起始月份不能晚于截止月份，截止月份不能晚于本月。",
            errors={"from": from_month, "to": to_month},
        )
    if count > MAX_MONTHS:
        raise Invalid(
            "period_too_long",
            f"At most {MAX_MONTHS} months at a time.",
            f"一次最多查询{MAX_MONTHS}个月。",
            errors={"months": count},
        )
    return [shift(from_month, i) for i in range(count)]


def unit_report(*, actor, unit_id, from_month=None, to_month=None):
    """One unit's figures per month and in total. The department over the unit's home
    region sees all its cadres; one where its cadres serve sees those serving there."""
    unit = db.session.get(Unit, unit_id)
    prefix = _reach(actor, unit)
    months = period(from_month, to_month)
    criteria = [Posting.unit_id == unit_id]
    if prefix is not None:
        criteria.append(Posting.village_id.in_(auth.subtree_ids(prefix)))
    figures = collect(months, criteria).get(unit_id)
    if figures is None:
        figures = Figures(unit, months)
        figures.policies = Policies([unit.region.code])
    return {
        "unit": unit,
        "from": months[0],
        "to": months[-1],
        "whole_unit": prefix is None,
        "months": figures.by_month(),
        "total": figures.total(),
    }


def ranking(*, actor, region_code=None, from_month=None, to_month=None):
    """Every unit with cadres serving in the region (default: your jurisdiction) in the
    period, best first: the smallest deduction, then the highest compliance."""
    region = region_by_code(region_code, "region_code") if region_code else actor.jurisdiction
    if region is not None and not actor.has_role("admin"):
        auth.ensure_manages(actor, region)
    months = period(from_month, to_month)
    criteria = [auth.scope_clause(Posting, actor)]
    if region is not None:
        criteria.append(Posting.village_id.in_(auth.subtree_ids(region.prefix)))
    entries = [
        {"unit": figures.unit, **figures.total()} for figures in collect(months, criteria).values()
    ]
    entries.sort(key=lambda e: (*_standing(e), e["unit"].id))
    for i, entry in enumerate(entries):
        same = i and _standing(entries[i - 1]) == _standing(entry)
        entry["rank"] = entries[i - 1]["rank"] if same else i + 1
    return {
        "region_code": region.code if region is not None else None,
        "from": months[0],
        "to": months[-1],
        "units": entries,
    }


def _standing(entry):
    """Smaller is better; a unit with no month judged yet comes after those judged."""
    compliance = entry["compliance"]
    return (entry["deduction"], compliance is None, -(compliance or 0))


def _reach(actor, unit):
    """None: the whole unit; a region prefix: only cadres serving there."""
    if unit is not None and actor.has_role("admin"):
        return None
    prefix = auth.jurisdiction_prefix(actor)
    if unit is not None and prefix is not None:
        if auth.in_jurisdiction(actor, unit.region):
            return None
        serving = db.session.execute(
            select(Posting.id)
            .where(Posting.unit_id == unit.id, Posting.village_id.in_(auth.subtree_ids(prefix)))
            .limit(1)
        ).first()
        if serving is not None:
            return prefix
    raise NotFound("unit_not_found", "No such unit.", "未找到该对象。")


class Figures:
    """One unit's counters, month by month, finished once everything is counted."""

    def __init__(self, unit, months):
        self.unit, self.months = unit, months
        self.postings = set()
        self.month = {m: _blank(m) for m in months}
        self.obligations = []
        self.policies = None  # set once every unit is known
        self._done = False

    def by_month(self):
        if not self._done:
            today = ledger.local_today()
            for month, entry in self.month.items():
                last = ledger.month_bounds(month)[1]
                entry.update(_obligations_at(self.obligations, min(last, today), listed=False))
                policy = self.policies.on(self.unit.region.code, last)[0]
                rate = policy["consequences"]["deduction_per_absence"]
                entry["deduction"] = round(entry["absences_found"] * rate, 4)
                entry["compliance"] = _compliance(entry)
                entry["source"] = _source(entry["closed_postings"], entry["postings"])
            self._done = True
        return list(self.month.values())

    def total(self):
        months = self.by_month()
        total = {"postings": len(self.postings)}
        for key in (*STATUSES, "absences_found", "recalls"):
            total[key] = sum(m[key] for m in months)
        total["posting_months"] = sum(m["postings"] for m in months)
        total["closed_posting_months"] = sum(m["closed_postings"] for m in months)
        total["deduction"] = round(sum(m["deduction"] for m in months), 4)
        total["compliance"] = _compliance(total)
        as_of = min(ledger.month_bounds(self.months[-1])[1], ledger.local_today())
        total.update(_obligations_at(self.obligations, as_of, listed=True))
        return total


def _source(closed, total):
    """Where a month's figures come from: frozen snapshots, the live ledger, or both."""
    if not total:
        return None
    if closed == total:
        return "closed"
    return "mixed" if closed else "live"


def _blank(month):
    counters = ("postings", "closed_postings", *STATUSES, "absences_found", "recalls")
    return {"month": month, **dict.fromkeys(counters, 0)}


def _compliance(entry):
    judged = entry["met"] + entry["not_met"]
    return round(entry["met"] / judged, 4) if judged else None


def _obligations_at(obligations, as_of, *, listed):
    """Obligations open on `as_of` (owed by then and not yet fulfilled), and overdue."""
    open_ = [
        (o, decided)
        for o, decided in obligations
        if decided <= as_of and (o.fulfilled_at is None or local_day(o.fulfilled_at) > as_of)
    ]
    overdue = [o for o, _decided in open_ if o.deadline < as_of]
    found = {"replacements_open": len(open_), "replacements_overdue": len(overdue)}
    if listed:
        found["replacements"] = [
            {
                "id": o.id,
                "recalled_posting_id": o.recalled_posting_id,
                "deadline": o.deadline,
                "overdue": o in overdue,
            }
            for o, _decided in open_
        ]
    return found


def collect(months, criteria):
    """{unit_id: Figures} for the postings matching `criteria`, over `months`."""
    by_unit = {}
    units = {}

    def figures(unit_id):
        if unit_id not in by_unit:
            units[unit_id] = units.get(unit_id) or db.session.get(Unit, unit_id)
            by_unit[unit_id] = Figures(units[unit_id], months)
        return by_unit[unit_id]

    for month in months:
        first, last = ledger.month_bounds(month)
        ids = select(Posting.id).where(
            *criteria,
            Posting.start_date <= last,
            or_(Posting.end_date.is_(None), Posting.end_date >= first),
        )
        rows = ledger.compute_rows(ids, first, last)
        ledger.overlay_closures(rows, month)
        found = q.finding_counts(ids, first, last)
        for row in rows:
            unit = figures(row["unit_id"])
            unit.postings.add(row["posting_id"])
            entry = unit.month[month]
            entry["postings"] += 1
            entry["closed_postings"] += 1 if row["closed"] else 0
            entry[row["status"]] += 1
            entry["absences_found"] += found.get(row["posting_id"], (0, 0))[1]
    first, last = ledger.month_bounds(months[0])[0], ledger.month_bounds(months[-1])[1]
    for unit_id, decided in _recalls(criteria, first, last):
        month = f"{decided.year:04d}-{decided.month:02d}"
        figures(unit_id).month[month]["recalls"] += 1
    for obligation, decided in _obligations(criteria, last):
        figures(obligation.unit_id).obligations.append((obligation, decided))
    policies = Policies({f.unit.region.code for f in by_unit.values()})
    for found in by_unit.values():
        found.policies = policies
    return by_unit


def _in_force():
    return CaseDecision.id.not_in(
        select(CaseDecision.corrects_id).where(CaseDecision.corrects_id.is_not(None))
    )


def _recalls(criteria, first, last):
    """(unit id, local day decided) of recall decisions in force decided in the period."""
    start, end = q.local_bounds(first, last)
    rows = db.session.execute(
        select(Posting.unit_id, CaseDecision.decided_at)
        .join(Case, Case.id == CaseDecision.case_id)
        .join(Posting, Posting.id == Case.posting_id)
        .where(
            *criteria,
            CaseDecision.measure == "recall",
            _in_force(),
            CaseDecision.decided_at >= start,
            CaseDecision.decided_at < end,
        )
    ).all()
    return [(unit_id, local_day(at)) for unit_id, at in rows]


def _obligations(criteria, last):
    """Replacement obligations for recalls of these postings decided by `last`."""
    _start, end = q.local_bounds(last, last)
    rows = db.session.execute(
        select(ReplacementObligation, CaseDecision.decided_at)
        .join(CaseDecision, CaseDecision.id == ReplacementObligation.decision_id)
        .join(Posting, Posting.id == ReplacementObligation.recalled_posting_id)
        .where(*criteria, CaseDecision.decided_at < end)
        .order_by(ReplacementObligation.deadline, ReplacementObligation.id)
    ).all()
    return [(obligation, local_day(at)) for obligation, at in rows]
