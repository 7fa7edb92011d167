import marshmallow as ma


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
    action = ma.fields.String()
    object_type = ma.fields.String()
    object_id = ma.fields.String()
    actor_id = ma.fields.Integer()


class AuditVerificationSchema(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    events = ma.fields.Integer(required=True)
    first_broken_seq = ma.fields.Integer(allow_none=True)
    reason = ma.fields.String(allow_none=True)
