from flask.views import MethodView

from server.api.blueprint import Blueprint
from server.errors import AppError
from server.services import health

blp = Blueprint("health", __name__, description="Liveness and readiness probes")


class NotReady(AppError):
    status_code = 503
    error = "not_ready"
    message = "The database is not reachable."
    message_zh = "数据库无法连接。"


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200)
    def get(self):
        """The process is up"""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200)
    def get(self):
        """The database answers"""
        if not health.database_ready():
            raise NotReady()
        return {"status": "ready"}
