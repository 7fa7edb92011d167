"""Check-in payloads: multipart form fields plus photo files, and what we answer."""

import json

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from schemas.common import DivisionCode, Id, day, instant, json_strings, latitude, longitude
from schemas.reviews import ReviewSchema
from server.models.checkins import ARRIVAL, CHECKIN_KINDS, MAX_PHOTOS, VERDICTS


class CheckinFieldsSchema(ma.Schema):
    client_id = ma.fields.UUID(
        required=True, metadata={"description": "Made on the phone; a resend repeats it"}
    )
    kind = ma.fields.String(required=True, validate=validate.OneOf(CHECKIN_KINDS))
    household_id = Id(
        metadata={"description": "Required for household_visit, not allowed otherwise"}
    )
    latitude = latitude(required=True, metadata={"description": "WGS-84 (not GCJ-02)"})
    longitude = longitude(required=True, metadata={"description": "WGS-84 (not GCJ-02)"})
    accuracy_m = ma.fields.Float(
        required=True, allow_nan=False, validate=validate.Range(0, 100_000)
    )
    altitude_m = ma.fields.Float(allow_nan=False, validate=validate.Range(-500, 9000))
    captured_at = instant(
        required=True,
        metadata={
            "description": "Device clock, ISO 8601 with offset, e.g. 2026-11-26T08:05:00+08:00"
        },
    )
    device_id = ma.fields.String(required=True, validate=validate.Length(1, 100))
    mock_location = ma.fields.Boolean(
        metadata={"description": "The phone's own flag: the position came from a mock provider"}
    )
    note = ma.fields.String(validate=validate.Length(max=500))
    challenge_id = Id(metadata={"description": "The roll-call this check-in answers"})

    @ma.post_load
    def normalize(self, data, **kwargs):
        data["client_id"] = str(data["client_id"])
        return data

    @ma.validates_schema
    def household_only_for_visits(self, data, **kwargs):
        visit = data.get("kind") == "household_visit"
        if visit and data.get("household_id") is None:
            raise ma.ValidationError("Required for household visits.", "household_id")
        if not visit and data.get("household_id") is not None:
            raise ma.ValidationError("Only for household visits.", "household_id")


class PhotoFilesSchema(ma.Schema):
    photos = ma.fields.List(
        Upload(),
        validate=validate.Length(max=MAX_PHOTOS),
        metadata={"description": "0-3 photos: JPEG, PNG, WebP or HEIC, 20 MB each at most"},
    )


