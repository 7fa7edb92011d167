"""The dashboard, the ledger with its exports, and a cadre's month: the same ledger
service and export writers as /api/v1/attendance."""

from datetime import date

from flask import Response, render_template

from schemas.attendance import LedgerQuerySchema
from server.services import exports, ledger
from server.web import bp, page_number, query_args, security
from server.web.paging import PAGE_SIZE, Page

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _month_args():
    """The API's ledger query, with this month when none is asked for."""
    args = query_args(LedgerQuerySchema, defaults={"month": _this_month()})
    return {
        "month": args["month"],
        "region_code": args.get("region"),
        "unit_id": args.get("unit"),
        "status": args.get("status"),
    }


def _this_month():
    return ledger.local_today().strftime("%Y-%m")


def _neighbours(month):
    first = date.fromisoformat(f"{month}-01")
    before = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    after = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return before.strftime("%Y-%m"), after.strftime("%Y-%m")


def _file(data, mimetype, filename):
    # content_type, not mimetype: Werkzeug would add a second charset to text/csv.
    response = Response(data, content_type=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{filename}"
    return response


@bp.get("/")
@security.console_required
def dashboard():
    args = _month_args()
    found = ledger.month_ledger(actor=security.current_user(), **args)
    return render_template(
        "dashboard.html",
        args=args,
        months=_neighbours(args["month"]),
        by_county=ledger.summarize(found.rows, "county"),
        by_unit=ledger.summarize(found.rows, "unit"),
    )


@bp.get("/ledger")
@security.console_required
def ledger_page():
    args = _month_args()
    found = ledger.month_ledger(actor=security.current_user(), **args)
    number = page_number()
    rows = found.rows[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    return render_template(
        "ledger.html",
        args=args,
        months=_neighbours(args["month"]),
        page=Page(rows, number, len(found.rows)),
        counties=ledger.summarize(found.rows, "county"),
        units=ledger.summarize(found.rows, "unit"),
        statuses=ledger.STATUSES,
    )


@bp.get("/ledger.xlsx")
@security.console_required
def ledger_xlsx():
    args = _month_args()
    found = ledger.month_ledger(actor=security.current_user(), **args)
    return _file(exports.ledger_xlsx(found), XLSX, f"attendance-{args['month']}.xlsx")


@bp.get("/ledger.csv")
@security.console_required
def ledger_csv():
    args = _month_args()
    found = ledger.month_ledger(actor=security.current_user(), **args)
    name = f"attendance-{args['month']}.csv"
    return _file(exports.ledger_csv(found), "text/csv; charset=utf-8", name)


def _posting_month(posting_id):
    month = _month_args()["month"]
    detail = ledger.posting_month(actor=security.current_user(), posting_id=posting_id, month=month)
    return month, detail


@bp.get("/postings/<int(max=2147483647):posting_id>")
@security.console_required
def cadre_page(posting_id):
    month, detail = _posting_month(posting_id)
    return render_template(
        "cadre.html",
        month=month,
        months=_neighbours(month),
        detail=detail,
        row=detail["row"],
        weeks=_weeks(detail["days"]),
        reviewable=not detail["row"]["closed"],
    )


@bp.get("/postings/<int(max=2147483647):posting_id>/month.xlsx")
@security.console_required
def cadre_xlsx(posting_id):
    month, detail = _posting_month(posting_id)
    name = f"attendance-{posting_id}-{month}.xlsx"
    return _file(exports.posting_month_xlsx(detail, month), XLSX, name)


def _weeks(days):
    """The month's days laid out Monday first, None for the blanks around them."""
    cells = [None] * days[0]["day"].weekday() + list(days)
    cells += [None] * (-len(cells) % 7)
    return [cells[i : i + 7] for i in range(0, len(cells), 7)]
