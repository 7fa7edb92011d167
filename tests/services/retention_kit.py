"""Helpers for the retention tests: evidence of a chosen age, and the rows that hold it."""

import uuid
from datetime import UTC, date, datetime, time, timedelta

from server.extensions import db
from server.models import (
    Assignment,
    AuditEvent,
    Case,
    Draw,
    Finding,
    Flag,
    Photo,
    Problem,
    Recommendation,
    Rectification,
)
from server.services.photos import inspect
from tests import photos
from tests.services.storage_kit import LIMITS, add_photo

# "Now" for the tests: noon in Beijing on 2026-11-27. 1096 days earlier (2024 has a
# leap day) is 2023-11-27: evidence of days before that is old.
NOW = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
CUTOFF = date(2023, 11, 27)
OLD_DAY = date(2023, 5, 10)
YOUNG_DAY = date(2024, 6, 3)
POST = (32.7093, 116.7112)  # village A1 of the test world


def checkin_of(make, posting, day=OLD_DAY, received=None, **overrides):
    """A check-in of `day`, received that morning unless said otherwise."""
    received = received or datetime.combine(day, time(1, 30), UTC)
    return make.checkin(
        posting, local_date=day, received_at=received, captured_at=received, **overrides
    )


def with_photo(store, checkin, seed, position=0, data=None):
    """A photo (with an EXIF position) on the check-in, its file installed at commit."""
    data = data or photos.jpeg(seed, lat=POST[0], lon=POST[1])
    return add_photo(store, checkin, data, position)


def flag_on(checkin, code="outside_geofence", status="open", **details):
    flag = Flag(checkin=checkin, code=code, severity="medium", details=details, status=status)
    db.session.add(flag)
    db.session.flush()
    return flag


def case_citing(world, *items, status="open"):
    case = Case(
        posting_id=world.posting_a.id,
        cadre_id=world.cadre_a.id,
        proposed_measure="talk",
        summary="两次签到与抽查结果不符。",
        evidence=list(items),
        decision_level="county",
        answer_deadline=date(2026, 12, 31),
        status=status,
        opened_by_id=world.reviewer_a.id,
    )
    db.session.add(case)
    db.session.flush()
    return case


def recommendation_citing(world, *items, status="open"):
    recommendation = Recommendation(
        posting_id=world.posting_a.id,
        rule="false_checkin",
        measure="talk",
        period="2023-05",
        dedup_key=uuid.uuid4().hex,
        rule_version="0" * 64,
        rule_settings={},
        evidence=list(items),
        summary="签到与抽查结果矛盾。",
        status=status,
    )
    db.session.add(recommendation)
    db.session.flush()
    return recommendation


def finding_with_arrival(world, arrival, status="final"):
    start = datetime.combine(OLD_DAY, time(0), UTC)
    draw = Draw(
        owner_id=world.reviewer_a.id,
        scope_id=world.county_a.id,
        kind="visit",
        mode="commit-reveal",
        status="revealed",
        window_start=start,
        window_end=start + timedelta(days=7),
        parameters={},
        frame="{}",
        frame_hash="0" * 64,
        salt="0" * 64,
        beacon_spec={},
    )
    assignment = Assignment(
        draw=draw,
        posting_id=world.posting_a.id,
        village_id=world.village_a1.id,
        rank=1,
        stratum="random",
    )
    finding = Finding(
        assignment=assignment,
        outcome="absent",
        observed_at=start + timedelta(hours=3),
        arrival_checkin_id=arrival.id,
        created_by_id=world.inspector_a.id,
        status=status,
    )
    db.session.add_all([draw, assignment, finding])
    db.session.flush()
    return finding


def rectification_photo(store, world, seed, problem_status, day=OLD_DAY):
    """A rectification submission's photo, received on `day`, of a problem in that state."""
    problem = Problem(
        village_id=world.village_a1.id,
        category="作风",
        description="未按要求驻村。",
        status=problem_status,
    )
    db.session.add(problem)
    db.session.flush()
    step = Rectification(
        problem_id=problem.id, action="submit", note="已整改。", actor_id=world.cadre_a.id
    )
    db.session.add(step)
    db.session.flush()
    data = photos.jpeg(seed, lat=POST[0], lon=POST[1])
    facts = inspect(data, **LIMITS)
    store.stage(db.session, data, facts.sha256)
    photo = Photo(
        rectification_id=step.id,
        position=0,
        received_at=datetime.combine(day, time(2), UTC),
        **facts.columns(),
    )
    db.session.add(photo)
    db.session.flush()
    return photo


def events(action):
    return (
        db.session.execute(db.select(AuditEvent).where(AuditEvent.action == action)).scalars().all()
    )
