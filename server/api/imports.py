from flask.views import MethodView

from schemas.imports import RosterImportSchema, RosterReportSchema, RosterUploadSchema
from server import auth
from server.api.blueprint import Blueprint
from server.services import imports

blp = Blueprint(
    "imports", __name__, url_prefix="/api/v1/imports", description="Bulk imports from files"
)


@blp.route("/roster")
class RosterImport(MethodView):
    @auth.required("admin", "reviewer")
    @blp.arguments(RosterUploadSchema, location="files")
    @blp.response(201, RosterImportSchema)
    @blp.alt_response(413, description="The file or its number of rows is over the limit")
    @blp.alt_response(415, description="Neither an .xlsx workbook nor CSV text")
    @blp.alt_response(
        422,
        schema=RosterReportSchema,
        description="Bad header or unreadable file, or `roster_invalid` with every bad row; "
        "nothing was imported",
    )
    def post(self, args):
        """Import units, cadres and postings from an .xlsx or .csv roster, all or nothing"""
        return imports.import_roster(actor=auth.current_user(), file=args["file"])
