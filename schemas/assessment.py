"""The annual assessment sheet's query."""

import marshmallow as ma

from schemas.common import DivisionCode


class AssessmentQuerySchema(ma.Schema):
    region_code = DivisionCode(metadata={"description": "Default: your jurisdiction"})
