"""The generator's attendance plan: for every posting and day of the period, where the
cadre was (in the village, on leave, on a duty trip, away without excuse, resting), and
the leave requests behind the absences. Check-ins are written from this plan
(`generate_checkins`), and inspection findings read it, so what inspectors find agrees
with what the phones said (except where a cadre cheated: see `generate_inspections`).

Most cadres are in the village on nearly every working day and on some rest days;
about one in six misses more; a few (4%) are hardly ever there. Working days follow the
national calendar (`services.calendar`, holidays and make-up days included).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import numpy as np

from server.models import Leave
from server.services import calendar

PRESENT, ABSENT, LEAVE, TRIP, REST, OFF = b"PALTR-"
LEAVE_REASONS = ("家中老人住院陪护", "子女升学事宜", "本人身体不适就医", "家中有事", "婚假")
TRIP_REASONS = ("参加县委组织部培训", "赴县城参加项目推进会", "到市里办理帮扶项目手续")
REJECT_REASONS = ("当前防汛关键期，暂缓请假", "本月请假天数已多，请合理安排")


@dataclass(slots=True)
class Habits:
    working: float  # chance of being in the village on a working day
    resting: float  # ... on a weekend or holiday
    flagged: float  # chance a check-in raises a flag
    absentee: bool  # hardly ever there (and cheats when an inspection comes)
    leave_rate: float  # chance of a leave in a month


@dataclass
class Plan:
    days: list  # every date of the period
    working: list  # is it a working day
    codes: dict = field(default_factory=dict)  # posting id -> bytearray, one code a day
    visits: dict = field(default_factory=dict)  # posting id -> {day index: [household]}
    habits: dict = field(default_factory=dict)  # posting id -> Habits
    leaves: list = field(default_factory=list)  # Leave rows
    open_leaves: dict = field(default_factory=dict)  # posting id -> [(leave id, start)]

    def __post_init__(self):
        self.month_of = [day.strftime("%Y-%m") for day in self.days]
        self.working_days = np.array(self.working, bool)
        self.month_spans = []  # (first index, end index) of each month
        for i, month in enumerate(self.month_of):
            if i == 0 or month != self.month_of[i - 1]:
                self.month_spans.append([i, i + 1])
            else:
                self.month_spans[-1][1] = i + 1

    def month(self, i):
        return self.month_of[i]


def period_days(first, last):
    resolved = calendar.days_between(first, last)
    return [d.day for d in resolved], [d.working for d in resolved]


def _habits(rng):
    roll = rng.random()
    # One cadre in a hundred takes leave most months: past the annual cap, a recall rule.
    leave_rate = 0.6 if rng.random() < 0.01 else 0.10
    if roll < 0.80:
        return Habits(rng.uniform(0.93, 0.995), rng.uniform(0.4, 0.7), 0.02, False, leave_rate)
    if roll < 0.96:
        return Habits(rng.uniform(0.78, 0.93), rng.uniform(0.15, 0.4), 0.04, False, leave_rate)
    return Habits(rng.uniform(0.40, 0.70), rng.uniform(0.0, 0.1), 0.12, True, leave_rate)


class Planner:
    def __init__(self, plan, staff, rng, today):
        self.plan, self.staff, self.rng, self.today = plan, staff, rng, today
        self.index = {day: i for i, day in enumerate(plan.days)}
        self.np = np.random.default_rng(rng.getrandbits(64))  # a draw a day: NumPy's

    def serving(self, post):
        """Day indices of the period the posting covers."""
        first = self.index.get(max(post.start, self.plan.days[0]), 0)
        end = min(post.end or self.plan.days[-1], self.plan.days[-1])
        return range(first, self.index[end] + 1) if post.start <= end else range(0)

    def add(self, post):
        plan, rng = self.plan, self.rng
        habits = plan.habits[post.id] = _habits(rng)
        codes = plan.codes[post.id] = bytearray([OFF]) * len(plan.days)
        days = self.serving(post)
        if post.role == "paired_aid":  # no days to keep, households to visit
            codes[days.start : days.stop] = bytes([REST]) * len(days)
            self._visits(post, days)
            return
        away = self._leaves(post, days)
        working = plan.working_days[days.start : days.stop]
        draw = self.np.random(len(days))
        present = np.where(working, draw < habits.working, draw < habits.resting)
        mine = np.where(present, PRESENT, np.where(working, ABSENT, REST)).astype(np.uint8)
        for i, code in away.items():
            mine[i - days.start] = code
        codes[days.start : days.stop] = mine.tobytes()
        if post.end is None and rng.random() < 0.01:
            self._pending(post)

    def _by_month(self, days):
        """The day indices of each month the range touches."""
        return [
            range(max(first, days.start), min(end, days.stop))
            for first, end in self.plan.month_spans
            if first < days.stop and end > days.start
        ]

    def _visits(self, post, days):
        """Each paired household about once a month, now and then twice or not at all."""
        visits = self.plan.visits[post.id] = {}
        for month_days in self._by_month(days):
            working = [i for i in month_days if self.plan.working[i]] or month_days
            for household in post.households:
                for _ in range(self.rng.choices((0, 1, 2), weights=(5, 75, 20))[0]):
                    visits.setdefault(self.rng.choice(working), []).append(household)

    def _leaves(self, post, days):
        """Some months a leave or a duty trip; {day index: LEAVE or TRIP} when approved."""
        plan, rng, away = self.plan, self.rng, {}
        often = plan.habits[post.id].leave_rate
        for month_days in self._by_month(days):
            working = [i for i in month_days if plan.working[i]]
            for kind, chance in (("leave", often), ("duty_trip", 0.06)):
                if not working or rng.random() >= chance:
                    continue
                lengths = (1, 2, 2, 3, 3, 4, 5, 7) if kind == "leave" else (1, 2, 3)
                start = rng.choice(working)
                end = min(start + rng.choice(lengths) - 1, days[-1])
                if any(j in away for j in range(start, end + 1)):
                    continue
                status = rng.choices(("approved", "rejected", "cancelled"), (90, 5, 5))[0]
                leave_id = self._leave(post, kind, start, end, status)
                if status == "approved":
                    for j in range(start, end + 1):
                        away[j] = LEAVE if kind == "leave" else TRIP
                    plan.open_leaves.setdefault(post.id, []).append((leave_id, plan.days[start]))
        return away

    def _leave(self, post, kind, start, end, status):
        rng, days = self.rng, self.plan.days
        first, last = days[start], days[end]
        late = rng.random() < 0.03
        asked = datetime.combine(first, time(1, 30), UTC) + timedelta(
            days=1 if late else -rng.randint(1, 6), minutes=rng.randrange(600)
        )
        reviewer = self.staff.reviewers[post.village[:6].ljust(12, "0")]
        decided = status != "cancelled"
        level = "township" if (last - first).days < 3 else "county"
        reason = rng.choice(LEAVE_REASONS if kind == "leave" else TRIP_REASONS)
        verdict = "同意" if status == "approved" else rng.choice(REJECT_REASONS)
        leave_id = len(self.plan.leaves) + 1
        self.plan.leaves.append(
            (leave_id, post.id, post.cadre_id, kind, first, last, reason, status, level, late)
            + ("返村后补办请假手续" if late else None, asked)
            + ((reviewer, asked + timedelta(hours=rng.randint(1, 20)), verdict) if decided
               else (None, None, None))
        )  # fmt: skip
        return leave_id

    def _pending(self, post):
        start = self.today + timedelta(days=self.rng.randint(2, 14))
        asked = datetime.combine(self.today, time(2), UTC)
        self.plan.leaves.append(
            (len(self.plan.leaves) + 1, post.id, post.cadre_id, "leave", start)
            + (start + timedelta(days=1), "孩子学校家长会", "pending", "township", False)
            + (None, asked, None, None, None)
        )


LEAVE_COLUMNS = (
    "id", "posting_id", "cadre_id", "kind", "start_date", "end_date", "reason", "status",
    "approver_level", "late", "late_reason", "requested_at", "decided_by_id", "decided_at",
    "decision_reason",
)  # fmt: skip


def build(posts, staff, rng, first, last, today):
    plan = Plan(*period_days(first, last))
    planner = Planner(plan, staff, rng, today)
    for post in posts:
        planner.add(post)
    return plan


def write_leaves(writer, plan):
    writer.write(Leave, LEAVE_COLUMNS, plan.leaves)
