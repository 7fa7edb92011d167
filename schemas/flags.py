"""The review queue: flags with the evidence behind them."""

import marshmallow as ma
from flask import url_for
from marshmallow import validate

from schemas.common import DivisionCode, Id
from server.models.checkins import SEVERITIES, VERDICTS

FLAG_STATUSES = ("open", "upheld", "dismissed")
# 2000-2099 as in the calendar: the queue turns a month into dates, and years 0 and
# 10000 are none (0000-01 and 9999-12 were a 500).
MONTH = r"^20[0-9]{2}-(0[1-9]|1[0-2])\Z"


class FlagQuerySchema(ma.Schema):
    status = ma.fields.String(
        load_default="open",
        validate=validate.OneOf(FLAG_STATUSES),
        metadata={"description": "open (the default) until a reviewer decides the check-in"},
    )
    severity = ma.fields.String(validate=validate.OneOf(SEVERITIES))
    code = ma.fields.String(validate=validate.Length(1, 40), metadata={"description": "Flag code"})
    region_code = DivisionCode(metadata={"description": "Check-ins in this subtree"})
    posting_id = Id()
    month = ma.fields.String(
        validate=validate.Regexp(MONTH, error="Must be YYYY-MM."),
        metadata={"description": "YYYY-MM of the check-in's attendance day", "example": "2026-03"},
    )


class EvidencePhotoSchema(ma.Schema):
    id = ma.fields.Integer()
    sha256 = ma.fields.String()
    width = ma.fields.Integer()
    height = ma.fields.Integer()
    exif_latitude = ma.fields.Float(allow_none=True)
    exif_longitude = ma.fields.Float(allow_none=True)
    exif_taken_at = ma.fields.String(allow_none=True)
    purged_at = ma.fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "When retention deleted the bytes (410 since); hashes stay"},
    )
    url = ma.fields.Method(
        "_url",
        metadata={
            "type": "string",
            "description": "The display image; add ?variant=thumb or ?variant=original "
            "(every view of an original or display image is audited)",
        },
    )

    def _url(self, photo):
        return url_for("photos.PhotoById", photo_id=photo.id)


class EvidenceCheckinSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    cadre_id = ma.fields.Integer()
    cadre_name = ma.fields.String(attribute="cadre.name")
    posting_id = ma.fields.Integer()
    village_code = ma.fields.String()
    village_name = ma.fields.String(attribute="village.name")
    captured_at = ma.fields.AwareDateTime(attribute="captured_at_device")
    received_at = ma.fields.AwareDateTime()
    local_date = ma.fields.Date()
    # null once retention has purged the position (purged_at)
    latitude = ma.fields.Float(allow_none=True)
    longitude = ma.fields.Float(allow_none=True)
    accuracy_m = ma.fields.Float(allow_none=True)
    distance_m = ma.fields.Float(allow_none=True)
    verdict = ma.fields.String(metadata={"enum": list(VERDICTS)})
    review_decision = ma.fields.String(
        allow_none=True, metadata={"description": "The latest reviewer decision, if any"}
    )
    standing = ma.fields.String(metadata={"description": "What attendance counts"})
    purged_at = ma.fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "When retention removed the position and photos (else null)"},
    )
    photos = ma.fields.List(ma.fields.Nested(EvidencePhotoSchema))


class EarlierCheckinSchema(EvidenceCheckinSchema):
    """The check-in an earlier copy of the picture came with (its photo is shown apart)."""

    class Meta:
        exclude = ("photos",)


class ReuseMatchSchema(ma.Schema):
    photo_sha256 = ma.fields.String(metadata={"description": "This check-in's photo"})
    match = ma.fields.String(metadata={"enum": ["identical", "near_duplicate"]})
    hamming_distance = ma.fields.Integer()
    earlier_visible = ma.fields.Boolean(
        metadata={
            "description": "false: the picture was used before outside your scope, and "
            "that is all you are told"
        }
    )
    earlier_photo = ma.fields.Nested(EvidencePhotoSchema, allow_none=True)
    earlier_checkin = ma.fields.Nested(EarlierCheckinSchema, allow_none=True)


class FlagCaseSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    severity = ma.fields.String(metadata={"enum": list(SEVERITIES)})
    status = ma.fields.String(metadata={"enum": list(FLAG_STATUSES)})
    details = ma.fields.Dict(metadata={"description": "The measured values behind the flag"})
    created_at = ma.fields.AwareDateTime()
    checkin = ma.fields.Nested(EvidenceCheckinSchema)
    reused_from = ma.fields.List(
        ma.fields.Nested(ReuseMatchSchema),
        metadata={"description": "photo_reused only: the earlier picture each photo matches"},
    )
