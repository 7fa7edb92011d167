"""What inspectors found on site: signed by the whole team, never edited afterwards
(an amendment is a new finding that points at the old one), and the problems it lists."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.draws import Assignment
from server.models.types import UTCDateTime, utcnow
from server.models.units import Unit
from server.models.users import User

FINDING_OUTCOMES = ("present", "absent", "on_leave", "duty_trip", "undetermined")


class Finding(db.Model):
    __tablename__ = "finding"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('present', 'absent', 'on_leave', 'duty_trip', 'undetermined')",
            name="outcome",
        ),
        CheckConstraint("status IN ('draft', 'final')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(15))
    # When the team saw it: what the cross-check compares check-ins with.
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notes: Mapped[str | None] = mapped_column(Text)
    arrival_checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkin.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="draft", index=True)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A correction is a new finding pointing at the one it corrects.
    amends_id: Mapped[int | None] = mapped_column(ForeignKey("finding.id"), index=True)

    assignment: Mapped[Assignment] = relationship()
    created_by: Mapped[User] = relationship()
    signatures: Mapped[list["FindingSignature"]] = relationship(
        cascade="all, delete-orphan", order_by="FindingSignature.inspector_id"
    )
    problems: Mapped[list["Problem"]] = relationship(
        back_populates="finding", order_by="Problem.id"
    )

    @property
    def signed_by(self):
        return [s.inspector_id for s in self.signatures]


class FindingSignature(db.Model):
    __tablename__ = "finding_signature"

    finding_id: Mapped[int] = mapped_column(
        ForeignKey("finding.id", ondelete="CASCADE"), primary_key=True
    )
    inspector_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Problem(db.Model):
    """An item of the problem list (问题清单), followed to the end in the rectification
    ledger (整改台账)."""

    __tablename__ = "problem"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("finding.id"), index=True)
    posting_id: Mapped[int | None] = mapped_column(ForeignKey("posting.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    responsible_person: Mapped[str | None] = mapped_column(String(100))
    deadline: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    finding: Mapped[Finding | None] = relationship(back_populates="problems")
    responsible_unit: Mapped[Unit | None] = relationship()
