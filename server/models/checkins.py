"""Check-ins, their evidence photos and the flags verification raised on them."""

from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.households import Household
from server.models.postings import Posting
from server.models.regions import Region
from server.models.types import UTCDateTime, utcnow
from server.models.users import User

CHECKIN_KINDS = ("presence", "household_visit", "departure")
# An inspector's arrival at a drawn village: same evidence pipeline, never attendance.
ARRIVAL = "inspection_arrival"
VERDICTS = ("accepted", "flagged", "rejected")
SEVERITIES = ("low", "medium", "high", "critical")
MAX_PHOTOS = 3


class Checkin(db.Model):
    __tablename__ = "checkin"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('presence', 'household_visit', 'departure', 'inspection_arrival')",
            name="kind",
        ),
        CheckConstraint("verdict IN ('accepted', 'flagged', 'rejected')", name="verdict"),
        # Every check-in asks for the cadre's nearest check-ins in time (travel) and
        # whether the device is theirs or shared (device): each a probe of one of these,
        # where single-column indexes walked the day's check-ins of everyone, or every
        # check-in of the cadre (migration 0010, BENCHMARKS.md).
        Index("ix_checkin_cadre_id_captured_at", "cadre_id", "captured_at"),
        Index("ix_checkin_device_id_cadre_id", "device_id", "cadre_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Made on the phone; unique, so a resend can never create a second row.
    client_id: Mapped[str] = mapped_column(String(36), unique=True)
    # SHA-256 of the submitted fields: an identical resend matches, a different one is a 409.
    content_hash: Mapped[str] = mapped_column(String(64))
    cadre_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    posting_id: Mapped[int] = mapped_column(ForeignKey("posting.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # Indexed for the repeated-position check (same coordinates on another day).
    # Always given on submission; NULL only once retention has purged the position.
    latitude: Mapped[float | None] = mapped_column(Float, index=True)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    altitude_m: Mapped[float | None] = mapped_column(Float)
    # The device clock, as the phone reported it (UTC here, with the offset it used).
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    captured_offset_min: Mapped[int] = mapped_column(Integer)
    # The local calendar day in the jurisdiction's time zone: what attendance counts.
    local_date: Mapped[date] = mapped_column(Date, index=True)
    # The local wall-clock time of the device time: the overnight counting rule reads it.
    local_time: Mapped[time] = mapped_column(Time)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    device_id: Mapped[str] = mapped_column(String(100))
    mock_location: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(500))
    verdict: Mapped[str] = mapped_column(String(10), index=True)
    # Distance from the village post (or the household) at submission, for lists and ledgers.
    distance_m: Mapped[float | None] = mapped_column(Float)
    # The latest reviewer decision (accepted/rejected), if any; the machine's verdict
    # above stays as it was. The decisions themselves are CheckinReview rows.
    review_decision: Mapped[str | None] = mapped_column(String(10))
    # When retention removed the position and the photos' bytes (services/retention.py);
    # the row, its verdict, flags and the photos' hashes stay.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def standing(self):
        """What attendance counts: a reviewer's decision overrides the machine's verdict."""
        return self.review_decision or self.verdict

    @property
    def captured_at_device(self):
        """The device time with the offset the phone used, as it was sent."""
        return self.captured_at.astimezone(timezone(timedelta(minutes=self.captured_offset_min)))

    @property
    def village_code(self):
        return self.village.code

    cadre: Mapped[User] = relationship()
    posting: Mapped[Posting] = relationship()
    village: Mapped[Region] = relationship()
    household: Mapped[Household | None] = relationship()
    photos: Mapped[list["Photo"]] = relationship(
        back_populates="checkin", order_by="Photo.position"
    )
    flags: Mapped[list["Flag"]] = relationship(back_populates="checkin", order_by="Flag.id")
    # Reviewers' decisions, oldest first (read-only here: reviews.decide writes them).
    reviews: Mapped[list["CheckinReview"]] = relationship(  # noqa: F821
        viewonly=True, order_by="CheckinReview.id"
    )


class Photo(db.Model):
    """An evidence image. The original bytes live in the evidence store under their
    SHA-256; the same bytes sent twice are stored once but recorded on each check-in."""

    __tablename__ = "photo"
    __table_args__ = (
        UniqueConstraint("checkin_id", "sha256"),
        UniqueConstraint("checkin_id", "position"),
        UniqueConstraint("rectification_id", "position"),
        CheckConstraint("(checkin_id IS NULL) <> (rectification_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A photo belongs to a check-in, or to a rectification submission (the problem
    # ledger's evidence); exactly one of the two.
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkin.id"), index=True)
    rectification_id: Mapped[int | None] = mapped_column(ForeignKey("rectification.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(10))
    mime_type: Mapped[str] = mapped_column(String(30))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # 64-bit perceptual hash: hex for people, signed integer for fast comparisons.
    phash: Mapped[str] = mapped_column(String(16))
    phash_int: Mapped[int] = mapped_column(BigInteger)
    exif_latitude: Mapped[float | None] = mapped_column(Float)
    exif_longitude: Mapped[float | None] = mapped_column(Float)
    # Capture time as written in the photo (local wall time), and its offset if it said.
    exif_taken_local: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=False))
    exif_offset: Mapped[str | None] = mapped_column(String(6))
    orientation: Mapped[int | None] = mapped_column(Integer)
    make: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # When retention removed the bytes (original and derived images) and the EXIF
    # position; the hashes stay, so the picture still counts for `photo_reused`.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    checkin: Mapped[Checkin | None] = relationship(back_populates="photos")

    @property
    def exif_taken_at(self):
        """ISO 8601 as the photo says: with its offset when it carries one."""
        if self.exif_taken_local is None:
            return None
        return self.exif_taken_local.isoformat() + (self.exif_offset or "")


class Flag(db.Model):
    __tablename__ = "flag"
    __table_args__ = (
        UniqueConstraint("checkin_id", "code"),
        CheckConstraint("severity IN ('low', 'medium', 'high', 'critical')", name="severity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("checkin.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    # The measured values behind the flag (distance, speed, EXIF position, earlier photo...).
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    # open until a reviewer decides the check-in: `upheld` when it is rejected,
    # `dismissed` when it is accepted despite the flag.
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    checkin: Mapped[Checkin] = relationship(back_populates="flags")
