"""Random inspection draws and the assignments they produce.

A draw freezes who could be drawn and who could inspect (the frame, with people as
salted pseudonyms), commits to a secret before a public beacon value is known, and is
executed once with that value. Everything needed to recompute the result is kept, so
that the proof can be published and checked by anyone.
"""

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.postings import Posting
from server.models.regions import Region
from server.models.types import UTCDateTime, utcnow
from server.models.users import User

DRAW_KINDS = ("visit", "rollcall")
DRAW_MODES = ("commit-reveal", "rfc3797")
DRAW_STATUSES = ("committed", "executed", "revealed")


class Draw(db.Model):
    __tablename__ = "draw"
    __table_args__ = (
        CheckConstraint("kind IN ('visit', 'rollcall')", name="kind"),
        CheckConstraint("mode IN ('commit-reveal', 'rfc3797')", name="mode"),
        CheckConstraint("status IN ('committed', 'executed', 'revealed')", name="status"),
        CheckConstraint("window_end > window_start", name="window"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    scope_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(15))
    status: Mapped[str] = mapped_column(String(10), default="committed", index=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    # The parameters as requested (for people) and the frame as frozen (for the proof).
    parameters: Mapped[dict] = mapped_column(JSON)
    frame: Mapped[str] = mapped_column(Text)  # canonical JSON, byte for byte as hashed
    frame_hash: Mapped[str] = mapped_column(String(64))
    # Secret until reveal: the pseudonym salt (who is who) and the commitment's secret.
    salt: Mapped[str] = mapped_column(String(64))
    secret: Mapped[str | None] = mapped_column(String(64))
    commitment: Mapped[str | None] = mapped_column(String(64))
    beacon_spec: Mapped[dict] = mapped_column(JSON)
    beacon_value: Mapped[str | None] = mapped_column(String(500))
    seed: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner: Mapped[User] = relationship()
    scope: Mapped[Region] = relationship()
    assignments: Mapped[list["Assignment"]] = relationship(
        back_populates="draw", order_by="Assignment.rank"
    )

    @property
    def scope_code(self):
        return self.scope.code


assignment_inspector = Table(
    "assignment_inspector",
    db.metadata,
    Column("assignment_id", ForeignKey("assignment.id", ondelete="CASCADE"), primary_key=True),
    Column("inspector_id", ForeignKey("user_account.id"), primary_key=True, index=True),
)


class Assignment(db.Model):
    """One drawn target: the posting to visit (or roll-call) and who goes, sealed until
    its window opens, and invisible to the person inspected."""

    __tablename__ = "assignment"
    __table_args__ = (UniqueConstraint("draw_id", "posting_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("draw.id"), index=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("posting.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    stratum: Mapped[str] = mapped_column(String(12))
    # Set when too few inspectors were eligible: recorded, never filled by hand.
    infeasible: Mapped[dict | None] = mapped_column(JSON)

    draw: Mapped[Draw] = relationship(back_populates="assignments")
    posting: Mapped[Posting] = relationship()
    village: Mapped[Region] = relationship()
    inspectors: Mapped[list[User]] = relationship(secondary=assignment_inspector, order_by=User.id)
    challenge: Mapped["Challenge | None"] = relationship(viewonly=True, uselist=False)

    @property
    def inspector_ids(self):
        return [i.id for i in self.inspectors]


class DeclaredRelationship(db.Model):
    """An inspector's declared tie to a cadre (kin, former colleague...): recusal."""

    __tablename__ = "declared_relationship"
    __table_args__ = (UniqueConstraint("inspector_id", "cadre_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    cadre_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Challenge(db.Model):
    """A remote roll-call (随机点名): the drawn cadre must answer with a live check-in
    between `issue_at` and `deadline`. Invisible to them before `issue_at`."""

    __tablename__ = "challenge"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id"), unique=True)
    cadre_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    issue_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkin.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    assignment: Mapped[Assignment] = relationship()

    def status_at(self, now):
        if self.answered_at is not None:
            return "answered" if self.answered_at <= self.deadline else "late"
        if now > self.deadline:
            return "unanswered"
        return "open" if now >= self.issue_at else "scheduled"

    @property
    def status(self):
        return self.status_at(utcnow())
