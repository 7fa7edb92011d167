"""Dispatching units (选派单位) that send cadres to villages and answer for them."""

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.regions import Region

UNIT_LEVELS = ("province", "city", "county", "township")


class Unit(db.Model):
    __tablename__ = "unit"
    __table_args__ = (
        CheckConstraint("level IN ('province', 'city', 'county', 'township')", name="level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    level: Mapped[str] = mapped_column(String(10))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)

    region: Mapped[Region] = relationship()

    @property
    def region_code(self):
        return self.region.code
