"""Households paired with aid cadres."""

from server import auth
from server.errors import Conflict
from server.extensions import db
from server.models import Household, household_cadre
from server.models.regions import subtree_prefix
from server.services import audit
from server.services.lookups import cadre_by_id, region_by_code


def list_(*, actor, cadre_id=None, within=None):
    stmt = auth.scoped(db.select(Household), Household, actor)
    if cadre_id is not None:
        paired = db.select(household_cadre.c.household_id).where(
            household_cadre.c.cadre_id == cadre_id
        )
        stmt = stmt.where(Household.id.in_(paired))
    if within:
        stmt = stmt.where(Household.village_id.in_(auth.subtree_ids(subtree_prefix(within))))
    return stmt.order_by(Household.id)


def get(*, actor, household_id):
    return auth.get_visible(Household, household_id, actor)


def _check_code_free(village_id, code, household_id=None):
    stmt = db.select(Household.id).where(Household.village_id == village_id, Household.code == code)
    if household_id is not None:
        stmt = stmt.where(Household.id != household_id)
    if db.session.execute(stmt).first():
        raise Conflict(
            "household_exists",
            f"The village already has a household with code {code}.",
            f"该村已有编号为 {code} 的农户。",
        )


def _cadres(ids, actor):
    return [cadre_by_id(i, "cadre_ids", actor=actor) for i in dict.fromkeys(ids)]


def create(*, actor, village_code, code, head_name, latitude=None, longitude=None, cadre_ids=()):
    village = region_by_code(village_code, "village_code", level="village")
    auth.ensure_manages(actor, village)
    _check_code_free(village.id, code)
    household = Household(
        village=village,
        code=code,
        head_name=head_name,
        latitude=latitude,
        longitude=longitude,
        cadres=_cadres(cadre_ids, actor),
    )
    db.session.add(household)
    db.session.flush()
    audit.record(
        "household.create",
        household,
        actor=actor,
        summary={"village": village_code, "code": code, "cadre_ids": household.cadre_ids},
    )
    db.session.commit()
    return household


def update(*, actor, household_id, **data):
    household = auth.get_visible(Household, household_id, actor)
    auth.ensure_manages(actor, household.village)
    if "code" in data:
        _check_code_free(household.village_id, data["code"], household.id)
    diff = audit.changes(household, data)
    if "cadre_ids" in data:
        household.cadres = _cadres(data.pop("cadre_ids"), actor)
    for key, value in data.items():
        setattr(household, key, value)
    audit.record("household.update", household, actor=actor, summary=diff)
    db.session.commit()
    return household
