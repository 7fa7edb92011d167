from flask.views import MethodView

from schemas.cases import ReplacementFulfilSchema, ReplacementQuerySchema, ReplacementSchema
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import replacements

blp = Blueprint(
    "replacements",
    __name__,
    url_prefix="/api/v1/replacements",
    description="Replacements dispatching units owe after a recall",
)


@blp.route("")
class Replacements(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(ReplacementQuerySchema, location="query")
    @blp.response(200, ReplacementSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """Replacement obligations in scope, earliest deadline first"""
        return replacements.list_(actor=auth.current_user(), **args)


@blp.route("/<int(max=2147483647):obligation_id>/fulfil")
class ReplacementFulfil(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(ReplacementFulfilSchema)
    @blp.response(200, ReplacementSchema)
    @blp.alt_response(403, description="out_of_jurisdiction (the recalled posting's village)")
    @blp.alt_response(404, description="No such obligation in your scope")
    @blp.alt_response(409, description="replacement_fulfilled")
    @blp.alt_response(422, description="posting_not_found; not_a_replacement")
    def post(self, args, obligation_id):
        """Record the new posting that replaces the recalled cadre"""
        return replacements.fulfil(actor=auth.current_user(), obligation_id=obligation_id, **args)
