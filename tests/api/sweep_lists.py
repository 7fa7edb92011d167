"""The sweep's lists, and how a response is searched for another side's rows
(test_authorization_sweep.py; the id tables are in sweep_kit.py)."""

from server.extensions import db
from server.models import (
    Assignment,
    Case,
    Challenge,
    Checkin,
    CheckinReview,
    Draw,
    Finding,
    Flag,
    Household,
    Leave,
    MonthClosure,
    Photo,
    Posting,
    Problem,
    Recommendation,
    Rectification,
    Region,
    ReplacementObligation,
)
from server.models.regions import subtree_prefix
from tests.api.sweep_kit import MONTH, documents, text_of

# GET operations without an object in the path, and the kind of their rows ("id" of a
# top-level row); None: no rows with ids (a report or a file), searched as text.
# Public reference data (regions, units, policies) are read by everyone.
LISTS = {
    "GET /api/v1/me": "user",
    "GET /api/v1/me/challenges": "challenge",
    "GET /api/v1/me/reviews": "review",
    "GET /api/v1/me/cases": "case",
    "GET /api/v1/users": "user",
    "GET /api/v1/postings": "posting",
    "GET /api/v1/households": "household",
    "GET /api/v1/checkins": "checkin",
    "GET /api/v1/draws": "draw",
    "GET /api/v1/assignments": "assignment",
    "GET /api/v1/findings": "finding",
    "GET /api/v1/flags": "flag",
    "GET /api/v1/attendance": None,
    "GET /api/v1/attendance/summary": None,
    "GET /api/v1/attendance/export": None,
    "GET /api/v1/attendance/closures": "closure",
    "GET /api/v1/leaves": "leave",
    "GET /api/v1/recommendations": "recommendation",
    "GET /api/v1/units/accountability": None,
    "GET /api/v1/assessments/{year}.xlsx": None,
    "GET /api/v1/cases": "case",
    "GET /api/v1/replacements": "obligation",
    "GET /api/v1/problems": "problem",
    "GET /api/v1/problems/summary": None,
    "GET /api/v1/problems/export": None,
    "GET /api/v1/audit-events": None,
    "GET /api/v1/audit-events/verification": None,
}
PUBLIC_LISTS = {
    "GET /api/v1/regions": "division codes are public reference data",
    "GET /api/v1/units": "dispatching units are public",
    "GET /api/v1/policies": "the rules people are held to are public",
    "GET /api/v1/policies/in-force": "the rules people are held to are public",
}

# Query values that point into world A, by parameter name (given a side).
POINTERS = {
    "within": lambda a: a.codes["county"],
    "region_code": lambda a: a.codes["county"],
    "region": lambda a: a.codes["county"],
    "parent": lambda a: a.codes["county"],
    "posting_id": lambda a: a.objects["posting"],
    "cadre_id": lambda a: a.objects["cadre"],
    "unit_id": lambda a: a.objects["unit"],
    "unit": lambda a: a.objects["unit"],
    "assignment_id": lambda a: a.objects["assignment_open"],
    "finding_id": lambda a: a.objects["finding_draft"],
    "actor_id": lambda a: a.objects["cadre"],
    "object_id": lambda a: str(a.objects["posting"]),
}
# Pointers naming hidden objects: a filter on one answers as a filter on none that exists.
HIDDEN_POINTERS = {"posting_id", "cadre_id", "assignment_id", "finding_id", "actor_id", "object_id"}
# Values for required parameters, and for free ones no pointer covers.
REQUIRED = {"month": MONTH, "date": "2026-03-02", "region_code": "340000000000"}


def variants(operation, a):
    """Query strings for a list: the bare one (required values only), one per pointer
    into world A, and one per value of every enumerated parameter."""
    params = [p for p in operation.get("parameters", []) if p["in"] == "query"]
    base = {p["name"]: REQUIRED[p["name"]] for p in params if p.get("required")}
    base["page_size"] = 200
    found = [dict(base)]
    for param in params:
        name = param["name"]
        if name in POINTERS:
            found.append({**base, name: POINTERS[name](a)})
        for value in param["schema"].get("enum", []):
            found.append({**base, name: value})
    return found


