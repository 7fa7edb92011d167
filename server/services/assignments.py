"""Assignments from executed draws: sealed until their window opens, and every read of
one is on the record (who learned of which inspection, and when)."""

from server import auth
from server.extensions import db
from server.models import Assignment
from server.services import audit


def list_(*, actor, draw_id=None):
    stmt = auth.scoped(db.select(Assignment), Assignment, actor)
    if draw_id is not None:
        stmt = stmt.where(Assignment.draw_id == draw_id)
    return stmt.order_by(Assignment.draw_id.desc(), Assignment.rank)


def record_reads(*, actor, assignments):
    """Audit a page of assignments that was shown to `actor`."""
    ids = [a.id for a in assignments]
    if ids:
        audit.record(
            "assignment.read",
            object_type="assignment",
            object_id=",".join(map(str, ids))[:64],
            actor=actor,
            summary={"ids": ids},
        )
        db.session.commit()
    return assignments


def get(*, actor, assignment_id):
    assignment = auth.get_visible(Assignment, assignment_id, actor)
    record_reads(actor=actor, assignments=[assignment])
    return assignment
