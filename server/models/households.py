"""Households paired with aid cadres (结对帮扶户)."""

from sqlalchemy import Column, Float, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.regions import Region
from server.models.users import User

household_cadre = Table(
    "household_cadre",
    db.metadata,
    Column("household_id", ForeignKey("household.id", ondelete="CASCADE"), primary_key=True),
    Column("cadre_id", ForeignKey("user_account.id"), primary_key=True, index=True),
)


class Household(db.Model):
    __tablename__ = "household"
    __table_args__ = (UniqueConstraint("village_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    head_name: Mapped[str] = mapped_column(String(100))
    # Optional: recorded by hand, or by the first geotagged visit.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)

    village: Mapped[Region] = relationship()
    cadres: Mapped[list[User]] = relationship(secondary=household_cadre, order_by=User.id)

    @property
    def cadre_ids(self):
        return [c.id for c in self.cadres]

    @property
    def village_code(self):
        return self.village.code
