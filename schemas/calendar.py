"""The working-day calendar: a month's days, administrators' entries and years."""

import re

import marshmallow as ma
from marshmallow import validate

from schemas.policies import Switch, WholeNumber

MONTH = re.compile(r"^20[0-9]{2}-(0[1-9]|1[0-2])\Z")
DAY_KINDS = ("workday", "weekend", "holiday", "makeup_workday")
DAY_SOURCES = ("admin", "chinesecalendar", "weekday_rule")


class MonthQuerySchema(ma.Schema):
    month = ma.fields.String(
        required=True,
        validate=validate.Regexp(MONTH, error="Must be YYYY-MM, from 2000-01 to 2099-12."),
        metadata={"example": "2026-10"},
    )


class DaySchema(ma.Schema):
    day = ma.fields.Date()
    working = ma.fields.Boolean()
    kind = ma.fields.String(metadata={"enum": list(DAY_KINDS)})
    name = ma.fields.String(allow_none=True, metadata={"description": "The holiday's name"})
    source = ma.fields.String(
        metadata={"enum": list(DAY_SOURCES), "description": "Which rule decided the day"}
    )


class MonthSchema(ma.Schema):
    month = ma.fields.String()
    working_days = ma.fields.Integer()
    days = ma.fields.List(ma.fields.Nested(DaySchema))


class CalendarEntryInSchema(ma.Schema):
    working = Switch(required=True)
    name = ma.fields.String(
        allow_none=True,
        validate=validate.Length(1, 50),
        metadata={"description": "e.g. 国庆节; a local change may name its reason"},
    )


class CalendarEntrySchema(CalendarEntryInSchema):
    day = ma.fields.Date()
    updated_by_id = ma.fields.Integer()
    updated_at = ma.fields.AwareDateTime()


class CalendarYearInSchema(ma.Schema):
    year = WholeNumber(2000, 2099, required=True)
    note = ma.fields.String(validate=validate.Length(1, 200))


class CalendarYearSchema(ma.Schema):
    year = ma.fields.Integer()
    source = ma.fields.String(metadata={"enum": ["chinesecalendar", "admin"]})
    published = ma.fields.Boolean(
        metadata={"description": "False: entries exist, but the year is not usable yet"}
    )
    entries = ma.fields.Integer(metadata={"description": "Administrator's day entries"})
    note = ma.fields.String(allow_none=True)
    published_by_id = ma.fields.Integer(allow_none=True)
    published_at = ma.fields.AwareDateTime(allow_none=True)
