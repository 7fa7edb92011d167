from flask import Response
from flask.views import MethodView

from schemas.assessment import AssessmentQuerySchema
from server import auth
from server.api.blueprint import Blueprint
from server.services import assessment

blp = Blueprint(
    "assessment",
    __name__,
    url_prefix="/api/v1/assessments",
    description="Annual assessment support: suggestions for the assessment committee",
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@blp.route("/<int:year>.xlsx")
class AnnualAssessment(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(AssessmentQuerySchema, location="query")
    @blp.response(200, {"type": "string", "format": "binary"}, content_type=XLSX)
    @blp.alt_response(403, description="The region is outside your jurisdiction")
    @blp.alt_response(404, description="The year is not a whole number (no such path)")
    @blp.alt_response(409, description="No calendar for that year (calendar_year_missing)")
    @blp.alt_response(422, description="A year before 2000 or after the current one")
    def get(self, args, year):
        """A year's attendance, inspections, cases and suggested grade per posting (XLSX)"""
        data = assessment.annual_xlsx(actor=auth.current_user(), year=year, **args)
        response = Response(data, mimetype=XLSX)
        response.headers["Content-Disposition"] = (
            f"attachment; filename*=UTF-8''assessment-{year}.xlsx"
        )
        response.headers["Cache-Control"] = "no-store"
        return response
