"""Reading the problem list: filters (overdue by the local date), the lines with their
places and trails, and summaries per responsible unit or county."""

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import selectinload

from server import auth
from server.extensions import db
from server.models import Problem, Rectification, Region, Unit
from server.models.regions import LEVEL_DIGITS
from server.services.ledger import region_names
from server.services.lookups import region_by_code
from server.services.postings import local_today

STATUSES = ("draft", "open", "in_rectification", "submitted", "verified", "reopened")
# Drafts belong to a finding still awaiting signatures: not on the list yet.
LISTED = STATUSES[1:]
UNSETTLED = tuple(s for s in LISTED if s != "verified")


@dataclass
class ProblemView:
    """A problem with what its list line and page show (places, trail)."""

    problem: Problem
    village: Region
    township_name: str | None
    county_name: str | None
    today: date
    trail: list = field(default_factory=list)

    def __getattr__(self, name):
        return getattr(self.problem, name)

    @property
    def village_code(self):
        return self.village.code

    @property
    def village_name(self):
        return self.village.name

    @property
    def responsible_unit_name(self):
        unit = self.problem.responsible_unit
        return unit.name if unit is not None else None

    @property
    def overdue(self):
        return is_overdue(self.problem.status, self.problem.deadline, self.today)

    @property
    def source(self):
        return "inspection" if self.problem.finding_id is not None else "entered"

    @property
    def found_at(self):
        finding = self.problem.finding
        return finding.observed_at if finding is not None else self.problem.created_at


def is_overdue(status, deadline, today):
    """Past its deadline (the local date) and not yet verified."""
    return deadline is not None and deadline < today and status in UNSETTLED


def _overdue_clause(today):
    return and_(Problem.deadline < today, Problem.status.in_(UNSETTLED))


def get(*, actor, problem_id):
    problem = auth.get_visible(Problem, problem_id, actor)
    return views([problem], trail=True)[0]


def list_(*, actor, **filters):
    """The list, newest first; each problem comes with its unit and finding."""
    return (
        _filtered(actor, **filters)
        .options(selectinload(Problem.responsible_unit), selectinload(Problem.finding))
        .order_by(Problem.id.desc())
    )


def _filtered(
    actor,
    status=None,
    region_code=None,
    unit_id=None,
    category=None,
    overdue=None,
    finding_id=None,
    posting_id=None,
):
    stmt = auth.scoped(select(Problem), Problem, actor)
    stmt = stmt.where(Problem.status == status if status else Problem.status.in_(LISTED))
    if region_code:
        region = region_by_code(region_code, "region_code")
        stmt = stmt.where(Problem.village_id.in_(auth.subtree_ids(region.prefix)))
    if unit_id is not None:
        stmt = stmt.where(Problem.responsible_unit_id == unit_id)
    if category:
        stmt = stmt.where(Problem.category == category)
    if overdue is not None:
        late = _overdue_clause(local_today())
        stmt = stmt.where(late if overdue else or_(Problem.deadline.is_(None), ~late))
    if finding_id is not None:
        stmt = stmt.where(Problem.finding_id == finding_id)
    if posting_id is not None:
        stmt = stmt.where(Problem.posting_id == posting_id)
    return stmt


def views(problems, *, trail=False):
    """ProblemViews for a page of problems: places, units, findings and (on request)
    trails loaded in a few queries for the whole page."""
    if not problems:
        return []
    ids = [p.id for p in problems]
    villages = {
        r.id: r
        for r in db.session.execute(
            select(Region).where(Region.id.in_({p.village_id for p in problems}))
        ).scalars()
    }
    names = region_names({v.code for v in villages.values()})
    steps = trails(ids) if trail else {}
    today = local_today()
    result = []
    for problem in problems:
        village = villages[problem.village_id]
        township, county = (_above(village.code, level) for level in ("township", "county"))
        result.append(
            ProblemView(
                problem,
                village,
                names.get(township),
                names.get(county),
                today,
                steps.get(problem.id, []),
            )
        )
    return result


def _above(code, level):
    return code[: LEVEL_DIGITS[level]].ljust(12, "0")


def trails(problem_ids):
    """problem id -> its Rectification steps, oldest first, with actors and photos."""
    found = {}
    steps = db.session.execute(
        select(Rectification)
        .where(Rectification.problem_id.in_(problem_ids))
        .options(selectinload(Rectification.actor), selectinload(Rectification.photos))
        .order_by(Rectification.id)
    ).scalars()
    for step in steps:
        found.setdefault(step.problem_id, []).append(step)
    return found


# ---------------------------------------------------------------- summaries


def summary(*, actor, region_code=None, by="unit"):
    """Per responsible unit (or per county): counts by state, overdue, and verified on
    time (verified, with the accepted submission made by the deadline, local date)."""
    listed = _filtered(actor, region_code=region_code).with_only_columns(Problem.id)
    rows = db.session.execute(
        select(
            Problem.id, Problem.status, Problem.deadline, Problem.responsible_unit_id, Region.code
        )
        .join(Region, Region.id == Problem.village_id)
        .where(Problem.id.in_(listed))
    ).all()
    submitted = dict(
        db.session.execute(
            select(Rectification.problem_id, func.max(Rectification.at))
            .where(
                Rectification.action == "submit",
                Rectification.problem_id.in_(listed),
            )
            .group_by(Rectification.problem_id)
        ).all()
    )
    names = _group_names(rows, by)
    today, zone = local_today(), ZoneInfo(current_app.config["TIMEZONE"])
    groups = {}
    for row in rows:
        key = row.responsible_unit_id if by == "unit" else _above(row.code, "county")
        entry = groups.setdefault(
            key,
            {"key": key, "name": names.get(key), "total": 0}
            | dict.fromkeys(LISTED, 0)
            | {"overdue": 0, "verified_on_time": 0},
        )
        entry["total"] += 1
        entry[row.status] += 1
        entry["overdue"] += is_overdue(row.status, row.deadline, today)
        if row.status == "verified" and _on_time(submitted.get(row.id), row.deadline, zone):
            entry["verified_on_time"] += 1
    return sorted(groups.values(), key=lambda e: (e["key"] is None, str(e["key"])))


def _on_time(submitted_at: datetime | None, deadline, zone):
    if deadline is None:
        return True
    return submitted_at is not None and submitted_at.astimezone(zone).date() <= deadline


def _group_names(rows, by):
    if by == "unit":
        ids = {row.responsible_unit_id for row in rows} - {None}
        found = db.session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(ids))).all()
        return dict(found)
    return region_names({row.code for row in rows})
