"""The production entry point: `gunicorn --config gunicorn.conf.py wsgi:app`.

Configuration comes from the environment (APP_CONFIG=production by default here): the
app refuses to start without a real SECRET_KEY and a DATABASE_URL."""

import os

from server import create_app

os.environ.setdefault("APP_CONFIG", "production")
app = create_app()
