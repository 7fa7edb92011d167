"""Roster import: the uploaded file, one row of it, and the two possible answers.

`RosterRowSchema` is the one definition of a roster row: services/imports.py maps the
header onto its fields (English name or the Chinese label in `metadata["zh"]`) and
loads every row through it, so its messages are the per-row error report.
"""

import re
from datetime import date, datetime

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from schemas.common import DivisionCode, Phone, name_field
from server.errors import ErrorSchema
from server.models.postings import POSTING_ROLES
from server.models.units import UNIT_LEVELS

ROLE_LABELS = {
    "第一书记": "first_secretary",
    "工作队长": "team_leader",
    "工作队员": "team_member",
    "帮扶干部": "paired_aid",
}
LEVEL_LABELS = {"省级": "province", "市级": "city", "县级": "county", "乡镇级": "township"}
DATE_TEXT = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


class _ExcelNumber:
    """Excel turns long digit strings into numbers (340421100201, or 340421100201.0
    after a round trip through a formula); take them back as the digits."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class CellDivisionCode(_ExcelNumber, DivisionCode):
    pass


class CellPhone(_ExcelNumber, Phone):
    pass


class Label(ma.fields.String):
    """A code written as itself (any case) or as its Chinese label."""

    def __init__(self, codes, labels, **kwargs):
        self.choices = {code: code for code in codes} | labels
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.choices[text.strip().lower()]
        except KeyError:
            raise ma.ValidationError(f"Must be one of {', '.join(self.choices)}.") from None


class CellDate(ma.fields.Field):
    """A real Excel date cell, or text such as 2026-03-01, 2026/3/1 or 2026年3月1日."""

    default_error_messages = {"invalid": "Must be a date such as 2026-03-01 or 2026/3/1."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        match = DATE_TEXT.match(value.strip()) if isinstance(value, str) else None
        try:
            return date(*map(int, match.groups()))
        except (AttributeError, ValueError):  # no match, or a day like 2026-02-30
            raise self.make_error("invalid") from None


class RosterRowSchema(ma.Schema):
    """One posting per row; `zh` is the accepted Chinese column header."""

    name = name_field(required=True, metadata={"zh": "姓名"})
    phone = CellPhone(required=True, metadata={"zh": "手机号"})
    unit_name = ma.fields.String(
        required=True, validate=validate.Length(1, 200), metadata={"zh": "选派单位"}
    )
    unit_level = Label(UNIT_LEVELS, LEVEL_LABELS, metadata={"zh": "单位层级"})
    unit_region_code = CellDivisionCode(metadata={"zh": "单位所在地代码"})
    village_code = CellDivisionCode(required=True, metadata={"zh": "村代码"})
    role = Label(POSTING_ROLES, ROLE_LABELS, required=True, metadata={"zh": "岗位"})
    start_date = CellDate(required=True, metadata={"zh": "开始日期"})
    end_date = CellDate(metadata={"zh": "结束日期"})
    home_region_code = CellDivisionCode(metadata={"zh": "户籍地代码"})

    @ma.validates_schema
    def dates_in_order(self, data, **kwargs):
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            raise ma.ValidationError("Must not be before start_date.", "end_date")


class RosterUploadSchema(ma.Schema):
    file = Upload(
        required=True,
        metadata={"description": ".xlsx workbook or .csv file; columns in docs/roster-import.md"},
    )


class RosterImportSchema(ma.Schema):
    rows = ma.fields.Integer(metadata={"description": "Data rows read (blank rows skipped)"})
    units_created = ma.fields.Integer()
    cadres_created = ma.fields.Integer()
    postings_created = ma.fields.Integer()
    unchanged = ma.fields.Integer(
        metadata={"description": "Rows naming an existing posting; skipped, never updated"}
    )


class RosterRowErrorsSchema(ma.Schema):
    row = ma.fields.Integer(metadata={"description": "Spreadsheet row number; the header is 1"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "English column name -> messages"},
    )


class RosterErrorsSchema(ma.Schema):
    rows = ma.fields.List(ma.fields.Nested(RosterRowErrorsSchema))
    columns = ma.fields.List(
        ma.fields.String(), metadata={"description": "Unknown, repeated or missing columns"}
    )

    class Meta:
        # A bad upload itself (no file) is reported under the field's own name.
        unknown = ma.INCLUDE


class RosterReportSchema(ErrorSchema):
    """The 422 `roster_invalid` answer: every bad row, and nothing was written."""

    errors = ma.fields.Nested(RosterErrorsSchema)
