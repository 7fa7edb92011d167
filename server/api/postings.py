from flask.views import MethodView

from schemas.postings import PostingQuerySchema, PostingSchema, PostingUpdateSchema
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import postings

blp = Blueprint(
    "postings", __name__, url_prefix="/api/v1/postings", description="Cadres' village postings"
)


@blp.route("")
class Postings(MethodView):
    @auth.required()
    @blp.arguments(PostingQuerySchema, location="query")
    @blp.response(200, PostingSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """List postings in scope (a cadre sees their own)"""
        return postings.list_(actor=auth.current_user(), **args)

    @auth.required("admin", "reviewer")
    @blp.arguments(PostingSchema)
    @blp.response(201, PostingSchema)
    @blp.alt_response(403, description="out_of_jurisdiction: the village is outside yours")
    @blp.alt_response(409, description="Overlaps another resident posting of the cadre")
    def post(self, args):
        """Post a cadre to a village"""
        return postings.create(actor=auth.current_user(), **args)


@blp.route("/<int(max=2147483647):posting_id>")
class PostingById(MethodView):
    @auth.required()
    @blp.response(200, PostingSchema)
    @blp.alt_response(404, description="No such posting in your scope")
    def get(self, posting_id):
        """One posting"""
        return postings.get(actor=auth.current_user(), posting_id=posting_id)

    @auth.required("admin", "reviewer")
    @blp.arguments(PostingUpdateSchema(partial=True))
    @blp.response(200, PostingSchema)
    @blp.alt_response(404, description="No such posting in your scope")
    @blp.alt_response(409, description="Overlaps another resident posting of the cadre")
    def patch(self, args, posting_id):
        """Change a posting's role, unit, dates or status (ending it sets the end date)"""
        return postings.update(actor=auth.current_user(), posting_id=posting_id, **args)
