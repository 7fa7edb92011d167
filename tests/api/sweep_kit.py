"""The authorization sweep's specification tables (test_authorization_sweep.py).

Every operation of the OpenAPI spec is in exactly one place here: an operation whose
path names an object is swept with the objects of PATH_OBJECTS; a GET without one is a
list (LISTS); anything else creates or acts without naming an object in its path
(CREATES, with a body that names world A's objects); and the few operations that need
no token, or touch nothing of a jurisdiction, are in UNSCOPED with the reason.
"""

import io
import json
import re
import zipfile

from tests.api.checkin_kit import device_time, fields, photo_for
from tests.api.sweep_world import MONTH

MISSING = 2147483647  # the largest id a path accepts: never a real row here

# The roles of the sweep's callers, by their label in a side (tests/api/sweep_world.py).
ROLES = {
    "admin": {"admin"},
    "city_reviewer": {"reviewer"},
    "reviewer": {"reviewer"},
    "inspector": {"inspector"},
    "inspector2": {"inspector"},
    "cadre": {"cadre"},
    "other_cadre": {"cadre"},
}
# World B's people, each of whom must find nothing of world A.
OUTSIDERS = ("city_reviewer", "reviewer", "inspector", "cadre")

# Operations only some roles may call at all: anyone else gets 403 role_required,
# whatever the object. This is what the spec documents (checked against it).
GATES = {
    "GET /api/v1/me/challenges": {"cadre"},
    "POST /api/v1/regions": {"admin"},
    "PATCH /api/v1/regions/{region_id}": {"admin"},
    "POST /api/v1/units": {"admin", "reviewer"},
    "PATCH /api/v1/units/{unit_id}": {"admin", "reviewer"},
    "GET /api/v1/users": {"admin", "reviewer"},
    "POST /api/v1/users": {"admin", "reviewer"},
    "PATCH /api/v1/users/{user_id}": {"admin", "reviewer"},
    "POST /api/v1/postings": {"admin", "reviewer"},
    "PATCH /api/v1/postings/{posting_id}": {"admin", "reviewer"},
    "POST /api/v1/households": {"admin", "reviewer"},
    "PATCH /api/v1/households/{household_id}": {"admin", "reviewer"},
    "POST /api/v1/checkins": {"cadre"},
    "POST /api/v1/checkins/batch": {"cadre"},
    "POST /api/v1/imports/roster": {"admin", "reviewer"},
    "GET /api/v1/draws": {"admin", "reviewer"},
    "POST /api/v1/draws": {"admin", "reviewer"},
    "GET /api/v1/draws/{draw_id}": {"admin", "reviewer"},
    "POST /api/v1/draws/{draw_id}/execute": {"admin", "reviewer"},
    "POST /api/v1/draws/{draw_id}/reveal": {"admin", "reviewer"},
    "GET /api/v1/assignments": {"admin", "reviewer", "inspector"},
    "GET /api/v1/assignments/{assignment_id}": {"admin", "reviewer", "inspector"},
    "POST /api/v1/assignments/{assignment_id}/arrival": {"inspector"},
    "POST /api/v1/assignments/{assignment_id}/findings": {"inspector"},
    "POST /api/v1/findings/{finding_id}/signatures": {"inspector"},
    "GET /api/v1/flags": {"admin", "reviewer"},
    "POST /api/v1/checkins/{checkin_id}/reviews": {"admin", "reviewer"},
    "GET /api/v1/me/reviews": {"cadre"},
    "POST /api/v1/policies": {"admin", "reviewer"},
    "PUT /api/v1/calendar/days/{day}": {"admin"},
    "DELETE /api/v1/calendar/days/{day}": {"admin"},
    "POST /api/v1/calendar/years": {"admin"},
    "GET /api/v1/attendance": {"admin", "reviewer"},
    "GET /api/v1/attendance/summary": {"admin", "reviewer"},
    "GET /api/v1/attendance/export": {"admin", "reviewer"},
    "GET /api/v1/attendance/closures": {"admin", "reviewer"},
    "POST /api/v1/attendance/closures": {"admin", "reviewer"},
    "GET /api/v1/attendance/closures/{closure_id}": {"admin", "reviewer"},
    "POST /api/v1/attendance/closures/{closure_id}/reopen": {"admin", "reviewer"},
    "POST /api/v1/leaves": {"cadre"},
    "POST /api/v1/leaves/{leave_id}/decision": {"admin", "reviewer"},
    "POST /api/v1/leaves/{leave_id}/cancel": {"cadre"},
    "POST /api/v1/leaves/{leave_id}/close": {"admin", "reviewer"},
    "POST /api/v1/recommendations/{recommendation_id}/set-aside": {"admin", "reviewer"},
    "GET /api/v1/units/accountability": {"admin", "reviewer"},
    "GET /api/v1/units/{unit_id}/accountability": {"admin", "reviewer"},
    "GET /api/v1/assessments/{year}.xlsx": {"admin", "reviewer"},
    "POST /api/v1/cases": {"admin", "reviewer"},
    "GET /api/v1/me/cases": {"cadre"},
    "POST /api/v1/cases/{case_id}/decisions": {"admin", "reviewer"},
    "GET /api/v1/replacements": {"admin", "reviewer"},
    "POST /api/v1/replacements/{obligation_id}/fulfil": {"admin", "reviewer"},
    "POST /api/v1/problems": {"admin", "reviewer"},
    "GET /api/v1/problems/summary": {"admin", "reviewer"},
    "GET /api/v1/problems/export": {"admin", "reviewer"},
    "POST /api/v1/problems/{problem_id}/verify": {"admin", "reviewer"},
    "POST /api/v1/problems/{problem_id}/reopen": {"admin", "reviewer"},
    "GET /api/v1/audit-events": {"admin"},
    "GET /api/v1/audit-events/verification": {"admin"},
}

