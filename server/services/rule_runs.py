"""The context the rules (`rules.py`) run in: one closed month's frozen rows, or one
final finding, with the lookups the rules share (runs of closed months, findings in
force, leave days), each read once per run."""

import json
from datetime import timedelta

from sqlalchemy import select

from server.extensions import db
from server.models import Assignment, Checkin, Finding, Leave, Recommendation
from server.services.ledger import month_bounds
from server.services.ledger_queries import local_bounds
from server.services.rule_support import (
    Frozen,
    Policies,
    Proposal,
    assignment_ref,
    finding_ref,
    local_day,
    shift,
)

# A run of consecutive months is looked for at most this far from the closed month.
MAX_RUN_MONTHS = 12


class MonthRun:
    """One closed month's rows, and what the month rules look up about them."""

    def __init__(self, closure):
        self.closure, self.month = closure, closure.month
        self.first, self.last = month_bounds(closure.month)
        self.rows = json.loads(closure.snapshot)["rows"]
        codes = {row["village_code"] for row in self.rows}
        self.posting_ids = [row["posting_id"] for row in self.rows]
        self.policies = Policies(codes)
        self.frozen = Frozen(codes, self.posting_ids, closure, self.rows)
        self.commended = {}
        self._findings = self._leaves = None

    def findings(self, posting_id, start, end):
        """Final findings in force (not amended) observed from `start` to `end` months."""
        if self._findings is None:
            self._findings = findings_of(
                self.posting_ids,
                month_bounds(shift(self.month, 1 - MAX_RUN_MONTHS))[0],
                month_bounds(shift(self.month, MAX_RUN_MONTHS - 1))[1],
            )
        first, last = month_bounds(start)[0], month_bounds(end)[1]
        return [
            f
            for f in self._findings.get(posting_id, [])
            if first <= local_day(f.observed_at) <= last
        ]

    def leaves(self):
        """{posting_id: [(leave, days in the year up to the month's end)]}."""
        if self._leaves is None:
            self._leaves = leave_days(self.posting_ids, self.first.replace(month=1), self.last)
        return self._leaves

    def commended_near(self, posting_id, end, months):
        """Is there a commendation of the posting for a run overlapping this one?"""
        periods = self.commended.get(posting_id, []) + list(
            db.session.execute(
                select(Recommendation.period).where(
                    Recommendation.posting_id == posting_id,
                    Recommendation.rule == "sustained_service",
                )
            ).scalars()
        )
        return any(abs(months_between(p, end)) < months for p in periods)


class FindingRun:
    """One final finding, and what the finding rules look up about it."""

    def __init__(self, finding):
        self.finding = finding
        self.assignment = finding.assignment
        self.posting = self.assignment.posting
        self.day = local_day(finding.observed_at)
        self.policies = Policies([self.posting.village.code])
        # An amendment stands for the finding it corrects: the same absence, once.
        root = finding
        while root.amends_id is not None:
            root = db.session.get(Finding, root.amends_id)
        self.period = f"finding:{root.id}"
        self._claims = None

    def settings(self, name):
        return self.policies.settings(name, self.posting.village.code, self.day)

    def claims(self):
        """The presence the cadre claimed in the village that day."""
        if self._claims is None:
            self._claims = (
                db.session.execute(
                    select(Checkin)
                    .where(
                        Checkin.posting_id == self.posting.id,
                        Checkin.cadre_id == self.posting.cadre_id,
                        Checkin.kind == "presence",
                        Checkin.local_date == self.day,
                    )
                    .order_by(Checkin.local_time, Checkin.id)
                )
                .scalars()
                .all()
            )
        return self._claims

    def proposal(self, rule, settings, cited, summary):
        return Proposal(
            rule=rule,
            posting_id=self.posting.id,
            period=self.period,
            settings=settings,
            evidence=[finding_ref(self.finding), assignment_ref(self.assignment), *cited],
            summary=summary,
        )


def runs(run, row, name, status):
    """Every run of the rule's `months` consecutive closed months with `status` that
    includes the closed month, as (last month, settings there, [(closure, row)...]). A
    later month closed first completes a run too, so closing order does not matter."""
    posting_id, found = row["posting_id"], []
    for k in range(MAX_RUN_MONTHS):
        end = shift(run.month, k)
        frozen_end = run.frozen.rows(end).get(posting_id)
        if frozen_end is None or frozen_end[1]["status"] != status:
            break  # every later run through this month would include this one
        settings = run.policies.settings(name, row["village_code"], month_bounds(end)[1])
        if settings is None or k >= settings["months"]:
            continue
        months = [shift(end, -i) for i in reversed(range(settings["months"]))]
        frozen = [run.frozen.rows(month).get(posting_id) for month in months]
        if all(f is not None and f[1]["status"] == status for f in frozen):
            found.append((end, settings, frozen))
    return found


def findings_of(posting_ids, first, last):
    """{posting_id: [final findings in force observed from first to last]}."""
    start, end = local_bounds(first, last)
    amended = select(Finding.amends_id).where(
        Finding.amends_id.is_not(None), Finding.status == "final"
    )
    rows = db.session.execute(
        select(Assignment.posting_id, Finding)
        .join(Assignment, Assignment.id == Finding.assignment_id)
        .where(
            Assignment.posting_id.in_(posting_ids),
            Finding.status == "final",
            Finding.observed_at >= start,
            Finding.observed_at < end,
            Finding.id.not_in(amended),
        )
        .order_by(Finding.observed_at, Finding.id)
    ).all()
    found = {}
    for posting_id, finding in rows:
        found.setdefault(posting_id, []).append(finding)
    return found


def leave_days(posting_ids, first, last):
    """{posting_id: [(approved leave, its days within [first, last])]}. A leave closed
    early (销假) ends the day before the return."""
    leaves = db.session.execute(
        select(Leave)
        .where(
            Leave.posting_id.in_(posting_ids),
            Leave.kind == "leave",
            Leave.status == "approved",
            Leave.start_date <= last,
            Leave.end_date >= first,
        )
        .order_by(Leave.start_date, Leave.id)
    ).scalars()
    found = {}
    for leave in leaves:
        end = leave.end_date
        if leave.returned_on is not None:
            end = min(end, leave.returned_on - timedelta(days=1))
        days = (min(end, last) - max(leave.start_date, first)).days + 1
        if days > 0:
            found.setdefault(leave.posting_id, []).append((leave, days))
    return found


def months_between(a, b):
    return (int(b[:4]) - int(a[:4])) * 12 + int(b[5:7]) - int(a[5:7])
