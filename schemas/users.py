import marshmallow as ma
from marshmallow import validate

from schemas.common import DivisionCode, Id, ListQuery, Phone, name_field
from server.models.users import ROLES


def validate_password(value):
    if len(value) < 8 or value.isdigit() or value.isalpha():
        raise ma.ValidationError("At least 8 characters, with letters and digits.")


class UserSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = name_field(required=True)
    phone = Phone(required=True)
    password = ma.fields.String(
        load_only=True,
        validate=[validate.Length(max=128), validate_password],
        metadata={"description": "Optional: without one the user cannot log in yet."},
    )
    roles = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(ROLES)),
        required=True,
        validate=validate.Length(min=1),
    )
    active = ma.fields.Boolean(load_default=True)
    jurisdiction_code = DivisionCode(
        allow_none=True, metadata={"description": "Reviewers and inspectors: their subtree"}
    )
    unit_id = Id(allow_none=True, metadata={"description": "Home unit"})
    home_region_code = DivisionCode(
        allow_none=True, metadata={"description": "Home township or county, for recusal"}
    )
    has_password = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)


class UserUpdateSchema(UserSchema):
    active = ma.fields.Boolean()


class UserQuerySchema(ListQuery):
    role = ma.fields.String(validate=validate.OneOf(ROLES))
    active = ma.fields.Boolean()
    unit_id = Id()
    within = DivisionCode(metadata={"description": "Jurisdiction in this subtree"})
