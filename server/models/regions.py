"""Administrative divisions, identified by their official 12-digit codes."""

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db

LEVELS = ("province", "city", "county", "township", "village")
# How many leading digits of the 12-digit code identify a region at each level.
LEVEL_DIGITS = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}
DEFAULT_GEOFENCE_M = 1000


def level_of_code(code):
    """The level a 12-digit code denotes: trailing zeros mark the level, and every
    segment before them must be non-zero (340400000001 is no village of anything).
    Raises ValueError for a malformed code."""
    if len(code) != 12 or not code.isdigit():
        raise ValueError(code)
    start = 0
    for level in LEVELS:
        end = LEVEL_DIGITS[level]
        if code[start:end].strip("0") == "":
            raise ValueError(code)
        if code[end:].strip("0") == "":
            return level
        start = end
    raise ValueError(code)


def subtree_prefix(code):
    """The prefix every code in `code`'s subtree starts with (itself if malformed)."""
    try:
        return code[: LEVEL_DIGITS[level_of_code(code)]]
    except ValueError:
        return code


def code_prefix(code, level):
    return code[: LEVEL_DIGITS[level]]


class Region(db.Model):
    __tablename__ = "region"
    __table_args__ = (
        CheckConstraint("length(code) = 12", name="code_12_digits"),
        CheckConstraint(
            "level IN ('province', 'city', 'county', 'township', 'village')", name="level"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    # Village posts only: where the village committee is, and how far presence reaches.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    geofence_radius_m: Mapped[int | None] = mapped_column(Integer)

    parent: Mapped["Region | None"] = relationship(remote_side=[id])

    @property
    def prefix(self):
        """Every region in this one's subtree has a code starting with this prefix."""
        return code_prefix(self.code, self.level)

    @property
    def parent_code(self):
        return self.parent.code if self.parent else None
