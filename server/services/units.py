"""Dispatching units."""

from server import auth
from server.errors import Conflict
from server.extensions import db
from server.models import Unit
from server.models.regions import subtree_prefix
from server.services import audit
from server.services.lookups import region_by_code


def list_(*, actor, level=None, within=None, q=None):
    stmt = auth.scoped(db.select(Unit), Unit, actor)
    if level:
        stmt = stmt.where(Unit.level == level)
    if within:
        stmt = stmt.where(Unit.region_id.in_(auth.subtree_ids(subtree_prefix(within))))
    if q:
        stmt = stmt.where(Unit.name.contains(q, autoescape=True))
    return stmt.order_by(Unit.id)


def get(*, actor, unit_id):
    return auth.get_visible(Unit, unit_id, actor)


def _check_name_free(name, unit_id=None):
    stmt = db.select(Unit.id).where(Unit.name == name)
    if unit_id is not None:
        stmt = stmt.where(Unit.id != unit_id)
    if db.session.execute(stmt).first():
        raise Conflict("unit_exists", f"A unit named {name} exists.", f"单位“{name}”已存在。")


def create(*, actor, name, level, region_code):
    region = region_by_code(region_code, "region_code")
    auth.ensure_manages(actor, region)
    _check_name_free(name)
    unit = Unit(name=name, level=level, region=region)
    db.session.add(unit)
    db.session.flush()
    audit.record("unit.create", unit, actor=actor, summary={"name": name, "region": region_code})
    db.session.commit()
    return unit


def update(*, actor, unit_id, **data):
    unit = auth.get_visible(Unit, unit_id, actor)
    auth.ensure_manages(actor, unit.region)
    if "region_code" in data:
        region = region_by_code(data.pop("region_code"), "region_code")
        auth.ensure_manages(actor, region)
        data["region"] = region
    if "name" in data:
        _check_name_free(data["name"], unit.id)
    diff = audit.changes(unit, {k: v for k, v in data.items() if k != "region"})
    if "region" in data and data["region"] is not unit.region:
        diff["region_code"] = [unit.region.code, data["region"].code]
    for key, value in data.items():
        setattr(unit, key, value)
    audit.record("unit.update", unit, actor=actor, summary=diff)
    db.session.commit()
    return unit
