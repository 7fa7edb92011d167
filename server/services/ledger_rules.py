"""How a posting's month is judged, day by day.

The policy in force on a day decides that day (counting rule, whether a rest day is
excused, whether duty trips count, whether silence is absence); the policy in force on
the month's last day sets the month's minimum. Days are bit masks (bit i = day i + 1),
so judging a posting is a handful of integer operations whatever its evidence.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from server.extensions import db
from server.models.policies import Policy
from server.models.regions import Region
from server.services.policies import DEFAULT_POLICY, ancestor_codes, merge

CODES = {
    "present": "P",
    "uncounted": "N",
    "duty_trip": "T",
    "leave": "L",
    "rest": "R",
    "pending": "F",
    "absent": "A",
    "unknown": "U",
    "not_posted": "-",
}


@dataclass(frozen=True)
class MonthRules:
    """One jurisdiction's policy over one month, as day masks and month figures."""

    overnight: int  # days counted by the evening-and-next-morning rule
    evening_from: str
    morning_until: str
    rest: int  # non-working days on which absence is excused
    trips_count: int  # days on which a declared duty trip counts as present
    daily_duty: int  # days on which silence is absence (daily check-in duty)
    min_days: int
    per_household: int
    annual_cap: int


def bits(mask):
    return mask.bit_count()


def day_mask(first, start, end):
    """The mask of the days from `start` to `end` inclusive (dates in first's month)."""
    if end < start:
        return 0
    low = (start - first).days
    return ((1 << ((end - start).days + 1)) - 1) << low


class PolicyBook:
    """Every stored policy version up to the month's end, resolved per village and day
    with caching: a province has a few dozen versions, not one per village."""

    def __init__(self, first, last, calendar_days):
        self.first, self.last, self.calendar = first, last, calendar_days
        rows = db.session.execute(
            select(Region.code, Policy)
            .join(Policy, Policy.region_id == Region.id)
            .where(Policy.effective_from <= last)
            .order_by(Policy.effective_from, Policy.version)
        ).all()
        self.versions = {}
        for code, version in rows:
            self.versions.setdefault(code, []).append(version)
        self._by_chain = {}
        self._merged = {}

    def rules_for(self, village_code):
        chain = tuple(c for c in ancestor_codes(village_code) if c in self.versions)
        if chain not in self._by_chain:
            self._by_chain[chain] = self._month_rules(chain)
        return self._by_chain[chain]

    def _policy_on(self, chain, day):
        in_force = []
        for code in chain:
            effective = [v for v in self.versions[code] if v.effective_from <= day]
            if effective:
                in_force.append(effective[-1])  # ordered by date, then version
        key = tuple(v.id for v in in_force)
        if key not in self._merged:
            policy = DEFAULT_POLICY
            for version in in_force:
                policy = merge(policy, version.rules)
            self._merged[key] = policy
        return self._merged[key]

    def _month_rules(self, chain):
        overnight = rest = trips = daily = 0
        evening, morning = "18:00", "10:00"
        for i, entry in enumerate(self.calendar):
            policy = self._policy_on(chain, entry.day)
            attendance = policy["attendance"]
            if attendance["counting_rule"] == "overnight":
                overnight |= 1 << i
                evening, morning = attendance["evening_from"], attendance["morning_until"]
            if attendance["holidays_excused"] and not entry.working:
                rest |= 1 << i
            if attendance["duty_trips_count_as_present"]:
                trips |= 1 << i
            if policy["checkin"]["duty"] == "daily":
                daily |= 1 << i
        final = self._policy_on(chain, self.last)
        return MonthRules(
            overnight=overnight,
            evening_from=evening,
            morning_until=morning,
            rest=rest,
            trips_count=trips,
            daily_duty=daily,
            min_days=final["attendance"]["min_days_per_month"],
            per_household=final["household_visits"]["per_household_per_month"],
            annual_cap=final["leave"]["annual_cap_days"],
        )


def leave_masks(leaves, first, last):
    """{posting_id: {"leave": mask, "duty_trip": mask}} from approved leave rows. A leave
    closed early (the cadre came back) stops the day before the return."""
    masks = {}
    for _id, posting_id, kind, start, end, returned_on in leaves:
        if returned_on is not None:
            end = min(end, returned_on - timedelta(days=1))
        mask = day_mask(first, max(start, first), min(end, last))
        entry = masks.setdefault(posting_id, {"leave": 0, "duty_trip": 0})
        entry[kind] |= mask
    return masks


def judge(
    *, rules, days_in_month, posted, present, evening, morning, pending, leave, trip, today_index
):
    """Classify each day of one posting's month and judge the minimum.

    `present` are days with accepted presence; under the overnight rule a day counts
    only with an accepted evening presence and an accepted presence the next morning.
    Precedence: present, duty trip, leave, pending review, not yet over, excused rest
    day; what is left is absent under a daily check-in duty and unknown otherwise."""
    counted_presence = (present & ~rules.overnight) | (evening & (morning >> 1) & rules.overnight)
    present_days = counted_presence & posted
    # In the village, but not by the overnight rule (no evening, or no next morning):
    # not counted toward the minimum, and never absent.
    uncounted_days = present & posted & ~present_days
    trip_days = trip & posted & ~present_days
    leave_days = leave & posted & ~present_days & ~trip_days
    uncounted_days &= ~trip_days & ~leave_days
    decided = present_days | trip_days | leave_days | uncounted_days
    pending_days = pending & posted & ~decided
    decided |= pending_days
    future = (
        (((1 << days_in_month) - 1) >> today_index << today_index)
        if today_index < days_in_month
        else 0
    )
    future_days = future & posted & ~decided
    decided |= future_days
    rest_days = rules.rest & posted & ~decided
    decided |= rest_days
    remaining = posted & ~decided
    absent_days = remaining & rules.daily_duty
    silent_days = remaining & ~rules.daily_duty

    codes = []
    for i in range(days_in_month):
        bit = 1 << i
        for name, mask in (
            ("present", present_days),
            ("duty_trip", trip_days),
            ("leave", leave_days),
            ("uncounted", uncounted_days),
            ("pending", pending_days),
            ("unknown", future_days | silent_days),
            ("rest", rest_days),
            ("absent", absent_days),
        ):
            if mask & bit:
                codes.append(CODES[name])
                break
        else:
            codes.append(CODES["not_posted"])

    days_posted = bits(posted)
    counted = bits(present_days) + bits(trip_days & rules.trips_count)
    required = math.ceil(rules.min_days * days_posted / days_in_month) if days_posted else 0
    open_days = bits(pending_days) + bits(future_days) + bits(silent_days)
    if counted >= required and days_posted:
        status = "met"
    elif counted + open_days < required:
        status = "not_met"
    elif pending_days or future_days:
        status = "open"
    else:
        status = "undetermined"
    return {
        "days_in_month": days_in_month,
        "days_posted": days_posted,
        "required_days": required,
        "days_present": bits(present_days),
        "days_not_counted": bits(uncounted_days),
        "days_duty_trip": bits(trip_days),
        "days_leave": bits(leave_days),
        "days_rest": bits(rest_days),
        "days_excused": bits(trip_days) + bits(leave_days) + bits(rest_days),
        "days_pending": bits(pending_days),
        "days_unknown": bits(pending_days) + bits(future_days) + bits(silent_days),
        "days_absent": bits(absent_days),
        "days_counted": counted,
        "day_codes": "".join(codes),
        "status": status,
    }
