import marshmallow as ma
from marshmallow import validate

from schemas.common import Phone
from schemas.postings import PostingSchema
from schemas.users import UserSchema

DEVICE_ID = validate.Length(1, 100)


class LoginSchema(ma.Schema):
    phone = Phone(required=True)
    password = ma.fields.String(required=True, load_only=True, validate=validate.Length(1, 128))
    device_id = ma.fields.String(
        required=True, validate=DEVICE_ID, metadata={"description": "Stable id of the phone"}
    )


class RefreshSchema(ma.Schema):
    refresh_token = ma.fields.String(required=True, validate=validate.Length(1, 2000))


class TokenSchema(ma.Schema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer(required=True, metadata={"description": "Seconds"})
    refresh_expires_in = ma.fields.Integer(required=True, metadata={"description": "Seconds"})


class MeSchema(UserSchema):
    active_posting = ma.fields.Nested(
        PostingSchema, allow_none=True, metadata={"description": "The resident posting now"}
    )
    postings = ma.fields.List(
        ma.fields.Nested(PostingSchema), metadata={"description": "All active postings"}
    )
