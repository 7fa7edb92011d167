import marshmallow as ma
from marshmallow import validate

from schemas.common import DivisionCode, Id, check_position_pair, latitude, longitude, name_field


class HouseholdSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    village_code = DivisionCode(required=True)
    code = ma.fields.String(required=True, validate=validate.Length(1, 40))
    head_name = name_field(required=True, metadata={"description": "Head of household"})
    latitude = latitude(allow_none=True)
    longitude = longitude(allow_none=True)
    cadre_ids = ma.fields.List(
        Id(),
        load_default=list,
        validate=validate.Length(max=10),
        metadata={"description": "Paired aid cadres"},
    )

    @ma.validates_schema
    def position_pair(self, data, **kwargs):
        check_position_pair(data)


class HouseholdUpdateSchema(HouseholdSchema):
    class Meta:
        exclude = ("village_code",)


class HouseholdQuerySchema(ma.Schema):
    cadre_id = Id()
    within = DivisionCode(metadata={"description": "Villages in this subtree"})
