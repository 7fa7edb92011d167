"""Findings: what a team files on site, and what is shown back."""

import marshmallow as ma
from marshmallow import validate

from schemas.checkins import CheckinFieldsSchema
from schemas.common import Id, day, instant
from server.models.findings import FINDING_OUTCOMES


class ArrivalFieldsSchema(CheckinFieldsSchema):
    """An inspector's arrival: a check-in without kind or household (set by the server)."""

    class Meta:
        exclude = ("kind", "household_id", "challenge_id")


class ProblemInSchema(ma.Schema):
    category = ma.fields.String(required=True, validate=validate.Length(1, 40))
    description = ma.fields.String(required=True, validate=validate.Length(1, 5000))
    responsible_unit_id = Id(allow_none=True)
    responsible_person = ma.fields.String(allow_none=True, validate=validate.Length(1, 100))
    deadline = day(allow_none=True)


class FindingCreateSchema(ma.Schema):
    outcome = ma.fields.String(required=True, validate=validate.OneOf(FINDING_OUTCOMES))
    observed_at = instant(required=True, metadata={"description": "When the team saw it"})
    notes = ma.fields.String(
        validate=validate.Length(max=20000), metadata={"description": "Interview notes"}
    )
    arrival_checkin_id = Id(metadata={"description": "The team's arrival check-in"})
    problems = ma.fields.List(
        ma.fields.Nested(ProblemInSchema), load_default=list, validate=validate.Length(max=50)
    )
    amends_id = Id(metadata={"description": "The final finding this one corrects"})


class ProblemSchema(ProblemInSchema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    finding_id = ma.fields.Integer(allow_none=True)


class FindingSchema(ma.Schema):
    id = ma.fields.Integer()
    assignment_id = ma.fields.Integer()
    outcome = ma.fields.String()
    observed_at = ma.fields.AwareDateTime()
    notes = ma.fields.String(allow_none=True)
    arrival_checkin_id = ma.fields.Integer(allow_none=True)
    created_by_id = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()
    status = ma.fields.String(metadata={"description": "draft until every team member signs"})
    finalized_at = ma.fields.AwareDateTime(allow_none=True)
    amends_id = ma.fields.Integer(allow_none=True)
    signed_by = ma.fields.List(ma.fields.Integer())
    problems = ma.fields.List(ma.fields.Nested(ProblemSchema))


class FindingQuerySchema(ma.Schema):
    assignment_id = Id()
    status = ma.fields.String(validate=validate.OneOf(("draft", "final")))
