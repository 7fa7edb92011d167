from flask.views import MethodView

from schemas.draws import (
    DrawCreateSchema,
    DrawExecuteSchema,
    DrawQuerySchema,
    DrawSchema,
    ProofSchema,
)
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import draws

blp = Blueprint(
    "draws", __name__, url_prefix="/api/v1/draws", description="Verifiable random inspection draws"
)


@blp.route("")
class Draws(MethodView):
    @auth.required("admin", "reviewer")
    @blp.arguments(DrawQuerySchema, location="query")
    @blp.response(200, DrawSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """Draws in your jurisdiction, newest first"""
        return draws.list_(actor=auth.current_user(), **args)

    @auth.required("admin", "reviewer")
    @blp.arguments(DrawCreateSchema)
    @blp.response(201, DrawSchema)
    @blp.alt_response(403, description="out_of_jurisdiction: the scope is outside yours")
    def post(self, args):
        """Freeze the rosters and rules, and commit to a secret before the beacon is known"""
        return draws.create(actor=auth.current_user(), **args)


@blp.route("/<int(max=2147483647):draw_id>")
class DrawById(MethodView):
    @auth.required("admin", "reviewer")
    @blp.response(200, DrawSchema)
    @blp.alt_response(404, description="No such draw in your jurisdiction")
    def get(self, draw_id):
        """One draw"""
        return draws.get(actor=auth.current_user(), draw_id=draw_id)


@blp.route("/<int(max=2147483647):draw_id>/execute")
class DrawExecute(MethodView):
    @auth.required("admin", "reviewer")
    @blp.arguments(DrawExecuteSchema)
    @blp.response(200, DrawSchema)
    @blp.alt_response(404, description="No such draw in your jurisdiction")
    @blp.alt_response(409, description="Executed already: a draw runs once")
    def post(self, args, draw_id):
        """Run the draw with the announced beacon value (or RFC 3797 numbers), once"""
        return draws.execute(actor=auth.current_user(), draw_id=draw_id, **args)


@blp.route("/<int(max=2147483647):draw_id>/reveal")
class DrawReveal(MethodView):
    @auth.required("admin", "reviewer")
    @blp.response(200, DrawSchema)
    @blp.alt_response(404, description="No such draw in your jurisdiction")
    @blp.alt_response(409, description="Not executed yet (draw_not_executed)")
    def post(self, draw_id):
        """Publish the proof before the window ends (e.g. when all visits are done)"""
        return draws.reveal(actor=auth.current_user(), draw_id=draw_id)


@blp.route("/<int(max=2147483647):draw_id>/proof")
class DrawProof(MethodView):
    @auth.required()
    @blp.response(200, ProofSchema)
    @blp.alt_response(404, description="No such draw, or not published yet")
    @blp.alt_response(409, description="Not published yet (the owner's jurisdiction)")
    def get(self, draw_id):
        """The proof, once published: check it with python -m server.tools.verify_draw"""
        return draws.proof(actor=auth.current_user(), draw_id=draw_id)
