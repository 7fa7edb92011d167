"""Leave (请假) and declared duty trips (报备), with approval and close-out (销假)."""

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.postings import Posting
from server.models.types import UTCDateTime, utcnow
from server.models.users import User

LEAVE_KINDS = ("leave", "duty_trip")
LEAVE_STATUSES = ("pending", "approved", "rejected", "cancelled")
APPROVER_LEVELS = ("township", "county", "city", "province")


class Leave(db.Model):
    __tablename__ = "leave"
    __table_args__ = (
        CheckConstraint("kind IN ('leave', 'duty_trip')", name="kind"),
        CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'cancelled')", name="status"
        ),
        CheckConstraint("end_date >= start_date", name="dates"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("posting.id"), index=True)
    cadre_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    start_date: Mapped[date] = mapped_column(db.Date, index=True)
    end_date: Mapped[date] = mapped_column(db.Date, index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    # Which level must approve, fixed from the policy when the request was made.
    approver_level: Mapped[str] = mapped_column(String(10))
    # Asked for after it began: needs a reason, and stays marked.
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    late_reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # Close-out (销假): the first day back, by the first presence check-in or by hand.
    returned_on: Mapped[date | None] = mapped_column(db.Date)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkin.id"))
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    posting: Mapped[Posting] = relationship()
    cadre: Mapped[User] = relationship(foreign_keys=[cadre_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])

    @property
    def days(self):
        return (self.end_date - self.start_date).days + 1
