"""Resolving references in payloads (codes, ids) into rows, with field-level errors."""

from server.errors import Invalid
from server.extensions import db
from server.models import Region, Unit, User


def region_by_code(code, field, *, level=None):
    region = db.session.execute(db.select(Region).where(Region.code == code)).scalar_one_or_none()
    if region is None:
        raise Invalid(
            "region_not_found",
            f"No region with code {code}.",
            f"区划代码 {code} 不存在。",
            errors={field: [f"No region with code {code}."]},
        )
    if level is not None and region.level != level:
        raise Invalid(
            f"not_a_{level}",
            f"{code} is a {region.level}, not a {level}.",
            f"{code} 不是{_LEVEL_ZH[level]}级区划。",
            errors={field: [f"Must be a {level}."]},
        )
    return region


def optional_region(code, field):
    return None if code is None else region_by_code(code, field)


def unit_by_id(unit_id, field="unit_id"):
    unit = db.session.get(Unit, unit_id) if unit_id is not None else None
    if unit is None:
        raise Invalid(
            "unit_not_found", "No such unit.", "选派单位不存在。", errors={field: ["No such unit."]}
        )
    return unit


def cadre_by_id(user_id, field="cadre_id", *, actor=None):
    """A cadre the actor may post or pair. Someone outside the actor's reach is
    answered exactly like someone who does not exist."""
    from server import auth

    user = db.session.get(User, user_id)
    if (
        user is None
        or not user.has_role("cadre")
        or (actor is not None and not auth.manages_user(actor, user))
    ):
        raise Invalid(
            "cadre_not_found",
            f"No cadre with id {user_id}.",
            f"干部 {user_id} 不存在。",
            errors={field: [f"No cadre with id {user_id}."]},
        )
    if not user.active:
        raise Invalid(
            "cadre_inactive",
            f"Cadre {user_id} is deactivated.",
            f"干部 {user_id} 的账号已停用。",
            errors={field: [f"Cadre {user_id} is deactivated."]},
        )
    return user


_LEVEL_ZH = {
    "province": "省",
    "city": "市",
    "county": "县",
    "township": "乡镇",
    "village": "村",
}