def rows_of(side):
    """Every row of world `side`, by kind: what no one outside it may be shown."""
    prefix = subtree_prefix(side.codes["county"])
    places = db.select(Region.id).where(Region.code.startswith(prefix))
    postings = db.select(Posting.id).where(Posting.village_id.in_(places))
    checkins = db.select(Checkin.id).where(Checkin.village_id.in_(places))
    assignments = db.select(Assignment.id).where(Assignment.village_id.in_(places))
    problems = db.select(Problem.id).where(Problem.village_id.in_(places))
    rectifications = db.select(Rectification.id).where(Rectification.problem_id.in_(problems))
    queries = {
        "posting": postings,
        "household": db.select(Household.id).where(Household.village_id.in_(places)),
        "checkin": checkins,
        "photo": db.select(Photo.id).where(
            Photo.checkin_id.in_(checkins) | Photo.rectification_id.in_(rectifications)
        ),
        "flag": db.select(Flag.id).where(Flag.checkin_id.in_(checkins)),
        "review": db.select(CheckinReview.id).where(CheckinReview.checkin_id.in_(checkins)),
        "draw": db.select(Draw.id).where(Draw.scope_id.in_(places)),
        "assignment": assignments,
        "finding": db.select(Finding.id).where(Finding.assignment_id.in_(assignments)),
        "challenge": db.select(Challenge.id).where(Challenge.assignment_id.in_(assignments)),
        "leave": db.select(Leave.id).where(Leave.posting_id.in_(postings)),
        "closure": db.select(MonthClosure.id).where(MonthClosure.region_id.in_(places)),
        "problem": problems,
        "recommendation": db.select(Recommendation.id).where(
            Recommendation.posting_id.in_(postings)
        ),
        "case": db.select(Case.id).where(Case.posting_id.in_(postings)),
        "obligation": db.select(ReplacementObligation.id).where(
            ReplacementObligation.recalled_posting_id.in_(postings)
        ),
    }
    found = {kind: set(db.session.execute(q).scalars()) for kind, q in queries.items()}
    found["user"] = set(side.users.values())
    return found


# Which kind of id a key holds: "<kind>_id" or "..._<kind>_id"; people under many names.
KEY_KINDS = {
    **{k: k for k in ("posting", "checkin", "photo", "draw", "assignment", "finding")},
    **{k: k for k in ("review", "leave", "closure", "problem", "recommendation", "case")},
    **{k: k for k in ("household", "challenge", "flag", "obligation")},
    **dict.fromkeys(("cadre", "user", "inspector", "actor", "by"), "user"),
}
USER_LISTS = {"inspector_ids", "signed_by", "other_cadre_ids", "cadre_ids"}


def _kind_of(key):
    if key in USER_LISTS:
        return "user"
    if key.endswith("_id"):
        return KEY_KINDS.get(key[:-3].rsplit("_", 1)[-1])
    return None


def referenced(body, row_kind=None):
    """(kind, id) for every id a JSON body names under a key that says its kind, and
    for the "id" of each top-level row of a list of `row_kind`."""
    found = set()

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                kind = _kind_of(key)
                ids = item if isinstance(item, list) else [item]
                if kind:
                    found.update((kind, i) for i in ids if isinstance(i, int))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(body)
    rows = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    if row_kind:
        found.update((row_kind, r["id"]) for r in rows if isinstance(r, dict) and "id" in r)
    return found


def leaks(response, row_kind, rows, tag):
    """What of world A (`rows` by kind, texts tagged `tag`) a response shows."""
    named = set().union(*(referenced(doc, row_kind) for doc in documents(response)))
    found = sorted(f"{kind} {i}" for kind, i in named if i in rows.get(kind, ()))
    if tag in text_of(response):
        found.append(f"text tagged {tag}")
    return found
