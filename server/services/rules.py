"""Rules that turn evidence into recommendations, never decisions (DOMAIN.md,
consequences): people decide, the cadre sees each recommendation and may answer it.

One small function per rule. Month rules read the frozen ledger of closed months (the
`MonthClosure` snapshots), finding rules read a final finding; `run_for_month` runs when
a month is closed and `run_for_finding` when a finding becomes final, both inside the
caller's transaction (the caller commits).

Each recommendation cites the exact rows behind it and the rule version that made it:
`rule_settings` holds the rule's settings as used (`consequences.rules.<name>` of the
policy in force at the village on the period's last day, plus any other figure the
rule read, such as the annual leave cap) and `policy_ids`, the ids of the policy
versions in force (province first); `rule_version` is the SHA-256 of the canonical JSON
of `rule_settings`, so both the settings and the versions behind them are fixed.

Running a rule twice over the same evidence adds nothing: `dedup_key` (rule, posting,
period) is unique, and an insert that meets an existing key is skipped by the database.
"""

from server.extensions import db
from server.services import leave_rules
from server.services.rule_runs import FindingRun, MonthRun, runs
from server.services.rule_support import (
    Proposal,
    checkin_refs,
    cite_counted_checkins,
    closure_ref,
    finding_ref,
    insert,
    ledger_ref,
    new_only,
)

# ---------------------------------------------------------------- month rules


def month_below_minimum(run, row):
    """A month below the minimum: a reminder."""
    if row["status"] != "not_met":
        return []
    settings = run.policies.settings("month_below_minimum", row["village_code"], run.last)
    if settings is None:
        return []
    return [
        Proposal(
            rule="month_below_minimum",
            posting_id=row["posting_id"],
            period=run.month,
            settings=settings,
            evidence=[closure_ref(run.closure), ledger_ref(run.closure, row)],
            summary=f"{run.month}：{_shortfall(row)}",
            months=((run.month, run.closure),),
        )
    ]


def consecutive_months_below(run, row):
    """`months` consecutive closed months below the minimum: a talk (约谈)."""
    found = []
    for end, settings, frozen in runs(run, row, "consecutive_months_below", "not_met"):
        start = frozen[0][0].month
        found.append(
            Proposal(
                rule="consecutive_months_below",
                posting_id=row["posting_id"],
                period=end,
                settings=settings,
                evidence=_frozen_refs(frozen),
                summary=f"连续{len(frozen)}个月（{start}至{end}）未达到驻村要求。",
                months=tuple((closure.month, closure) for closure, _row in frozen),
            )
        )
    return found


def sustained_service(run, row):
    """`months` consecutive closed months met, with at least one final finding `present`
    and no absence found in them: a commendation. Runs do not overlap: one commendation
    per stretch of service, not one every month after it."""
    found = []
    for end, settings, frozen in runs(run, row, "sustained_service", "met"):
        start = frozen[0][0].month
        findings = run.findings(row["posting_id"], start, end)
        outcomes = {f.outcome for f in findings}
        if "absent" in outcomes or "present" not in outcomes:
            continue
        if run.commended_near(row["posting_id"], end, settings["months"]):
            continue
        run.commended.setdefault(row["posting_id"], []).append(end)
        found.append(
            Proposal(
                rule="sustained_service",
                posting_id=row["posting_id"],
                period=end,
                settings=settings,
                evidence=_frozen_refs(frozen)
                + [finding_ref(f) for f in findings if f.outcome == "present"],
                summary=f"{start}至{end}连续{len(frozen)}个月达到驻村要求，暗访在岗，无缺岗。",
                months=tuple((closure.month, closure) for closure, _row in frozen),
            )
        )
    return found


