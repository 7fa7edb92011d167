"""The problem list and its rectification ledger: entering a problem, the steps of its
rectification, and what is shown back."""

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from schemas.checkins import PhotoSchema
from schemas.common import DivisionCode, Id, day
from schemas.findings import ProblemInSchema
from schemas.reviews import written
from server.services.problem_queries import LISTED, STATUSES
from server.services.problems import MAX_PHOTOS, TRANSITIONS


class ProblemCreateSchema(ProblemInSchema):
    village_code = DivisionCode(required=True, metadata={"description": "The village concerned"})
    posting_id = Id(metadata={"description": "The cadre's posting it concerns, in that village"})
    responsible_unit_id = Id(
        allow_none=True,
        metadata={"description": "Default: the posting's dispatching unit, if a posting is given"},
    )
    deadline = day(required=True, metadata={"description": "整改时限, a local date, not past"})


class StepNoteSchema(ma.Schema):
    note = written("What was done, or why: kept in the rectification ledger")


class RectificationPhotosSchema(ma.Schema):
    photos = ma.fields.List(
        Upload(),
        metadata={
            "description": f"1-{MAX_PHOTOS} photos of the result: JPEG, PNG, WebP or HEIC, "
            "20 MB each at most (repeat the field)"
        },
    )


class RectificationSchema(ma.Schema):
    id = ma.fields.Integer()
    action = ma.fields.String(metadata={"enum": list(TRANSITIONS)})
    note = ma.fields.String()
    actor_id = ma.fields.Integer()
    actor_name = ma.fields.String(attribute="actor.name")
    at = ma.fields.AwareDateTime()
    photos = ma.fields.List(
        ma.fields.Nested(PhotoSchema),
        metadata={"description": "Served by /api/v1/photos/{id}, like check-in photos"},
    )


class ProblemLineSchema(ma.Schema):
    id = ma.fields.Integer()
    finding_id = ma.fields.Integer(allow_none=True)
    posting_id = ma.fields.Integer(allow_none=True)
    village_code = ma.fields.String()
    village_name = ma.fields.String()
    township_name = ma.fields.String(allow_none=True)
    county_name = ma.fields.String(allow_none=True)
    category = ma.fields.String()
    description = ma.fields.String()
    responsible_unit_id = ma.fields.Integer(allow_none=True)
    responsible_unit_name = ma.fields.String(allow_none=True)
    responsible_person = ma.fields.String(allow_none=True)
    deadline = ma.fields.Date(allow_none=True)
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    overdue = ma.fields.Boolean(
        metadata={"description": "Deadline before today (local date) and not verified"}
    )
    source = ma.fields.String(
        metadata={"enum": ["inspection", "entered"], "description": "From a finding, or entered"}
    )
    found_at = ma.fields.AwareDateTime(
        metadata={"description": "When the team saw it, or when it was entered"}
    )
    created_at = ma.fields.AwareDateTime()


class ProblemDetailSchema(ProblemLineSchema):
    trail = ma.fields.List(
        ma.fields.Nested(RectificationSchema), metadata={"description": "Oldest step first"}
    )


class ProblemQuerySchema(ma.Schema):
    status = ma.fields.String(
        validate=validate.OneOf(STATUSES),
        metadata={"description": f"Default: any of {', '.join(LISTED)} (drafts only if asked)"},
    )
    region_code = DivisionCode(metadata={"description": "Villages in this subtree"})
    unit_id = Id(metadata={"description": "Responsible unit"})
    category = ma.fields.String(validate=validate.Length(1, 40))
    overdue = ma.fields.Boolean(
        metadata={"description": "true: past the deadline and not verified; false: the others"}
    )
    finding_id = Id()
    posting_id = Id()


class ProblemSummaryQuerySchema(ma.Schema):
    region_code = DivisionCode(metadata={"description": "Villages in this subtree"})
    by = ma.fields.String(load_default="unit", validate=validate.OneOf(("unit", "county")))


class ProblemSummarySchema(ma.Schema):
    key = ma.fields.Raw(metadata={"description": "Responsible unit id (or null), or county code"})
    name = ma.fields.String(allow_none=True)
    total = ma.fields.Integer()
    open = ma.fields.Integer()
    in_rectification = ma.fields.Integer()
    submitted = ma.fields.Integer()
    verified = ma.fields.Integer()
    reopened = ma.fields.Integer()
    overdue = ma.fields.Integer()
    verified_on_time = ma.fields.Integer(
        metadata={"description": "Verified, with the accepted submission made by the deadline"}
    )
