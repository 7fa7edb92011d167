import logging

from sqlalchemy import text

from server.extensions import db

log = logging.getLogger(__name__)


def database_ready():
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        log.warning("readiness: database not reachable", exc_info=True)
        db.session.rollback()
        return False
