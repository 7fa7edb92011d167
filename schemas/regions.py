import marshmallow as ma
from marshmallow import validate

from schemas.common import DivisionCode, ListQuery, check_position_pair, latitude, longitude
from server.models.regions import LEVELS


class RegionSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    code = DivisionCode(required=True)
    name = ma.fields.String(required=True, validate=validate.Length(1, 100))
    level = ma.fields.String(
        validate=validate.OneOf(LEVELS),
        metadata={"description": "Optional on create: the code determines it."},
    )
    parent_code = ma.fields.String(dump_only=True, allow_none=True)
    latitude = latitude(allow_none=True, metadata={"description": "Village post, WGS-84"})
    longitude = longitude(allow_none=True, metadata={"description": "Village post, WGS-84"})
    geofence_radius_m = ma.fields.Integer(
        allow_none=True,
        validate=validate.Range(50, 20000),
        metadata={"description": "Villages only; default 1000"},
    )

    @ma.validates_schema
    def position_pair(self, data, **kwargs):
        check_position_pair(data)


class RegionUpdateSchema(RegionSchema):
    class Meta:
        exclude = ("code", "level")


class RegionQuerySchema(ListQuery):
    level = ma.fields.String(validate=validate.OneOf(LEVELS))
    parent = DivisionCode(metadata={"description": "Direct children of this region"})
    within = DivisionCode(metadata={"description": "The whole subtree of this region"})
