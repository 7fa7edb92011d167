from flask import Response
from flask.views import MethodView

from server import auth
from server.api.blueprint import Blueprint
from server.services import bundles

blp = Blueprint(
    "bundles", __name__, url_prefix="/api/v1/cases", description="Evidence bundles of cases"
)


@blp.route("/<int(max=2147483647):case_id>/evidence.zip")
class CaseEvidenceBundle(MethodView):
    @auth.required()
    @blp.response(200, {"type": "string", "format": "binary"}, content_type="application/zip")
    @blp.alt_response(404, description="No such case visible to you")
    @blp.alt_response(409, description="Too large to build on request (bundle_too_large)")
    def get(self, case_id):
        """A case's evidence bundle: records, original photos, audit entries, manifest"""
        bundle = bundles.evidence_zip(actor=auth.current_user(), case_id=case_id)
        response = Response(bundle.data, mimetype="application/zip")
        response.headers["Content-Disposition"] = f'attachment; filename="{bundle.filename}"'
        # The hash the audit log recorded for this very bundle (event case.bundle).
        response.headers["X-Manifest-SHA256"] = bundle.manifest_sha256
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
