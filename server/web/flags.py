"""The flag queue and the decision on a check-in: the API's queue and review services."""

from flask import flash, g, redirect, render_template, request, url_for

from schemas.flags import FLAG_STATUSES, FlagQuerySchema
from schemas.reviews import ReviewCreateSchema
from server.models.checkins import SEVERITIES
from server.services import flags, reviews
from server.web import bp, i18n, page_number, query_args, security
from server.web.paging import page_of


@bp.get("/flags")
@security.console_required
def flag_queue():
    actor = security.current_user()
    args = query_args(FlagQuerySchema)
    page = page_of(flags.list_(actor=actor, **args), page_number())
    page.items = flags.cases(actor=actor, flags=page.items)
    return render_template(
        "flags.html", args=args, page=page, statuses=FLAG_STATUSES, severities=SEVERITIES
    )


@bp.post("/checkins/<int(max=2147483647):checkin_id>/reviews")
@security.console_required
def review(checkin_id):
    form = {key: request.form.get(key, "") for key in ("decision", "reason")}
    args = ReviewCreateSchema().load(form)
    reviews.decide(actor=security.current_user(), checkin_id=checkin_id, **args)
    flash(i18n.translate(f"flags.{args['decision']}", g.lang))
    back = security.safe_next(request.form.get("next"), url_for("console.flag_queue"))
    return redirect(back)
