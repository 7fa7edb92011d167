from flask.views import MethodView

from schemas.flags import FlagCaseSchema, FlagQuerySchema
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import flags

blp = Blueprint(
    "flags", __name__, url_prefix="/api/v1/flags", description="The reviewers' queue of flags"
)


class FlagPage(SelectPage):
    """Resolves the reuse links of one page at a time, in one query for the page."""

    @property
    def items(self):
        return flags.cases(actor=auth.current_user(), flags=super().items)


@blp.route("")
class Flags(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(FlagQuerySchema, location="query")
    @blp.response(200, FlagCaseSchema(many=True))
    @blp.paginate(FlagPage, **PAGE_ARGS)
    def get(self, args):
        """Flags in scope, most severe then oldest first, with their evidence"""
        return flags.list_(actor=auth.current_user(), **args)
