"""HTTP API: flask-smorest blueprints, one module per resource."""

from server.api import (
    assignments,
    audit,
    auth,
    checkins,
    draws,
    findings,
    health,
    households,
    imports,
    photos,
    postings,
    regions,
    units,
    users,
)
from server.extensions import api

BLUEPRINTS = [
    health.blp,
    auth.blp,
    regions.blp,
    units.blp,
    users.blp,
    postings.blp,
    households.blp,
    checkins.blp,
    photos.blp,
    imports.blp,
    draws.blp,
    assignments.blp,
    findings.blp,
    audit.blp,
]


def register_api(app):
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
