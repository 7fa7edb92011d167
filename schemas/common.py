"""Field types and validators shared by several schemas."""

import re
from datetime import UTC, datetime

import marshmallow as ma
from marshmallow import validate

# [0-9] and \Z, not \d and $: no full-width digits, no trailing newline.
DIVISION_CODE = re.compile(r"^[0-9]{12}\Z")
# Mainland mobile numbers: the log-in for every user.
PHONE = re.compile(r"^1[3-9][0-9]{9}\Z")
# Database ids are 32-bit on PostgreSQL; larger numbers cannot name anything.
MAX_ID = 2**31 - 1
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


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


class Id(ma.fields.Integer):
    """A database id: a whole number from 1 to 2**31 - 1. Digits in a form or query
    string are fine; a JSON float (1.5, 1e300) or boolean is not."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Range(1, MAX_ID), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool | float):
            raise ma.ValidationError("Must be a whole number.")
        return super()._deserialize(value, attr, data, **kwargs)


def plausible_instant(value):
    """Phones' clocks can be wrong, but not by centuries; such values also overflow
    time-zone arithmetic."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise ma.ValidationError("Not a plausible time.") from exc
    if not EARLIEST <= utc < LATEST:
        raise ma.ValidationError("Must be between 2000 and 2100.")


def plausible_date(value):
    if not EARLIEST.date() <= value < LATEST.date():
        raise ma.ValidationError("Must be between 2000 and 2100.")


def instant(**kwargs):
    return ma.fields.AwareDateTime(validate=plausible_instant, **kwargs)


def day(**kwargs):
    return ma.fields.Date(validate=plausible_date, **kwargs)


def json_strings(value):
    """Every string (keys included) in a parsed JSON document, iteratively."""
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
