"""Reviewers' decisions on check-ins, and the cadre's answers."""

import marshmallow as ma
from marshmallow import validate

from server.models.attendance import REVIEW_DECISIONS


def not_blank(value):
    if not value.strip():
        raise ma.ValidationError("Must not be blank.")


def written(description):
    return ma.fields.String(
        required=True,
        validate=[validate.Length(1, 5000), not_blank],
        metadata={"description": description},
    )


class ReviewCreateSchema(ma.Schema):
    decision = ma.fields.String(required=True, validate=validate.OneOf(REVIEW_DECISIONS))
    reason = written("Why: the cadre reads it and may answer")


class ReviewAnswerSchema(ma.Schema):
    answer = written("The cadre's explanation; once per decision, never edited")


class ReviewSchema(ma.Schema):
    id = ma.fields.Integer()
    checkin_id = ma.fields.Integer()
    decision = ma.fields.String(metadata={"enum": list(REVIEW_DECISIONS)})
    reason = ma.fields.String()
    reviewer_id = ma.fields.Integer()
    reviewer_name = ma.fields.String(attribute="reviewer.name")
    decided_at = ma.fields.AwareDateTime()
    supersedes_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "The earlier decision this one replaces"}
    )
    answer = ma.fields.String(allow_none=True)
    answered_at = ma.fields.AwareDateTime(allow_none=True)
