"""The review queue: open flags in the reviewer's scope, most severe and oldest first,
each with the evidence a person needs to decide (DESIGN.md, "Fair by construction": a
flag never punishes by itself, it puts a check-in in front of a reviewer)."""

from dataclasses import dataclass, field
from datetime import date

from flask import g, has_app_context
from sqlalchemy import case
from sqlalchemy.orm import selectinload

from server import auth
from server.extensions import db
from server.models import Checkin, Flag, Photo, User
from server.models.checkins import ARRIVAL, SEVERITIES
from server.models.regions import subtree_prefix

# critical first: the rank is the position in SEVERITIES read backwards.
SEVERITY_RANK = case(
    {severity: rank for rank, severity in enumerate(reversed(SEVERITIES))}, value=Flag.severity
)
# What a reuse match names that belongs to someone else's check-in.
EARLIER_KEYS = ("earlier_checkin_id", "earlier_photo_id")


def _evidence():
    """What is shown of a check-in, loaded for a whole page at once (not row by row)."""
    return (
        selectinload(Checkin.photos),
        selectinload(Checkin.cadre),
        selectinload(Checkin.village),
    )


def list_(
    *, actor, status="open", severity=None, code=None, region_code=None, posting_id=None, month=None
):
    # Arrivals are the inspectors' own records, never attendance: nothing to decide.
    stmt = db.select(Flag).join(Flag.checkin).where(Checkin.kind != ARRIVAL)
    stmt = auth.scoped(stmt, Flag, actor)
    if status:
        stmt = stmt.where(Flag.status == status)
    if severity:
        stmt = stmt.where(Flag.severity == severity)
    if code:
        stmt = stmt.where(Flag.code == code)
    if region_code:
        subtree = auth.subtree_ids(subtree_prefix(region_code))
        stmt = stmt.where(Checkin.village_id.in_(subtree))
    if posting_id is not None:
        stmt = stmt.where(Checkin.posting_id == posting_id)
    if month:
        first, after = month_bounds(month)
        stmt = stmt.where(Checkin.local_date >= first, Checkin.local_date < after)
    return stmt.options(selectinload(Flag.checkin).options(*_evidence())).order_by(
        SEVERITY_RANK, Flag.created_at, Flag.id
    )


