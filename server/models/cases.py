"""From evidence to decisions: recommendations, cases, the cadre's answers, decisions,
and what a recall leaves behind (a replacement the dispatching unit owes).

The system recommends; people decide. A recommendation never changes anything by
itself; a decision is a final record, and a correction is a new decision pointing at
the one it corrects.
"""

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.postings import Posting
from server.models.types import UTCDateTime, utcnow
from server.models.units import Unit
from server.models.users import User

# The escalation ladder (DOMAIN.md), mildest first, with the reward beside it.
MEASURES = (
    "commendation",
    "reminder",
    "talk",
    "circulated_criticism",
    "admonition",
    "recall",
)
DECISIONS = (*MEASURES, "dismissed")
CASE_STATUSES = ("open", "answered", "decided")


def _one_of(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Recommendation(db.Model):
    """What a rule proposes from evidence. `dedup_key` (rule, posting, period) is unique:
    running the rules again over the same evidence adds nothing."""

    __tablename__ = "recommendation"
    __table_args__ = (
        CheckConstraint(_one_of("measure", MEASURES), name="measure"),
        CheckConstraint(_one_of("status", ("open", "case_opened", "set_aside")), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("posting.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40), index=True)
    measure: Mapped[str] = mapped_column(String(30))
    # What the rule looked at: a month (YYYY-MM), a year (YYYY), or one finding.
    period: Mapped[str] = mapped_column(String(20))
    dedup_key: Mapped[str] = mapped_column(String(120), unique=True)
    # SHA-256 of the rule settings in force (and the policy versions they came from).
    rule_version: Mapped[str] = mapped_column(String(64))
    rule_settings: Mapped[dict] = mapped_column(JSON)
    # The exact rows behind it: [{"type": "ledger_month"|"finding"|"checkin"|"photo"|
    # "leave"|"month_closure", "id": ..., ...}].
    evidence: Mapped[list] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    posting: Mapped[Posting] = relationship()


class Case(db.Model):
    """A matter against (or in favour of) one posting, from opening to decision."""

    __tablename__ = "case_file"  # "case" is an SQL keyword
    __table_args__ = (
        CheckConstraint(_one_of("status", CASE_STATUSES), name="status"),
        CheckConstraint(_one_of("proposed_measure", MEASURES), name="proposed_measure"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("posting.id"), index=True)
    cadre_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    recommendation_id: Mapped[int | None] = mapped_column(
        ForeignKey("recommendation.id"), unique=True
    )
    proposed_measure: Mapped[str] = mapped_column(String(30))
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list] = mapped_column(JSON)
    # Which level must decide (the policy's decision levels, by measure).
    decision_level: Mapped[str] = mapped_column(String(10))
    answer_deadline: Mapped[date] = mapped_column(db.Date)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    posting: Mapped[Posting] = relationship()
    cadre: Mapped[User] = relationship(foreign_keys=[cadre_id])
    opened_by: Mapped[User] = relationship(foreign_keys=[opened_by_id])
    recommendation: Mapped[Recommendation | None] = relationship()
    answers: Mapped[list["CaseAnswer"]] = relationship(
        back_populates="case", order_by="CaseAnswer.id"
    )
    decisions: Mapped[list["CaseDecision"]] = relationship(
        back_populates="case", order_by="CaseDecision.id"
    )


class CaseAnswer(db.Model):
    """The cadre's explanation or appeal, with attachments; never edited."""

    __tablename__ = "case_answer"
    __table_args__ = (CheckConstraint("kind IN ('explanation', 'appeal')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # After the deadline: kept and shown, and marked.
    late: Mapped[bool] = mapped_column(Boolean, default=False)

    case: Mapped[Case] = relationship(back_populates="answers")
    attachments: Mapped[list["CaseAttachment"]] = relationship(
        back_populates="answer", order_by="CaseAttachment.id"
    )


class CaseAttachment(db.Model):
    """A file the cadre attached to an answer, kept byte for byte in the evidence store
    under its SHA-256, like photos."""

    __tablename__ = "case_attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("case_answer.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    mime_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)

    answer: Mapped[CaseAnswer] = relationship(back_populates="attachments")


class CaseDecision(db.Model):
    """A final decision with its written reason. A correction is a new decision that
    names the one it corrects (`corrects_id`); the old one stays."""

    __tablename__ = "case_decision"
    __table_args__ = (CheckConstraint(_one_of("measure", DECISIONS), name="measure"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), index=True)
    measure: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("case_decision.id"), unique=True)
    # A recall may bar promotion for a time, if the policy says so.
    promotion_barred_until: Mapped[date | None] = mapped_column(db.Date)

    case: Mapped[Case] = relationship(back_populates="decisions")
    decided_by: Mapped[User] = relationship()


class ReplacementObligation(db.Model):
    """A recall leaves the village short: the dispatching unit must send a replacement
    by the deadline."""

    __tablename__ = "replacement_obligation"
    __table_args__ = (CheckConstraint("status IN ('open', 'fulfilled')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    recalled_posting_id: Mapped[int] = mapped_column(ForeignKey("posting.id"), unique=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("case_decision.id"))
    deadline: Mapped[date] = mapped_column(db.Date)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    replacement_posting_id: Mapped[int | None] = mapped_column(ForeignKey("posting.id"))
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship()
    recalled_posting: Mapped[Posting] = relationship(foreign_keys=[recalled_posting_id])
    replacement_posting: Mapped[Posting | None] = relationship(
        foreign_keys=[replacement_posting_id]
    )


class Rectification(db.Model):
    """One step of a problem's rectification trail (整改台账): started, submitted with
    evidence, verified, or reopened; with who, when and what they said."""

    __tablename__ = "rectification"
    __table_args__ = (
        CheckConstraint("action IN ('start', 'submit', 'verify', 'reopen')", name="action"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    action: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User] = relationship()
    # A submission's evidence photos: Photo rows through the same ingestion as
    # check-in photos (hashes, EXIF, perceptual hash, the same store).
    photos: Mapped[list["Photo"]] = relationship(order_by="Photo.position")  # noqa: F821
