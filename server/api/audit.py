from flask.views import MethodView

from schemas.audit import AuditEventSchema, AuditQuerySchema, AuditVerificationSchema
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import audit

blp = Blueprint(
    "audit", __name__, url_prefix="/api/v1/audit-events", description="The hash-chained audit log"
)


@blp.route("")
class AuditEvents(MethodView):
    @auth.required("admin")
    @blp.arguments(AuditQuerySchema, location="query")
    @blp.response(200, AuditEventSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """List audit events, newest first (admins)"""
        return audit.list_(actor=auth.current_user(), **args)


@blp.route("/verification")
class AuditVerification(MethodView):
    @auth.required("admin")
    @blp.response(200, AuditVerificationSchema)
    def get(self):
        """Recompute the hash chain and name the first broken event, if any (admins)"""
        return audit.verification()
