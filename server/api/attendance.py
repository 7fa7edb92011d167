from flask import Response
from flask.views import MethodView
from flask_smorest import Page

from schemas.attendance import (
    ClosureCreateSchema,
    ClosureDetailSchema,
    ClosureQuerySchema,
    ClosureReopenSchema,
    ClosureSchema,
    ExportQuerySchema,
    LedgerQuerySchema,
    LedgerRowSchema,
    PostingMonthSchema,
    SummaryQuerySchema,
    SummarySchema,
)
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import exports, ledger, month_close

blp = Blueprint(
    "attendance", __name__, url_prefix="/api/v1/attendance", description="Monthly attendance"
)
MONTH = "<string(length=7):month>"
NO_CALENDAR = "No working-day calendar for that year (calendar_year_missing)"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class LedgerPage(Page):
    """A page of ledger rows, each with the check-ins behind its days present."""

    @property
    def item_count(self):
        return len(self.collection.rows)

    @property
    def items(self):
        first = self.page_params.first_item
        rows = self.collection.rows[first : first + self.page_params.page_size]
        return ledger.with_evidence(self.collection, rows)


def _file(data, mimetype, filename):
    # content_type, not mimetype: Werkzeug would add a second charset to text/csv.
    response = Response(data, content_type=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{filename}"
    response.headers["Cache-Control"] = "no-store"
    return response


def _ledger_args(args):
    return {
        "month": args["month"],
        "region_code": args.get("region"),
        "unit_id": args.get("unit"),
        "status": args.get("status"),
    }


@blp.route("")
class Ledger(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(LedgerQuerySchema, location="query")
    @blp.response(200, LedgerRowSchema(many=True))
    @blp.alt_response(409, description=NO_CALENDAR)
    @blp.paginate(LedgerPage, **PAGE_ARGS)
    def get(self, args):
        """The month's ledger: one row per posting in scope"""
        return ledger.month_ledger(actor=auth.current_user(), **_ledger_args(args))


@blp.route("/summary")
class Summary(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(SummaryQuerySchema, location="query")
    @blp.response(200, SummarySchema(many=True))
    @blp.alt_response(409, description=NO_CALENDAR)
    def get(self, args):
        """Compliance by county or by dispatching unit"""
        found = ledger.month_ledger(actor=auth.current_user(), **_ledger_args(args))
        return ledger.summarize(found.rows, args["by"])


@blp.route("/export")
class Export(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(ExportQuerySchema, location="query")
    @blp.response(200, {"type": "string", "format": "binary"}, content_type=XLSX)
    @blp.doc(responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
    @blp.alt_response(409, description=NO_CALENDAR)
    def get(self, args):
        """The ledger as XLSX (summary plus a sheet per county) or CSV"""
        found = ledger.month_ledger(actor=auth.current_user(), **_ledger_args(args))
        name = f"attendance-{args['month']}"
        if args["format"] == "csv":
            return _file(exports.ledger_csv(found), "text/csv; charset=utf-8", f"{name}.csv")
        return _file(exports.ledger_xlsx(found), XLSX, f"{name}.xlsx")


@blp.route(f"/<int(max=2147483647):posting_id>/{MONTH}")
class PostingMonth(MethodView):
    @auth.required()
    @blp.response(200, PostingMonthSchema)
    @blp.alt_response(404, description="No such posting visible to you")
    @blp.alt_response(409, description=NO_CALENDAR)
    @blp.alt_response(422, description="invalid_month; not_posted_in_month")
    def get(self, posting_id, month):
        """One posting's month, day by day, with the evidence behind each day"""
        return ledger.posting_month(actor=auth.current_user(), posting_id=posting_id, month=month)


@blp.route(f"/<int(max=2147483647):posting_id>/{MONTH}/export")
class PostingMonthExport(MethodView):
    @auth.required()
    @blp.response(200, {"type": "string", "format": "binary"}, content_type=XLSX)
    @blp.alt_response(404, description="No such posting visible to you")
    @blp.alt_response(409, description=NO_CALENDAR)
    @blp.alt_response(422, description="invalid_month; not_posted_in_month")
    def get(self, posting_id, month):
        """One cadre's monthly attendance sheet (XLSX)"""
        detail = ledger.posting_month(actor=auth.current_user(), posting_id=posting_id, month=month)
        name = f"attendance-{detail['row']['posting_id']}-{month}.xlsx"
        return _file(exports.posting_month_xlsx(detail, month), XLSX, name)


@blp.route("/closures")
class Closures(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(ClosureQuerySchema, location="query")
    @blp.response(200, ClosureSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """Closed months in your jurisdiction, every version"""
        return month_close.list_(actor=auth.current_user(), **args)

    @auth.required("reviewer", "admin")
    @blp.arguments(ClosureCreateSchema)
    @blp.response(201, ClosureDetailSchema)
    @blp.alt_response(403, description="out_of_jurisdiction: the region is outside yours")
    @blp.alt_response(409, description="Not over, already closed, or flags unsettled")
    def post(self, args):
        """Close a month: freeze the jurisdiction's ledger as a hashed snapshot"""
        return month_close.close(actor=auth.current_user(), **args)


@blp.route("/closures/<int(max=2147483647):closure_id>")
class ClosureById(MethodView):
    @auth.required("reviewer", "admin")
    @blp.response(200, ClosureDetailSchema)
    @blp.alt_response(404, description="No such closure in your jurisdiction")
    def get(self, closure_id):
        """One closure with its frozen snapshot"""
        return month_close.get(actor=auth.current_user(), closure_id=closure_id)


@blp.route("/closures/<int(max=2147483647):closure_id>/reopen")
class ClosureReopen(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(ClosureReopenSchema)
    @blp.response(200, ClosureDetailSchema)
    @blp.alt_response(404, description="No such closure in your jurisdiction")
    @blp.alt_response(409, description="Already reopened")
    def post(self, args, closure_id):
        """Reopen a closed month, with a reason; the frozen version stays"""
        return month_close.reopen(actor=auth.current_user(), closure_id=closure_id, **args)
