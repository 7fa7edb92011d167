"""People who log in, their roles, their devices and their log-in sessions."""

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.regions import Region
from server.models.types import UTCDateTime, utcnow
from server.models.units import Unit

ROLES = ("cadre", "inspector", "reviewer", "admin")


class User(db.Model):
    __tablename__ = "user_account"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    # None until a password is set: imported cadres cannot log in before that.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The subtree a reviewer or inspector works in.
    jurisdiction_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    # Where the person comes from; inspections must not send them home (recusal).
    home_region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    jurisdiction: Mapped[Region | None] = relationship(foreign_keys=[jurisdiction_id])
    home_region: Mapped[Region | None] = relationship(foreign_keys=[home_region_id])
    unit: Mapped[Unit | None] = relationship()
    role_rows: Mapped[list["UserRole"]] = relationship(
        cascade="all, delete-orphan", order_by="UserRole.role"
    )

    @property
    def roles(self):
        return sorted(r.role for r in self.role_rows)

    @roles.setter
    def roles(self, values):
        wanted = set(values)
        self.role_rows = [r for r in self.role_rows if r.role in wanted] + [
            UserRole(role=role) for role in sorted(wanted - {r.role for r in self.role_rows})
        ]

    @property
    def has_password(self):
        return self.password_hash is not None

    def has_role(self, *roles):
        return any(r.role in roles for r in self.role_rows)

    @property
    def jurisdiction_code(self):
        return self.jurisdiction.code if self.jurisdiction else None

    @property
    def home_region_code(self):
        return self.home_region.code if self.home_region else None


class UserRole(db.Model):
    __tablename__ = "user_role"
    __table_args__ = (
        CheckConstraint("role IN ('cadre', 'inspector', 'reviewer', 'admin')", name="role"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(10), primary_key=True, index=True)


class Device(db.Model):
    """A phone or browser a user logged in from (checked later for shared devices)."""

    __tablename__ = "device"
    __table_args__ = (UniqueConstraint("user_id", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(100), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthSession(db.Model):
    """One log-in: the family of rotating refresh tokens, revoked as a whole."""

    __tablename__ = "auth_session"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(30))


class RefreshToken(db.Model):
    __tablename__ = "refresh_token"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("auth_session.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginLockout(db.Model):
    """Failed log-ins for one phone number and the lock-out they earned.

    Keyed by the number typed, known or not, so an unknown phone is counted and locked
    exactly like a real one. In the database rather than in a process, so every app
    server sees the same count."""

    __tablename__ = "login_lockout"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    # Failures since the last lock-out (or since the last quiet spell).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # Lock-outs in a row: each one doubles the next.
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
