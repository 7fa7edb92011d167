"""A cadre's assignment to a village."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.regions import Region
from server.models.types import UTCDateTime, utcnow
from server.models.units import Unit
from server.models.users import User

POSTING_ROLES = ("first_secretary", "team_leader", "team_member", "paired_aid")
# Paired aid cadres visit households; everyone else lives in the village.
RESIDENT_ROLES = ("first_secretary", "team_leader", "team_member")
POSTING_STATUSES = ("active", "ended", "recalled")


class Posting(db.Model):
    __tablename__ = "posting"
    __table_args__ = (
        CheckConstraint(
            "role IN ('first_secretary', 'team_leader', 'team_member', 'paired_aid')",
            name="role",
        ),
        CheckConstraint("status IN ('active', 'ended', 'recalled')", name="status"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        # At most one active resident posting per cadre, enforced by the database too.
        Index(
            "uq_posting_one_active_resident",
            "cadre_id",
            unique=True,
            sqlite_where=text("status = 'active' AND role != 'paired_aid'"),
            postgresql_where=text("status = 'active' AND role != 'paired_aid'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cadre_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="active", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    cadre: Mapped[User] = relationship()
    village: Mapped[Region] = relationship()
    unit: Mapped[Unit] = relationship()

    @property
    def is_resident(self):
        return self.role in RESIDENT_ROLES

    @property
    def village_code(self):
        return self.village.code
