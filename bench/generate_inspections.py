"""The generator's inspections and closed months.

Every month each city's organization department runs a commit-reveal visit draw (3% of
postings, 10% of the key stratum, teams of two, every recusal rule). Draws go through
the real frame builder and draw algorithm (`draw_frames.build`, `tools.drawing`,
`draws._assign`), so every proof verifies; only the salt, the secret and the beacon come
from the generator's random stream (for `--seed`) and the times are the month's, not
today's. The frame is frozen from the database as it stands when the generator builds
it, so a posting that starts later in the period can be drawn early: such an assignment
gets no finding (the team found no one posted there). The team finds what the
attendance plan says, except that a cadre who is hardly ever there (`Habits.absentee`)
is found absent on half the days their phone claimed presence: those check-ins are
contradicted (`contradictions`), as `findings._cross_check` would mark them.

Months are closed with the real service (`month_close.close`, province level, by the
province's department): a real ledger snapshot, its hash, its audit event and the
month rules' recommendations. At 10,000 postings that is about 13 s a month, half the
generator's time (BENCHMARKS.md), which is why `--closed-months` exists.
"""

import hashlib
import json
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from bench.generate_attendance import ABSENT, LEAVE, OFF, PRESENT, TRIP
from schemas.draws import DrawCreateSchema
from server.extensions import db
from server.models import Assignment, Draw, Finding, FindingSignature, Region, User
from server.models.draws import assignment_inspector
from server.services import draw_frames, draws, month_close
from server.tools import drawing

OUTCOMES = {PRESENT: "present", ABSENT: "absent", LEAVE: "on_leave", TRIP: "duty_trip"}
NOTES = {
    "present": "驻村干部在岗，查看了民情日志和工作台账。",
    "absent": "到村时驻村干部不在岗，村干部称其已离村，电话联系后确认不在村。",
    "on_leave": "驻村干部请假中，请假手续齐全。",
    "duty_trip": "驻村干部外出参加培训，已报备。",
    "undetermined": "帮扶干部当日未入户，无法核实。",
}
LOCAL = timedelta(hours=8)  # Asia/Shanghai has no daylight saving


