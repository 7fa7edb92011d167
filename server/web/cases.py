"""Cases for the department: the list, and one case with the evidence on one side and
the cadre's answers on the other, and the decision form for whoever may decide it. The
same services as /api/v1/cases (scope, levels, the answer period, recall effects)."""

from flask import Response, flash, g, redirect, render_template, request, url_for

from schemas.cases import CaseQuerySchema, DecisionCreateSchema
from server.models.cases import CASE_STATUSES, DECISIONS, MEASURES
from server.services import case_answers, case_decisions, cases
from server.services.ledger import local_today
from server.web import bp, i18n, page_number, query_args, security
from server.web.paging import page_of


@bp.get("/cases")
@security.console_required
def case_list():
    args = query_args(CaseQuerySchema)
    page = page_of(cases.list_(actor=security.current_user(), **args), page_number())
    return render_template(
        "cases.html", args=args, page=page, statuses=CASE_STATUSES, measures=MEASURES
    )


@bp.get("/cases/<int(max=2147483647):case_id>")
@security.console_required
def case_page(case_id):
    actor = security.current_user()
    case = cases.get(actor=actor, case_id=case_id)
    return render_template(
        "case.html",
        case=case,
        evidence=cases.evidence_rows(actor=actor, case=case),
        obligation=case_decisions.obligation_of(case),
        notices={d.id: case_decisions.notice(d) for d in case.decisions},
        may_decide=case_decisions.may_decide(actor, case),
        waiting=local_today() <= case.answer_deadline,
        decisions=DECISIONS,
    )


@bp.post("/cases/<int(max=2147483647):case_id>/decisions")
@security.console_required
def case_decide(case_id):
    form = {key: request.form.get(key, "") for key in ("measure", "reason")}
    if request.form.get("corrects_id"):
        form["corrects_id"] = request.form["corrects_id"]
    args = DecisionCreateSchema().load(form)
    decision = case_decisions.decide(actor=security.current_user(), case_id=case_id, **args)
    flash(i18n.translate("cases.decided", g.lang))
    notice = case_decisions.notice(decision)
    if notice is not None:
        flash(notice["message"] if g.lang == "en" else notice["message_zh"])
    return redirect(url_for("console.case_page", case_id=case_id))


@bp.get("/cases/<int(max=2147483647):case_id>/attachments/<int(max=2147483647):attachment_id>")
@security.console_required
def case_attachment(case_id, attachment_id):
    view = case_answers.attachment_bytes(
        actor=security.current_user(), case_id=case_id, attachment_id=attachment_id
    )
    return Response(view.data, content_type=view.mime_type, headers=view.headers())
