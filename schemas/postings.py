import marshmallow as ma
from marshmallow import validate

from schemas.common import DivisionCode, Id, day
from server.models.postings import POSTING_ROLES, POSTING_STATUSES


class PostingSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    cadre_id = Id(required=True)
    cadre_name = ma.fields.String(dump_only=True, attribute="cadre.name")
    village_code = DivisionCode(required=True)
    village_name = ma.fields.String(dump_only=True, attribute="village.name")
    unit_id = Id(required=True, metadata={"description": "Dispatching unit"})
    unit_name = ma.fields.String(dump_only=True, attribute="unit.name")
    role = ma.fields.String(required=True, validate=validate.OneOf(POSTING_ROLES))
    start_date = day(required=True)
    end_date = day(allow_none=True)
    status = ma.fields.String(
        load_default="active",
        validate=validate.OneOf(("active", "ended")),
        metadata={
            "description": "One of active, ended; `recalled` is set only by a recall decision",
            "enum": list(POSTING_STATUSES),
        },
    )
    is_resident = ma.fields.Boolean(dump_only=True)

    @ma.validates_schema
    def dates_in_order(self, data, **kwargs):
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            raise ma.ValidationError("Must not be before start_date.", "end_date")


class PostingUpdateSchema(PostingSchema):
    status = ma.fields.String(validate=validate.OneOf(("active", "ended")))

    class Meta:
        exclude = ("cadre_id", "village_code")


class PostingQuerySchema(ma.Schema):
    cadre_id = Id()
    unit_id = Id()
    status = ma.fields.String(validate=validate.OneOf(POSTING_STATUSES))
    role = ma.fields.String(validate=validate.OneOf(POSTING_ROLES))
    within = DivisionCode(metadata={"description": "Villages in this subtree"})