class Inspections:
    def __init__(self, writer, places, staff, posts, plan, rng):
        self.writer, self.places, self.staff, self.plan, self.rng = (
            writer, places, staff, plan, rng,
        )  # fmt: skip
        self.posts = {p.id: p for p in posts}
        self.cities = sorted({p.village[:4].ljust(12, "0") for p in posts})
        self.index = {day: i for i, day in enumerate(plan.days)}
        self.arrivals = {}  # day index -> [(finding id, inspector id, device, post, at)]
        self.contradictions = {}  # (posting id, day index) -> (finding id, observed at)
        self.findings = 0
        self.devices = {uid: device for uid, _, device in staff.inspectors}

    def run(self, months):
        for month in months:
            days = [i for i in range(len(self.plan.days)) if self.plan.month(i) == month]
            for city in self.cities:
                self._draw(city, days)

    def _draw(self, city, days):
        rng, plan = self.rng, self.plan
        starts = [i for i in days if plan.working[i] and 5 <= plan.days[i].day <= 22]
        start_day = plan.days[rng.choice(starts or days)]
        window_start = datetime.combine(start_day, time(8), UTC) - LOCAL
        window_end = window_start + timedelta(days=2, hours=10)
        issue = f"{start_day.year}{start_day.timetuple().tm_yday:03d}"
        spec = {"source": "福彩双色球", "issue": issue, "scope": city}
        params = DrawCreateSchema().load(
            {"scope_code": city, "ratio": "0.03", "key_ratio": "0.10", "team_size": 2}
            | {"window_start": window_start.isoformat(), "window_end": window_end.isoformat()}
            | {"beacon_spec": spec}
        )
        for key in ("scope_code", "kind", "mode", "window_start", "window_end", "beacon_spec"):
            params.pop(key)
        scope = db.session.get(Region, self.places.ids[city])
        params["key_leave_days"] = draw_frames.key_leave_days(scope)
        draw = Draw(
            owner_id=self.staff.reviewers[city], scope=scope, kind="visit", mode="commit-reveal",
            window_start=window_start, window_end=window_end, beacon_spec=spec,
            parameters=json.loads(json.dumps(params, default=str)),
            salt=rng.randbytes(32).hex(), frame="", frame_hash="",
            created_at=window_start - timedelta(days=3),
        )  # fmt: skip
        db.session.add(draw)
        db.session.flush()
        frame, _, _ = draw_frames.build(draw.id, "visit", scope, draw.salt, params)
        draw.frame = drawing.canonical_json(frame).decode()  # drawing.run validates it
        draw.frame_hash = hashlib.sha256(draw.frame.encode()).hexdigest()
        secret = rng.randbytes(32)
        draw.secret = secret.hex()
        draw.commitment = drawing.commitment(str(draw.id), draw.frame_hash, secret, spec)
        red = sorted(rng.sample(range(1, 34), 6))
        draw.beacon_value = " ".join(f"{n:02d}" for n in red) + f" + {rng.randint(1, 16):02d}"
        seed = drawing.seed(str(draw.id), draw.frame_hash, draw.beacon_value, secret)
        draw.result, draw.seed = drawing.run(frame, seed), seed.hex()
        draw.status, draw.executed_at = "revealed", window_start - timedelta(hours=20)
        draw.revealed_at = window_end + timedelta(days=3)
        draws._assign(draw, draw.result)
        db.session.flush()
        self._findings(draw, self.index[start_day])

    def _teams(self, draw_id):
        rows = db.session.execute(
            select(Assignment.id, Assignment.posting_id, assignment_inspector.c.inspector_id)
            .join(assignment_inspector, assignment_inspector.c.assignment_id == Assignment.id)
            .where(Assignment.draw_id == draw_id)
            .order_by(Assignment.rank, assignment_inspector.c.inspector_id)
        )
        teams = {}
        for assignment_id, posting_id, inspector_id in rows:
            teams.setdefault((assignment_id, posting_id), []).append(inspector_id)
        return teams

    def _findings(self, draw, first_index):
        rng, plan = self.rng, self.plan
        findings, signatures = [], []
        for (assignment_id, posting_id), team in self._teams(draw.id).items():
            post = self.posts[posting_id]
            i = min(first_index + rng.randrange(2), len(plan.days) - 1)
            i = i if plan.working[i] else first_index  # teams go out on working days
            outcome = self._outcome(post, i)
            if outcome is None:
                continue
            seconds = rng.randrange(int(9.5 * 3600), int(16.5 * 3600))
            observed = datetime.combine(plan.days[i], time(), UTC) - LOCAL
            observed += timedelta(seconds=seconds)
            self.findings += 1
            fid = self.findings
            if outcome == "cheated":
                outcome = "absent"
                self.contradictions[(post.id, i)] = (fid, observed)
            created = observed + timedelta(minutes=rng.randint(20, 90))
            final = created + timedelta(hours=rng.randint(1, 30))
            findings.append(
                (fid, assignment_id, outcome, observed, NOTES[outcome], team[0], created)
                + ("final", final)
            )
            for n, inspector in enumerate(team):
                signatures.append((fid, inspector, created if n == 0 else final))
            arrival = observed - timedelta(minutes=rng.randint(10, 30))
            self.arrivals.setdefault(i, []).append(
                (fid, team[0], self.devices[team[0]], post, arrival)
            )
        columns = ("id", "assignment_id", "outcome", "observed_at", "notes", "created_by_id")
        self.writer.write(Finding, (*columns, "created_at", "status", "finalized_at"), findings)
        columns = ("finding_id", "inspector_id", "signed_at")
        self.writer.write(FindingSignature, columns, signatures)

    def _outcome(self, post, i):
        code = self.plan.codes[post.id][i]
        if code == OFF:
            return None
        if post.role == "paired_aid":  # found on a household visit, or not at all
            return "present" if i in self.plan.visits[post.id] else "undetermined"
        if code == PRESENT and self.plan.habits[post.id].absentee and self.rng.random() < 0.5:
            return "cheated"
        return OUTCOMES.get(code)


def close_months(months, staff, province_code):
    """Each month through the real service; returns the closures."""
    if not months:
        return []
    actor = db.session.get(User, staff.reviewers[province_code])
    return [
        month_close.close(actor=actor, region_code=province_code, month=month) for month in months
    ]
