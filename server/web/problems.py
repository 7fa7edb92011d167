"""The problem ledger and a problem's page with its trail, photos and the reviewer's
verify and reopen forms: the same services and export as /api/v1/problems."""

from flask import Response, flash, g, redirect, render_template, request, url_for

from schemas.problems import ProblemQuerySchema, StepNoteSchema
from server.services import problem_exports, problem_queries, problems
from server.web import bp, i18n, page_number, query_args, security
from server.web.paging import page_of

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/problems")
@security.console_required
def problem_list():
    actor = security.current_user()
    args = query_args(ProblemQuerySchema)
    page = page_of(problem_queries.list_(actor=actor, **args), page_number())
    page.items = problem_queries.views(page.items)
    region = args.get("region_code")
    return render_template(
        "problems.html",
        args=args,
        # The same filters, written as the query string says them (true, not True).
        export_args={k: str(v).lower() if isinstance(v, bool) else v for k, v in args.items()},
        page=page,
        statuses=problem_queries.LISTED,
        by_unit=problem_queries.summary(actor=actor, region_code=region, by="unit"),
        counties=problem_queries.summary(actor=actor, by="county"),
    )


@bp.get("/problems.xlsx")
@security.console_required
def problems_xlsx():
    data = problem_exports.export(actor=security.current_user(), **query_args(ProblemQuerySchema))
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = "attachment; filename=problems.xlsx"
    return response


@bp.get("/problems/<int(max=2147483647):problem_id>")
@security.console_required
def problem_page(problem_id):
    view = problem_queries.get(actor=security.current_user(), problem_id=problem_id)
    return render_template("problem.html", problem=view)


@bp.post("/problems/<int(max=2147483647):problem_id>/verify")
@security.console_required
def problem_verify(problem_id):
    return _step(problems.verify, problem_id, "problems.verified")


@bp.post("/problems/<int(max=2147483647):problem_id>/reopen")
@security.console_required
def problem_reopen(problem_id):
    return _step(problems.reopen, problem_id, "problems.reopened")


def _step(service, problem_id, done):
    args = StepNoteSchema().load({"note": request.form.get("note", "")})
    service(actor=security.current_user(), problem_id=problem_id, **args)
    flash(i18n.translate(done, g.lang))
    return redirect(url_for("console.problem_page", problem_id=problem_id))