def annual_leave_over_cap(run, row):
    """Approved leave in the year up to the closed month's end above the annual cap:
    recall recommended, once a year per posting. The year is not over, so the policy
    read is the one in force on the closed month's last day."""
    settings = run.policies.settings(
        "annual_leave_over_cap",
        row["village_code"],
        run.last,
        annual_cap_days=lambda policy: policy["leave"]["annual_cap_days"],
    )
    if settings is None or settings["annual_cap_days"] is None:
        return []
    leaves = run.leaves().get(row["posting_id"], [])
    days = sum(days for _leave, days in leaves)
    if days <= settings["annual_cap_days"]:
        return []
    year = run.month[:4]
    return [
        Proposal(
            rule="annual_leave_over_cap",
            posting_id=row["posting_id"],
            period=year,
            settings=settings,
            evidence=[closure_ref(run.closure)]
            + [
                {
                    "type": "leave",
                    "id": leave.id,
                    "start_date": leave.start_date.isoformat(),
                    "end_date": leave.end_date.isoformat(),
                    "returned_on": leave.returned_on and leave.returned_on.isoformat(),
                    "days": days,
                }
                for leave, days in leaves
            ],
            summary=f"{year}年截至{run.last}已请假{days}天，超过年度上限"
            f"{settings['annual_cap_days']}天。",
        )
    ]


MONTH_RULES = (
    month_below_minimum,
    consecutive_months_below,
    sustained_service,
    annual_leave_over_cap,
)


def run_for_month(closure, *, actor=None):
    """Run the month rules over a closure's frozen rows. Returns the new ids."""
    run = MonthRun(closure)
    proposals = [p for row in run.rows for rule in MONTH_RULES for p in rule(run, row)]
    fresh = new_only(proposals)
    cite_counted_checkins(fresh)
    return insert(fresh, closure, actor=actor, trigger_name="month_close")


# ---------------------------------------------------------------- finding rules


def absence_found(found):
    """An unexcused absence found by inspection: circulated criticism (通报批评)."""
    if found.finding.outcome != "absent":
        return []
    if leave_rules.excused(found.posting.id, found.day):
        return []  # away on approved leave or a declared trip: nothing to answer for
    settings = found.settings("absence_found")
    if settings is None:
        return []
    return [
        found.proposal(
            "absence_found",
            settings,
            checkin_refs(found.claims()),
            f"{found.day}暗访发现无故不在岗（检查记录{found.finding.id}）。",
        )
    ]


def false_checkin(found):
    """A check-in the finding contradicted (flagged `contradicted_by_inspection` by it):
    a false check-in, recall recommended."""
    flagged = [
        (flag, checkin)
        for checkin in found.claims()
        for flag in checkin.flags
        if flag.code == "contradicted_by_inspection"
        and flag.details.get("finding_id") == found.finding.id
    ]
    if not flagged:
        return []
    settings = found.settings("false_checkin")
    if settings is None:
        return []
    flags = [
        {"type": "flag", "id": flag.id, "checkin_id": checkin.id, "code": flag.code}
        for flag, checkin in flagged
    ]
    return [
        found.proposal(
            "false_checkin",
            settings,
            checkin_refs([checkin for _flag, checkin in flagged]) + flags,
            f"{found.day}的{len(flagged)}次在岗打卡与暗访结果矛盾（检查记录{found.finding.id}）。",
        )
    ]


FINDING_RULES = (absence_found, false_checkin)


def run_for_finding(finding, *, actor=None):
    """Run the finding rules over a final finding. Returns the new ids."""
    if finding.status != "final":
        return []
    db.session.flush()  # the cross-check's flags, just added
    found = FindingRun(finding)
    proposals = new_only([p for rule in FINDING_RULES for p in rule(found)])
    return insert(proposals, finding, actor=actor, trigger_name="finding_final")


# ---------------------------------------------------------------- helpers


def _shortfall(row):
    if row.get("standard") == "household_visits":
        return f"走访结对户{row['households_visited']}户，应走访{row['households_paired']}户。"
    return f"计入在岗{row['days_counted']}天，低于应驻{row['required_days']}天。"


def _frozen_refs(frozen):
    refs = []
    for closure, row in frozen:
        refs += [closure_ref(closure), ledger_ref(closure, row)]
    return refs
