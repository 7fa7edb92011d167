"""Administrative divisions: created by admins, validated against the official code scheme."""

from server import auth
from server.errors import Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import Region
from server.models.regions import (
    DEFAULT_GEOFENCE_M,
    LEVEL_DIGITS,
    LEVELS,
    level_of_code,
    subtree_prefix,
)
from server.services import audit


def list_(*, actor, level=None, parent=None, within=None, q=None):
    stmt = auth.scoped(db.select(Region), Region, actor)
    if level:
        stmt = stmt.where(Region.level == level)
    if parent:
        parent_region = db.session.execute(
            db.select(Region).where(Region.code == parent)
        ).scalar_one_or_none()
        stmt = stmt.where(Region.parent_id == (parent_region.id if parent_region else -1))
    if within:
        stmt = stmt.where(Region.id.in_(auth.subtree_ids(subtree_prefix(within))))
    if q:
        stmt = stmt.where(Region.name.contains(q, autoescape=True))
    return stmt.order_by(Region.code)


def get(*, actor, region_id):
    return auth.get_visible(Region, region_id, actor)


def parent_code_of(code, level):
    """The code of the level above, e.g. a village's township: 340421100201 -> 340421100000."""
    above = LEVELS[LEVELS.index(level) - 1]
    digits = LEVEL_DIGITS[above]
    return code[:digits] + "0" * (12 - digits)


def _bad_code(message, message_zh):
    return Invalid("invalid_division_code", message, message_zh, errors={"code": [message]})


def create(*, actor, code, name, level=None, latitude=None, longitude=None, geofence_radius_m=None):
    _require_admin(actor)
    try:
        actual_level = level_of_code(code)
    except ValueError:
        raise _bad_code(
            f"{code} is not a valid division code.", f"{code} 不是有效的区划代码。"
        ) from None
    if level is not None and level != actual_level:
        raise _bad_code(
            f"Code {code} denotes a {actual_level}, not a {level}.",
            f"区划代码 {code} 对应的层级与 {level} 不符。",
        )
    parent = None
    if actual_level != "province":
        parent_code = parent_code_of(code, actual_level)
        parent = db.session.execute(
            db.select(Region).where(Region.code == parent_code)
        ).scalar_one_or_none()
        if parent is None:
            raise _bad_code(
                f"The parent region {parent_code} does not exist yet.",
                f"上级区划 {parent_code} 尚不存在。",
            )
    if db.session.execute(db.select(Region.id).where(Region.code == code)).first():
        raise Conflict("region_exists", f"Region {code} already exists.", f"区划 {code} 已存在。")
    if actual_level != "village" and (latitude is not None or geofence_radius_m is not None):
        raise Invalid(
            "position_only_for_villages",
            "Only villages carry a post position and geofence.",
            "只有村级区划才有驻村位置和电子围栏。",
        )
    region = Region(
        code=code,
        name=name,
        level=actual_level,
        parent=parent,
        latitude=latitude,
        longitude=longitude,
        geofence_radius_m=geofence_radius_m
        if geofence_radius_m is not None
        else (DEFAULT_GEOFENCE_M if actual_level == "village" else None),
    )
    db.session.add(region)
    db.session.flush()
    audit.record("region.create", region, actor=actor, summary={"code": code, "name": name})
    db.session.commit()
    return region


def update(*, actor, region_id, **data):
    _require_admin(actor)
    region = auth.get_visible(Region, region_id, actor)
    if region.level != "village" and any(
        data.get(k) is not None for k in ("latitude", "longitude", "geofence_radius_m")
    ):
        raise Invalid(
            "position_only_for_villages",
            "Only villages carry a post position and geofence.",
            "只有村级区划才有驻村位置和电子围栏。",
        )
    if region.level == "village" and "geofence_radius_m" in data:
        data["geofence_radius_m"] = data["geofence_radius_m"] or DEFAULT_GEOFENCE_M
    diff = audit.changes(region, data)
    for key, value in data.items():
        setattr(region, key, value)
    audit.record("region.update", region, actor=actor, summary=diff)
    db.session.commit()
    return region


def _require_admin(actor):
    if not actor.has_role("admin"):
        raise Forbidden(
            "role_required", "Only administrators manage regions.", "只有管理员可以维护区划。"
        )
