from flask.views import MethodView

from schemas.accountability import (
    AccountabilityQuerySchema,
    UnitAccountabilitySchema,
    UnitRankingQuerySchema,
    UnitRankingSchema,
)
from server import auth
from server.api.blueprint import Blueprint
from server.services import accountability

blp = Blueprint(
    "accountability",
    __name__,
    url_prefix="/api/v1/units",
    description="Dispatching units held to account for their cadres",
)


@blp.route("/accountability")
class Ranking(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(UnitRankingQuerySchema, location="query")
    @blp.response(200, UnitRankingSchema)
    @blp.alt_response(403, description="The region is outside your jurisdiction")
    @blp.alt_response(409, description="No calendar for a year asked (calendar_year_missing)")
    def get(self, args):
        """Every dispatching unit in scope, ranked by deduction, then compliance"""
        return accountability.ranking(actor=auth.current_user(), **args)


@blp.route("/<int(max=2147483647):unit_id>/accountability")
class UnitAccountability(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(AccountabilityQuerySchema, location="query")
    @blp.response(200, UnitAccountabilitySchema)
    @blp.alt_response(404, description="No such unit within your reach")
    @blp.alt_response(409, description="No calendar for a year asked (calendar_year_missing)")
    def get(self, args, unit_id):
        """A unit's cadres' compliance, absences found, recalls, replacements, deduction"""
        return accountability.unit_report(actor=auth.current_user(), unit_id=unit_id, **args)
