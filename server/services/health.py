from sqlalchemy import text

from server.extensions import db


def database_ready():
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        db.session.rollback()
        return False