# Path parameters that name objects, and which of a side's objects each is tried with
# (labels of Side.objects). Everything else in a path is a value, filled from VALUES.
PATH_OBJECTS = {
    "region_id": ["village"],
    "unit_id": ["unit"],
    "user_id": ["cadre", "inspector", "reviewer"],
    "posting_id": ["posting"],
    "household_id": ["household"],
    "checkin_id": ["checkin", "arrival"],
    "photo_id": ["photo", "arrival_photo", "rectification_photo"],
    "draw_id": ["draw_open", "draw_pending", "draw_committed"],
    "assignment_id": ["assignment_open", "assignment_pending"],
    "finding_id": ["finding_draft", "finding_final"],
    "review_id": ["review"],
    "policy_id": ["policy"],
    "closure_id": ["closure"],
    "leave_id": ["leave"],
    "recommendation_id": ["recommendation"],
    "case_id": ["case"],
    "attachment_id": ["attachment"],  # with its case: /cases/{case_id}/attachments/...
    "obligation_id": ["obligation"],
    "problem_id": ["problem", "problem_draft"],
}
VALUES = {"month": MONTH, "year": "2026", "day": "2026-10-01"}

# Objects whose existence is public: division codes, dispatching units and the policies
# people are held to. Reading them is 200 for everyone; a write outside the caller's
# jurisdiction is 403 out_of_jurisdiction (hiding what anyone may read would be moot).
PUBLIC = {
    "GET /api/v1/regions/{region_id}": (200, None),
    "GET /api/v1/units/{unit_id}": (200, None),
    "PATCH /api/v1/units/{unit_id}": (403, "out_of_jurisdiction"),
    "GET /api/v1/policies/{policy_id}": (200, None),
}


def _photo(seed):
    return [(photo_for(device_time(), seed), "p.jpg")]


def _arrival():
    form = fields(device_id="sweep-phone")
    del form["kind"]
    return {"form": form, "files": {"photos": _photo(901)}}


NOTE = {"json": {"note": "复核。"}}
REASON = {"json": {"reason": "复核。"}}
# A body that passes validation, so that a request reaches the scope check. A callable
# is called for each request (fresh client ids and photos).
BODIES = {
    "PATCH /api/v1/regions/{region_id}": {"json": {"name": "改名村"}},
    "PATCH /api/v1/units/{unit_id}": {"json": {"name": "改名单位"}},
    "PATCH /api/v1/users/{user_id}": {"json": {"name": "改名"}},
    "PATCH /api/v1/postings/{posting_id}": {"json": {"end_date": "2099-12-31"}},
    "PATCH /api/v1/households/{household_id}": {"json": {"head_name": "改名"}},
    "POST /api/v1/draws/{draw_id}/execute": {"json": {"beacon_value": "9"}},
    "POST /api/v1/assignments/{assignment_id}/arrival": _arrival,
    "POST /api/v1/assignments/{assignment_id}/findings": {
        "json": {"outcome": "absent", "observed_at": "2026-06-01T10:00:00+08:00"}
    },
    "POST /api/v1/checkins/{checkin_id}/reviews": {
        "json": {"decision": "rejected", "reason": "复核。"}
    },
    "POST /api/v1/reviews/{review_id}/answer": {"json": {"answer": "我在村里。"}},
    "PUT /api/v1/calendar/days/{day}": {"json": {"working": False, "name": "调休"}},
    "POST /api/v1/attendance/closures/{closure_id}/reopen": REASON,
    "POST /api/v1/leaves/{leave_id}/decision": {
        "json": {"decision": "approved", "reason": "同意。"}
    },
    "POST /api/v1/leaves/{leave_id}/close": {
        "json": {"returned_on": "2099-03-04", "reason": "已返岗。"}
    },
    "POST /api/v1/recommendations/{recommendation_id}/set-aside": REASON,
    "POST /api/v1/cases/{case_id}/answers": {"form": {"kind": "explanation", "text": "说明。"}},
    "POST /api/v1/cases/{case_id}/decisions": {"json": {"measure": "reminder", "reason": "属实。"}},
    "POST /api/v1/replacements/{obligation_id}/fulfil": {"json": {"posting_id": MISSING}},
    "POST /api/v1/problems/{problem_id}/start": NOTE,
    "POST /api/v1/problems/{problem_id}/submit": lambda: {
        "form": {"note": "已整改。"},
        "files": {"photos": _photo(902)},
    },
    "POST /api/v1/problems/{problem_id}/verify": NOTE,
    "POST /api/v1/problems/{problem_id}/reopen": NOTE,
}

