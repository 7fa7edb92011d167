"""HTTP API: flask-smorest blueprints, one module per resource."""

from server.api import (
    accountability,
    assessment,
    assignments,
    attendance,
    audit,
    auth,
    bundles,
    calendar,
    cases,
    checkins,
    draws,
    findings,
    flags,
    health,
    households,
    imports,
    leaves,
    photos,
    policies,
    postings,
    problems,
    recommendations,
    regions,
    replacements,
    reviews,
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
    flags.blp,
    reviews.blp,
    policies.blp,
    calendar.blp,
    attendance.blp,
    leaves.blp,
    recommendations.blp,
    accountability.blp,
    assessment.blp,
    cases.blp,
    replacements.blp,
    problems.blp,
    audit.blp,
    bundles.blp,
]


def register_api(app):
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
