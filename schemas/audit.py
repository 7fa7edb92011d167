import marshmallow as ma
from marshmallow import validate

from schemas.common import Id


class AuditEventSchema(ma.Schema):
    seq = ma.fields.Integer()
    at = ma.fields.AwareDateTime()
    actor_id = ma.fields.Integer(allow_none=True)
    action = ma.fields.String()
    object_type = ma.fields.String()
    object_id = ma.fields.String(allow_none=True)
    summary = ma.fields.Dict()
    request_id = ma.fields.String(allow_none=True)
    prev_hash = ma.fields.String()
    hash = ma.fields.String()


class AuditQuerySchema(ma.Schema):
    action = ma.fields.String(validate=validate.Length(1, 60))
    object_type = ma.fields.String(validate=validate.Length(1, 40))
    object_id = ma.fields.String(validate=validate.Length(1, 64))
    actor_id = Id()


class AuditVerificationSchema(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    events = ma.fields.Integer(required=True)
    first_broken_seq = ma.fields.Integer(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    head_seq = ma.fields.Integer(metadata={"description": "Record this pair elsewhere"})
    head_hash = ma.fields.String()