# Operations that need no token, or that hold nothing of any jurisdiction.
UNSCOPED = {
    "GET /healthz": "liveness probe for the load balancer: no data",
    "GET /readyz": "readiness probe: says only whether the database answers",
    "POST /api/v1/auth/login": "how a token is obtained",
    "POST /api/v1/auth/refresh": "authenticated by the refresh token in its body",
    "POST /api/v1/auth/logout": "ends the caller's own log-in",
    "GET /api/v1/calendar": "the State Council's national calendar: the same for everyone",
    "GET /api/v1/calendar/years": "which years have a national calendar",
    "POST /api/v1/calendar/years": "national calendar, admins only (GATES)",
    "PUT /api/v1/calendar/days/{day}": "national calendar, admins only (GATES)",
    "DELETE /api/v1/calendar/days/{day}": "national calendar, admins only (GATES)",
    "POST /api/v1/regions": "public reference data, admins only (GATES)",
}
# The subset that needs no token at all.
NO_TOKEN = {
    "GET /healthz",
    "GET /readyz",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/refresh",
}


def operations(spec):
    """'METHOD /path' -> the operation's spec, for every operation."""
    return {
        f"{method.upper()} {path}": operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    }


def path_params(op):
    return re.findall(r"\{([^}]+)\}", op)


def object_params(op):
    return [p for p in path_params(op) if p in PATH_OBJECTS]


def documented_403(operation):
    return operation.get("responses", {}).get("403", {}).get("description", "")


def documented_gate(operation):
    """The roles a spec operation's 403 names (auth.required documents them first)."""
    found = re.match(r"Needs one of the roles: ([^.]*)\.", documented_403(operation))
    return set(found.group(1).split(", ")) if found else None


def concrete(op, ids):
    """The path of `op` with object params from `ids` (name -> id) and VALUES."""
    method, path = op.split(" ", 1)
    values = {**VALUES, **ids}
    return method, re.sub(r"\{([^}]+)\}", lambda m: str(values[m.group(1)]), path)


def send(client, op, ids, headers=None, query=None, body=None):
    """One request of `op`; the body is BODIES' unless given."""
    method, path = concrete(op, ids)
    body = body if body is not None else BODIES.get(op)
    body = body() if callable(body) else (body or {})
    kwargs = {"method": method, "headers": headers or {}, "query_string": query}
    if "json" in body:
        kwargs["json"] = body["json"]
    elif "form" in body:
        data = dict(body["form"])
        for name, files in body.get("files", {}).items():
            data[name] = [(io.BytesIO(content), filename) for content, filename in files]
        kwargs.update(data=data, content_type="multipart/form-data")
    return client.open(path, **kwargs)


def documents(response):
    """The JSON a response holds: its body, or each JSON member of a zip (a bundle)."""
    data = response.get_data()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if n.endswith(".json")]
            return [json.loads(archive.read(name)) for name in names]
    return [response.get_json(silent=True)]


def text_of(response):
    """Everything a response says, as text: JSON with its Chinese unescaped, and the
    members of a zip (XLSX sheets, evidence bundles) unpacked."""
    data = response.get_data()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "\n".join(
                archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
            )
    if response.is_json:
        return json.dumps(response.get_json(), ensure_ascii=False)
    return data.decode("utf-8", "replace")
