"""Field types and validators shared by several schemas."""

import re

import marshmallow as ma
from marshmallow import validate

DIVISION_CODE = re.compile(r"^\d{12}$")
# Mainland mobile numbers: the log-in for every user.
PHONE = re.compile(r"^1[3-9]\d{9}$")


class DivisionCode(ma.fields.String):
    """An official 12-digit administrative division code (统计用区划代码)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault(
            "description", "12-digit division code, e.g. 340421000000"
        )
        super().__init__(
            validate=validate.Regexp(DIVISION_CODE, error="Must be 12 digits."), **kwargs
        )


class Phone(ma.fields.String):
    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("example", "13905540001")
        super().__init__(
            validate=validate.Regexp(PHONE, error="Must be an 11-digit mobile number."),
            **kwargs,
        )


def latitude(**kwargs):
    return ma.fields.Float(validate=validate.Range(-90, 90), allow_nan=False, **kwargs)


def longitude(**kwargs):
    return ma.fields.Float(validate=validate.Range(-180, 180), allow_nan=False, **kwargs)


def name_field(**kwargs):
    return ma.fields.String(validate=validate.Length(1, 100), **kwargs)


def check_position_pair(data):
    if ("latitude" in data) != ("longitude" in data):
        raise ma.ValidationError("Give latitude and longitude together.", "latitude")
    if (data.get("latitude") is None) != (data.get("longitude") is None):
        raise ma.ValidationError("Give latitude and longitude together.", "latitude")


class ListQuery(ma.Schema):
    q = ma.fields.String(
        validate=validate.Length(1, 100), metadata={"description": "Name contains this text"}
    )
