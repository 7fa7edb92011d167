"""Dispatching units held to account: the ranking of the units in scope for a period,
and one unit's months (closed snapshot or live ledger, and which). The same service as
/api/v1/units/accountability, so the page and the API cannot disagree."""

from flask import render_template

from schemas.accountability import AccountabilityQuerySchema, UnitRankingQuerySchema
from server.services import accountability, regions
from server.web import bp, query_args, security
from server.web.paging import page_of


@bp.get("/units/accountability")
@security.console_required
def unit_ranking():
    actor = security.current_user()
    args = query_args(UnitRankingQuerySchema)
    found = accountability.ranking(actor=actor, **args)
    return render_template(
        "unit_ranking.html",
        args=args,
        found=found,
        period={"from": found["from"], "to": found["to"]},
        regions=_subdivisions(actor),
        statuses=accountability.STATUSES,
    )


@bp.get("/units/<int(max=2147483647):unit_id>/accountability")
@security.console_required
def unit_accountability(unit_id):
    args = query_args(AccountabilityQuerySchema)
    found = accountability.unit_report(actor=security.current_user(), unit_id=unit_id, **args)
    return render_template(
        "unit_accountability.html",
        found=found,
        unit=found["unit"],
        period={"from": found["from"], "to": found["to"]},
        statuses=accountability.STATUSES,
    )


def _subdivisions(actor):
    """The regions one level below the reviewer's jurisdiction (provinces for an admin
    without one): the choices for narrowing the ranking. A few dozen at most."""
    if actor.jurisdiction is None:
        stmt = regions.list_(actor=actor, level="province")
    else:
        stmt = regions.list_(actor=actor, parent=actor.jurisdiction.code)
    return page_of(stmt, 1).items