class JSONString(ma.fields.Field):
    """A form field that carries JSON, checked by an inner field."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ma.ValidationError("Not valid JSON.") from exc
        if any("\x00" in text for text in json_strings(parsed)):
            raise ma.ValidationError("Text may not contain NUL characters.")
        return self.inner.deserialize(parsed)


class BatchItemSchema(CheckinFieldsSchema):
    photo_indexes = ma.fields.List(
        ma.fields.Integer(strict=True, validate=validate.Range(0, 3 * 50)),  # JSON only
        load_default=list,
        validate=validate.Length(max=MAX_PHOTOS),
        metadata={"description": "Positions in the repeated `photos` file field"},
    )


class BatchFormSchema(ma.Schema):
    items = JSONString(
        ma.fields.List(ma.fields.Nested(BatchItemSchema), validate=validate.Length(1, 50)),
        required=True,
        metadata={
            "description": "JSON array of up to 50 check-ins, each with photo_indexes",
            "type": "string",
        },
    )


class BatchFilesSchema(ma.Schema):
    photos = ma.fields.List(
        Upload(), metadata={"description": "All photos of the batch, referenced by index"}
    )


# Whose check-in or device it was is for reviewers: a cadre is told that a photo or a
# phone was used before, not by whom.
REVIEWERS_ONLY = ("other_cadre_ids", "earlier_checkin_id", "earlier_photo_id", "matches")


class FlagSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    severity = ma.fields.String()
    status = ma.fields.String()
    details = ma.fields.Method(
        "_details",
        metadata={
            "type": "object",
            "description": "The measured values behind the flag (other people's ids: "
            "reviewers only)",
        },
    )

    def _details(self, flag):
        viewer = _reviewer()
        if viewer is not None:
            from server.services.flags import visible_details

            # Not the ids of another jurisdiction's check-ins or people, though.
            return visible_details(flag.details, viewer)
        return {k: v for k, v in flag.details.items() if k not in REVIEWERS_ONLY}


def _reviewer():
    """The caller, if they see the ids flags name (reviewers and admins), else None."""
    from server.auth import current_user

    viewer = current_user()
    return viewer if viewer is not None and viewer.has_role("reviewer", "admin") else None


class PhotoSchema(ma.Schema):
    id = ma.fields.Integer()
    position = ma.fields.Integer()
    sha256 = ma.fields.String()
    format = ma.fields.String()
    mime_type = ma.fields.String()
    size_bytes = ma.fields.Integer()
    width = ma.fields.Integer()
    height = ma.fields.Integer()
    phash = ma.fields.String(metadata={"description": "64-bit perceptual hash, hex"})
    exif_latitude = ma.fields.Float(allow_none=True)
    exif_longitude = ma.fields.Float(allow_none=True)
    exif_taken_at = ma.fields.String(
        allow_none=True, metadata={"description": "As written in the photo; offset if known"}
    )
    exif_offset = ma.fields.String(allow_none=True)
    make = ma.fields.String(allow_none=True)
    model = ma.fields.String(allow_none=True)
    purged_at = ma.fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "When retention deleted the bytes (410 since); hashes stay"},
    )


class CheckinSchema(ma.Schema):
    id = ma.fields.Integer()
    client_id = ma.fields.String()
    cadre_id = ma.fields.Integer()
    posting_id = ma.fields.Integer()
    village_code = ma.fields.String()
    household_id = ma.fields.Integer(allow_none=True)
    kind = ma.fields.String()
    # null once retention has purged the position (purged_at)
    latitude = ma.fields.Float(allow_none=True)
    longitude = ma.fields.Float(allow_none=True)
    accuracy_m = ma.fields.Float(allow_none=True)
    altitude_m = ma.fields.Float(allow_none=True)
    captured_at = ma.fields.AwareDateTime(attribute="captured_at_device")
    received_at = ma.fields.AwareDateTime(metadata={"description": "Server receipt time"})
    local_date = ma.fields.Date(metadata={"description": "The attendance day it counts for"})
    device_id = ma.fields.String()
    mock_location = ma.fields.Boolean(allow_none=True)
    note = ma.fields.String(allow_none=True)
    verdict = ma.fields.String(metadata={"enum": list(VERDICTS)})
    distance_m = ma.fields.Float(
        allow_none=True, metadata={"description": "From the village post or household"}
    )
    flags = ma.fields.List(ma.fields.Nested(FlagSchema))
    photos = ma.fields.List(ma.fields.Nested(PhotoSchema))
    review_decision = ma.fields.String(
        allow_none=True, metadata={"description": "The latest reviewer decision, if any"}
    )
    standing = ma.fields.String(
        metadata={"description": "What attendance counts: review_decision, else verdict"}
    )
    purged_at = ma.fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "When retention removed the position and photos (else null)"},
    )
    reviews = ma.fields.List(
        ma.fields.Nested(ReviewSchema),
        metadata={"description": "Reviewers' decisions, oldest first, with the answers"},
    )

    @ma.pre_dump(pass_collection=True)
    def _prefetch_flag_visibility(self, data, many, **kwargs):
        """A page of check-ins: what its flags name is checked against the reviewer's
        scope in two queries, not two per flag (FlagSchema._details)."""
        viewer = _reviewer()
        if viewer is not None:
            from server.services.flags import prefetch_visibility

            checkins = data if many else [data]
            prefetch_visibility([f.details for c in checkins for f in c.flags], viewer)
        return data


class BatchResultSchema(ma.Schema):
    class ItemResult(ma.Schema):
        client_id = ma.fields.String(allow_none=True)
        status = ma.fields.Integer(metadata={"description": "201 new, 200 resend, 4xx error"})
        checkin = ma.fields.Nested(CheckinSchema, allow_none=True)
        error = ma.fields.Dict(allow_none=True, metadata={"description": "The error shape"})

    results = ma.fields.List(ma.fields.Nested(ItemResult))


class CheckinQuerySchema(ma.Schema):
    posting_id = Id()
    cadre_id = Id()
    within = DivisionCode(metadata={"description": "Villages in this subtree"})
    date_from = day(metadata={"description": "Local attendance date, inclusive"})
    date_to = day()
    verdict = ma.fields.String(validate=validate.OneOf(VERDICTS))
    kind = ma.fields.String(validate=validate.OneOf((*CHECKIN_KINDS, ARRIVAL)))
    flag = ma.fields.String(validate=validate.Length(1, 40), metadata={"description": "Flag code"})


class PhotoQuerySchema(ma.Schema):
    variant = ma.fields.String(
        load_default="display", validate=validate.OneOf(("original", "display", "thumb"))
    )
