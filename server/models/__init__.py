"""All models, imported here so Alembic and the app see the whole metadata."""

from server.models.attendance import CheckinReview, MonthClosure
from server.models.audit import AuditEvent
from server.models.cases import (
    Case,
    CaseAnswer,
    CaseAttachment,
    CaseDecision,
    Recommendation,
    Rectification,
    ReplacementObligation,
)
from server.models.checkins import Checkin, Flag, Photo
from server.models.draws import (
    Assignment,
    Challenge,
    DeclaredRelationship,
    Draw,
    assignment_inspector,
)
from server.models.findings import Finding, FindingSignature, Problem
from server.models.households import Household, household_cadre
from server.models.leaves import Leave
from server.models.policies import CalendarDay, CalendarYear, Policy
from server.models.postings import Posting
from server.models.regions import Region
from server.models.units import Unit
from server.models.users import AuthSession, Device, LoginLockout, RefreshToken, User, UserRole

__all__ = [
    "Case",
    "CaseAnswer",
    "CaseAttachment",
    "CaseDecision",
    "Recommendation",
    "Rectification",
    "ReplacementObligation",
    "CalendarDay",
    "CalendarYear",
    "CheckinReview",
    "Leave",
    "MonthClosure",
    "Policy",
    "Challenge",
    "Finding",
    "FindingSignature",
    "Problem",
    "Assignment",
    "DeclaredRelationship",
    "Draw",
    "assignment_inspector",
    "AuditEvent",
    "AuthSession",
    "Checkin",
    "Device",
    "Flag",
    "Household",
    "LoginLockout",
    "Photo",
    "Posting",
    "RefreshToken",
    "Region",
    "Unit",
    "User",
    "UserRole",
    "household_cadre",
]
