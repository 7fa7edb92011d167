from flask.views import MethodView

from schemas.recommendations import (
    RecommendationQuerySchema,
    RecommendationSchema,
    SetAsideSchema,
)
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import recommendations

blp = Blueprint(
    "recommendations",
    __name__,
    url_prefix="/api/v1/recommendations",
    description="What the rules propose from evidence; people decide",
)


@blp.route("")
class Recommendations(MethodView):
    @auth.required()
    @blp.arguments(RecommendationQuerySchema, location="query")
    @blp.response(200, RecommendationSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """Recommendations in scope, latest first (a cadre sees those about them)"""
        return recommendations.list_(actor=auth.current_user(), **args)


@blp.route("/<int(max=2147483647):recommendation_id>")
class RecommendationById(MethodView):
    @auth.required()
    @blp.response(200, RecommendationSchema)
    @blp.alt_response(404, description="No such recommendation visible to you")
    def get(self, recommendation_id):
        """One recommendation with the evidence it cites"""
        return recommendations.get(actor=auth.current_user(), recommendation_id=recommendation_id)


@blp.route("/<int(max=2147483647):recommendation_id>/set-aside")
class RecommendationSetAside(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(SetAsideSchema)
    @blp.response(200, RecommendationSchema)
    @blp.alt_response(404, description="No such recommendation visible to you")
    @blp.alt_response(409, description="Already set aside, or a case is open from it")
    def post(self, args, recommendation_id):
        """Set a recommendation aside, with a reason, at the level that decides its measure"""
        return recommendations.set_aside(
            actor=auth.current_user(), recommendation_id=recommendation_id, **args
        )
