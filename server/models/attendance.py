"""Reviews of flagged check-ins, and closed months (frozen ledgers)."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.checkins import Checkin
from server.models.regions import Region
from server.models.types import UTCDateTime, utcnow
from server.models.users import User

REVIEW_DECISIONS = ("accepted", "rejected")


class CheckinReview(db.Model):
    """A reviewer's decision on a check-in, with the written reason. The check-in's own
    verdict (what the machine found) is never changed; a later review supersedes an
    earlier one and points at it. The cadre may answer each decision once."""

    __tablename__ = "checkin_review"
    __table_args__ = (CheckConstraint("decision IN ('accepted', 'rejected')", name="decision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("checkin.id"), index=True)
    decision: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("checkin_review.id"))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    checkin: Mapped[Checkin] = relationship()
    reviewer: Mapped[User] = relationship()


class MonthClosure(db.Model):
    """A jurisdiction's ledger for a month, frozen: the canonical JSON snapshot and its
    SHA-256. Reopening keeps the row (status `reopened`, who, when, why); closing again
    adds the next version, so every version stays."""

    __tablename__ = "month_closure"
    __table_args__ = (
        CheckConstraint("status IN ('closed', 'reopened')", name="status"),
        # At most one standing closure per jurisdiction and month, even under races.
        Index(
            "uq_month_closure_standing",
            "region_id",
            "month",
            unique=True,
            sqlite_where=text("status = 'closed'"),
            postgresql_where=text("status = 'closed'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="closed")
    snapshot: Mapped[str] = mapped_column(Text)  # canonical JSON, byte for byte as hashed
    snapshot_hash: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer)
    closed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reopened_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopen_reason: Mapped[str | None] = mapped_column(Text)

    region: Mapped[Region] = relationship()
    closed_by: Mapped[User] = relationship(foreign_keys=[closed_by_id])
    reopened_by: Mapped[User | None] = relationship(foreign_keys=[reopened_by_id])
