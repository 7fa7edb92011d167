"""Draws and their proofs, as the API gives them to the jurisdiction."""

import json

from flask import Response, render_template

from schemas.draws import ProofSchema
from server.errors import Conflict
from server.services import draws
from server.web import bp, page_number, security
from server.web.paging import page_of


@bp.get("/draws")
@security.console_required
def draw_list():
    stmt = draws.list_(actor=security.current_user())
    page = page_of(stmt, page_number())
    return render_template("draws.html", page=page)


@bp.get("/draws/<int(max=2147483647):draw_id>")
@security.console_required
def draw_detail(draw_id):
    actor = security.current_user()
    draw = draws.get(actor=actor, draw_id=draw_id)
    try:
        proof = draws.proof(actor=actor, draw_id=draw_id)
    except Conflict as exc:
        if exc.error != "draw_not_revealed":
            raise
        proof = None
    return render_template("draw.html", draw=draw, proof=proof)


@bp.get("/draws/<int(max=2147483647):draw_id>/proof.json")
@security.console_required
def draw_proof(draw_id):
    proof = draws.proof(actor=security.current_user(), draw_id=draw_id)
    body = json.dumps(ProofSchema().dump(proof), ensure_ascii=False, indent=2, sort_keys=True)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="draw-{draw_id}-proof.json"'
    return response