def month_bounds(month):
    """'2026-03' -> (2026-03-01, 2026-04-01)."""
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    return first, date(year + number // 12, number % 12 + 1, 1)


@dataclass
class ReuseMatch:
    photo_sha256: str
    match: str
    hamming_distance: int
    # Set only when the caller may see the earlier check-in; otherwise all they learn is
    # that the picture was used before, somewhere outside their scope.
    earlier_checkin: Checkin | None = None
    earlier_photo: Photo | None = None

    @property
    def earlier_visible(self):
        return self.earlier_checkin is not None


@dataclass
class FlagCase:
    flag: Flag
    details: dict
    reused_from: list = field(default_factory=list)

    def __getattr__(self, name):
        # id, code, severity, status, created_at, checkin: the flag's own.
        return getattr(self.flag, name)


def cases(*, actor, flags):
    """One page of flags with their reuse links resolved: the earlier check-ins the
    caller may see are loaded in one query for the whole page."""
    wanted = {
        m["earlier_checkin_id"]
        for flag in flags
        if flag.code == "photo_reused"
        for m in _matches(flag.details)
    }
    # repeated_position names the first check-in from the spot, whoever made it.
    wanted |= {flag.details.get("earlier_checkin_id") for flag in flags} - {None}
    visible = {}
    if wanted:
        stmt = auth.scoped(db.select(Checkin).where(Checkin.id.in_(wanted)), Checkin, actor)
        loaded = db.session.execute(stmt.options(*_evidence())).scalars()
        visible = {c.id: c for c in loaded}
    seen = _seen(actor, [flag.details for flag in flags])
    return [_case(flag, visible, seen) for flag in flags]


def _matches(details):
    # One per photo of the check-in that matched; the first is repeated at the top level.
    return details.get("matches", [])


def _case(flag, visible, seen):
    if flag.code != "photo_reused":
        return FlagCase(flag, _hide_others(_redact(flag.details, set(visible)), *seen))
    reused = []
    for m in _matches(flag.details):
        earlier = visible.get(m["earlier_checkin_id"])
        photos = earlier.photos if earlier is not None else []
        photo = next((p for p in photos if p.id == m["earlier_photo_id"]), None)
        reused.append(
            ReuseMatch(m["photo_sha256"], m["match"], m["hamming_distance"], earlier, photo)
        )
    return FlagCase(flag, _hide_others(_redact(flag.details, set(visible)), *seen), reused)


def _redact(details, visible_ids):
    """The details without the ids of earlier check-ins the caller may not see."""

    def clean(item):
        if item.get("earlier_checkin_id") in visible_ids:
            return dict(item)
        return {k: v for k, v in item.items() if k not in EARLIER_KEYS}

    redacted = clean(details)
    if "matches" in details:
        redacted["matches"] = [clean(m) for m in details["matches"]]
    return redacted


def _visible(model, ids, actor):
    """Which of `ids` `actor` may see. Remembered for the request: a page of check-ins
    asks once for all its flags (prefetch_visibility), not once per flag."""
    ids = set(ids)
    if not ids:
        return set()
    if not has_app_context():
        return _ask_visible(model, ids, actor)
    # Keyed by the request too: an app context can outlive a request (tests, commands).
    key = (g.get("request_id"), model.__name__, actor.id)
    asked, visible = g.setdefault("visible_ids", {}).setdefault(key, (set(), set()))
    missing = ids - asked
    if missing:
        visible |= _ask_visible(model, missing, actor)
        asked |= missing
    return visible & ids


def _ask_visible(model, ids, actor):
    stmt = auth.scoped(db.select(model.id).where(model.id.in_(ids)), model, actor)
    return set(db.session.execute(stmt).scalars())


def prefetch_visibility(details_list, actor):
    """Ask in two queries which check-ins and people a page of flags names that `actor`
    may see; visible_details then answers each flag from what this found."""
    named = {d.get("other_checkin_id") for d in details_list}
    for details in details_list:
        named |= {m.get("earlier_checkin_id") for m in (details, *_matches(details))}
    _visible(Checkin, named - {None}, actor)
    _seen(actor, details_list)  # the people named; their check-ins are known by now


def _seen(actor, details_list):
    """(check-in ids, user ids): which of the other check-ins and people these details
    name (a neighbour in time, a phone's other users) the actor may see."""
    checkins, users = set(), set()
    for details in details_list:
        if details.get("other_checkin_id") is not None:
            checkins.add(details["other_checkin_id"])
        users.update(details.get("other_cadre_ids") or ())
    return _visible(Checkin, checkins, actor), _visible(User, users, actor)


def _hide_others(details, checkins, users):
    """The details without the other check-in or people outside the caller's scope: a
    reviewer learns that a phone was someone else's too, not whose in another county."""
    shown = dict(details)
    if shown.get("other_checkin_id") is not None and shown["other_checkin_id"] not in checkins:
        del shown["other_checkin_id"]
    if "other_cadre_ids" in shown:
        shown["other_cadre_ids"] = [i for i in shown["other_cadre_ids"] if i in users]
    return shown


def hide_others(details, actor):
    """The details without the other check-in or people `actor` may not see."""
    return _hide_others(details, *_seen(actor, [details]))


def visible_details(details, actor):
    """One flag's details as `actor` may see them (a check-in's flags, for reviewers)."""
    earlier = {m.get("earlier_checkin_id") for m in (details, *_matches(details))} - {None}
    return hide_others(_redact(details, _visible(Checkin, earlier, actor)), actor)
