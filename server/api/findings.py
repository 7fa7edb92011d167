from flask.views import MethodView

from schemas.findings import FindingQuerySchema, FindingSchema
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import findings

blp = Blueprint("findings", __name__, url_prefix="/api/v1/findings", description="On-site findings")


@blp.route("")
class Findings(MethodView):
    @auth.required()
    @blp.arguments(FindingQuerySchema, location="query")
    @blp.response(200, FindingSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """Findings in scope (a cadre sees the final ones about them)"""
        return findings.list_(actor=auth.current_user(), **args)


@blp.route("/<int(max=2147483647):finding_id>")
class FindingById(MethodView):
    @auth.required()
    @blp.response(200, FindingSchema)
    @blp.alt_response(404, description="No such finding visible to you")
    def get(self, finding_id):
        """One finding with its signatures and problems"""
        return findings.get(actor=auth.current_user(), finding_id=finding_id)


@blp.route("/<int(max=2147483647):finding_id>/signatures")
class FindingSignatures(MethodView):
    @auth.required("inspector")
    @blp.response(200, FindingSchema)
    @blp.alt_response(404, description="No such finding visible to you")
    @blp.alt_response(409, description="Signed already")
    def post(self, finding_id):
        """Co-sign a finding; it is final once the whole team has signed"""
        return findings.sign(actor=auth.current_user(), finding_id=finding_id)
