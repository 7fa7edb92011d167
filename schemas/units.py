import marshmallow as ma
from marshmallow import validate

from schemas.common import DivisionCode, ListQuery
from server.models.units import UNIT_LEVELS


class UnitSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True, validate=validate.Length(1, 200))
    level = ma.fields.String(required=True, validate=validate.OneOf(UNIT_LEVELS))
    region_code = DivisionCode(required=True, metadata={"description": "Home region"})


class UnitUpdateSchema(UnitSchema):
    pass


class UnitQuerySchema(ListQuery):
    level = ma.fields.String(validate=validate.OneOf(UNIT_LEVELS))
    within = DivisionCode(metadata={"description": "Units whose home region is in this subtree"})
