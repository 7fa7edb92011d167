"""Leave days counted in SQL, and close-out by check-ins below the API (bare rows, so
that kinds and review decisions a phone cannot send are covered too)."""

from datetime import date

from server.extensions import db
from server.models import AuditEvent, Leave
from server.services import leave_days, leaves


def add_leave(posting, start, end, *, status="approved", kind="leave", returned_on=None):
    leave = Leave(
        posting=posting,
        cadre_id=posting.cadre_id,
        kind=kind,
        start_date=start,
        end_date=end,
        reason="事假",
        status=status,
        approver_level="county",
        returned_on=returned_on,
    )
    db.session.add(leave)
    db.session.flush()
    return leave


def days_by_posting(first, last):
    stmt = leave_days.approved_days(Leave.posting_id, first, last)
    return {posting_id: int(days) for posting_id, days in db.session.execute(stmt)}


def test_days_are_clipped_to_the_window_and_to_the_return(world, make):
    village, unit = world.village_a1, world.unit_a

    def posting(*leaves_):
        p = make.posting(make.user("cadre"), village, unit, role="team_member")
        for start, end, returned_on in leaves_:
            add_leave(p, start, end, returned_on=returned_on)
        return p.id

    may = (date(2027, 5, 1), date(2027, 5, 31))
    expected = {
        posting((date(2027, 5, 10), date(2027, 5, 12), None)): 3,
        posting((date(2027, 4, 28), date(2027, 5, 2), None)): 2,
        posting((date(2027, 5, 30), date(2027, 6, 4), None)): 2,
        posting((date(2027, 4, 1), date(2027, 6, 30), None)): 31,
        posting((date(2027, 5, 10), date(2027, 5, 20), date(2027, 5, 13))): 3,
        posting((date(2027, 5, 10), date(2027, 5, 12), date(2027, 5, 25))): 3,
        posting((date(2027, 4, 20), date(2027, 5, 20), date(2027, 5, 3))): 2,
        posting(
            (date(2027, 5, 1), date(2027, 5, 1), None), (date(2027, 5, 31), date(2027, 6, 1), None)
        ): 2,
        # Back on the first day, or before the window: nothing counts.
        posting((date(2027, 5, 10), date(2027, 5, 12), date(2027, 5, 10))): 0,
        posting((date(2027, 4, 20), date(2027, 5, 20), date(2027, 4, 30))): 0,
    }
    ignored = make.posting(make.user("cadre"), village, unit, role="team_member")
    add_leave(ignored, date(2027, 5, 3), date(2027, 5, 4), status="pending")
    add_leave(ignored, date(2027, 5, 5), date(2027, 5, 6), kind="duty_trip")
    add_leave(ignored, date(2027, 5, 7), date(2027, 5, 8), status="cancelled")
    add_leave(ignored, date(2027, 6, 1), date(2027, 6, 8))
    assert days_by_posting(*may) == expected  # `ignored` has no approved leave days


def checkin_on(make, posting, day, **overrides):
    return make.checkin(posting, local_date=day, **overrides)


def closes():
    return (
        db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action == "leave.close").order_by(AuditEvent.seq)
        )
        .scalars()
        .all()
    )


def test_only_a_standing_presence_check_in_closes(world, make):
    posting = world.posting_a
    leave = add_leave(posting, date(2027, 3, 1), date(2027, 3, 10))
    pending = add_leave(posting, date(2027, 3, 11), date(2027, 3, 12), status="pending")
    for overrides in (
        {"kind": "household_visit", "household": world.household_a},
        {"kind": "departure"},
        {"verdict": "flagged", "review_decision": "rejected"},
        # Flagged, not yet reviewed: rejected later, it must not have ended the leave.
        {"verdict": "flagged"},
    ):
        row = checkin_on(make, posting, date(2027, 3, 4), **overrides)
        assert leaves.close_on_return(row) == []
    assert leave.returned_on is None

    other = make.posting(make.user("cadre"), world.village_a1, world.unit_a, role="team_member")
    assert leaves.close_on_return(checkin_on(make, other, date(2027, 3, 4))) == []

    flagged = checkin_on(make, posting, date(2027, 3, 13), verdict="flagged")
    flagged.review_decision = "accepted"
    assert leaves.close_on_return(flagged) == [leave]
    assert leave.returned_on == date(2027, 3, 13) and leave.closed_by_checkin_id == flagged.id
    assert pending.returned_on is None
    (event,) = closes()
    assert event.summary == {
        "by": "checkin",
        "checkin_id": flagged.id,
        "returned_on": "2027-03-13",
        "replaces_returned_on": None,
    }


def test_a_check_in_synced_late_moves_the_return_back(world, make):
    posting = world.posting_a
    leave = add_leave(posting, date(2027, 3, 1), date(2027, 3, 10))
    later = checkin_on(make, posting, date(2027, 3, 8))
    leaves.close_on_return(later)
    earlier = checkin_on(make, posting, date(2027, 3, 5))  # taken offline, synced now
    assert leaves.close_on_return(earlier) == [leave]
    assert leave.returned_on == date(2027, 3, 5) and leave.closed_by_checkin_id == earlier.id
    assert closes()[-1].summary["replaces_returned_on"] == "2027-03-08"
    # Neither a later one, nor the first day of the leave, nor one before it moves it.
    for day in (date(2027, 3, 6), date(2027, 3, 1), date(2027, 2, 27)):
        assert leaves.close_on_return(checkin_on(make, posting, day)) == []
    assert leave.returned_on == date(2027, 3, 5)


def test_a_close_by_hand_is_left_alone(world, make):
    posting = world.posting_a
    leave = add_leave(posting, date(2027, 3, 1), date(2027, 3, 10), returned_on=date(2027, 3, 6))
    leave.closed_by_id = world.reviewer_a.id
    db.session.flush()
    assert leaves.close_on_return(checkin_on(make, posting, date(2027, 3, 3))) == []
    assert leave.returned_on == date(2027, 3, 6)
