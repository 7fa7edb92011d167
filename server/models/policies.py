"""Per-jurisdiction policies, versioned with effective dates, and the working-day calendar."""

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.regions import Region
from server.models.types import UTCDateTime, utcnow
from server.models.users import User


class Policy(db.Model):
    """One version of a jurisdiction's rules: only the settings it changes.

    The policy in force in a village on a day merges the defaults with, from the
    province down to the village, each level's latest version effective on that day.
    Versions are never edited: a correction is a new version (a higher `version` for the
    same date wins)."""

    __tablename__ = "policy"
    __table_args__ = (UniqueConstraint("region_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(db.Date, index=True)
    rules: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    region: Mapped[Region] = relationship()
    created_by: Mapped[User] = relationship()


class CalendarDay(db.Model):
    """An administrator's entry for one day: a holiday, a make-up working day, or a
    local change. Overrides what `chinesecalendar` says for the years it knows."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(db.Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(50))
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CalendarYear(db.Model):
    """An administrator's statement that a year's holidays have been entered: days of the
    year without an entry then follow the weekday rule. A year neither here nor known to
    `chinesecalendar` has no calendar, and asking for it is an explicit error."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    note: Mapped[str | None] = mapped_column(String(200))
    published_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
