"""Creations that name world A's objects in their body, for the authorization sweep
(test_authorization_sweep.py): each answers world B as if those objects did not exist.

An entry is (operation, body for a value, world A's value, expected). Expected None:
exactly the answer for an id that does not exist; otherwise the (status, error) for a
public division code outside the caller's jurisdiction. `own` is the caller's side.
"""

import json
import re
import uuid
from datetime import datetime

from tests.api.checkin_kit import fields, photo_for


def _json(make):
    return lambda own, ref: {"json": make(own, ref)}


def _posting(own, cadre_id, village_code):
    return {
        "cadre_id": cadre_id,
        "village_code": village_code,
        "unit_id": own.objects["unit"],
        "role": "team_member",
        "start_date": "2099-01-01",
    }


def _visit(own, **refs):
    """A check-in at the caller's village; the same client id every time, so that two
    answers differ only in what the reference changes."""
    village = own.village_position
    client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sweep-{own.tag}"))
    return fields(
        latitude=village[0], longitude=village[1], device_id="sweep", client_id=client_id, **refs
    )


def _checkin(own, ref, name):
    kind = "household_visit" if name == "household_id" else "presence"
    form = _visit(own, kind=kind, **{name: ref})
    photo = photo_for(datetime.fromisoformat(form["captured_at"]), 903, *own.village_position)
    return {"form": form, "files": {"photos": [(photo, "p.jpg")]}}


def _batch(own, ref):
    item = _visit(own, kind="household_visit", household_id=ref)
    return {"form": {"items": json.dumps([item])}}


def _roster(own, ref):
    header = "name,phone,unit_name,village_code,role,start_date\n"
    line = f"新队员,13700000009,派出单位Side{own.tag},{ref},team_member,2026-12-01\n"
    return {"form": {}, "files": {"file": [((header + line).encode(), "roster.csv")]}}


OUT = (403, "out_of_jurisdiction")
CREATES = [
    (
        "POST /api/v1/units",
        _json(lambda own, ref: {"name": "新单位", "level": "county", "region_code": ref}),
        "county",
        OUT,
    ),
    (
        "POST /api/v1/users",
        _json(
            lambda own, ref: {
                "name": "新督查",
                "phone": "13700000001",
                "roles": ["inspector"],
                "jurisdiction_code": ref,
            }
        ),
        "county",
        OUT,
    ),
    (
        "POST /api/v1/postings",
        _json(lambda own, ref: _posting(own, ref, own.codes["village2"])),
        "cadre",
        None,
    ),
    (
        "POST /api/v1/postings",
        _json(lambda own, ref: _posting(own, own.users["other_cadre"], ref)),
        "village2",
        OUT,
    ),
    (
        "POST /api/v1/households",
        _json(
            lambda own, ref: {
                "village_code": own.codes["village"],
                "code": "H9999",
                "head_name": "户主",
                "cadre_ids": [ref],
            }
        ),
        "cadre",
        None,
    ),
    (
        "POST /api/v1/households",
        _json(lambda own, ref: {"village_code": ref, "code": "H9999", "head_name": "户主"}),
        "village",
        OUT,
    ),
    (
        "POST /api/v1/checkins",
        lambda own, ref: _checkin(own, ref, "household_id"),
        "household",
        None,
    ),
    (
        "POST /api/v1/checkins",
        lambda own, ref: _checkin(own, ref, "challenge_id"),
        "challenge_issued",
        None,
    ),
    ("POST /api/v1/checkins/batch", _batch, "household", None),
    ("POST /api/v1/imports/roster", _roster, "village", (422, "roster_invalid")),
    (
        "POST /api/v1/draws",
        _json(
            lambda own, ref: {
                "scope_code": ref,
                "count": 1,
                "window_start": "2026-01-01T00:00:00+08:00",
                "window_end": "2099-01-01T00:00:00+08:00",
                "beacon_spec": {"source": "sweep"},
            }
        ),
        "county",
        OUT,
    ),
    (
        "POST /api/v1/policies",
        _json(
            lambda own, ref: {
                "region_code": ref,
                "effective_from": "2099-01-01",
                "rules": {"attendance": {"min_days_per_month": 18}},
                "reason": "sweep",
            }
        ),
        "county",
        OUT,
    ),
    (
        "POST /api/v1/attendance/closures",
        _json(lambda own, ref: {"region_code": ref, "month": "2026-04"}),
        "county",
        OUT,
    ),
    (
        "POST /api/v1/leaves",
        _json(
            lambda own, ref: {
                "kind": "leave",
                "start_date": "2099-05-04",
                "end_date": "2099-05-05",
                "reason": "事假",
                "posting_id": ref,
            }
        ),
        "posting",
        None,
    ),
    (
        "POST /api/v1/cases",
        _json(
            lambda own, ref: {"posting_id": ref, "proposed_measure": "talk", "summary": "反映。"}
        ),
        "posting",
        None,
    ),
    (
        "POST /api/v1/cases",
        _json(lambda own, ref: {"recommendation_id": ref}),
        "recommendation",
        None,
    ),
    (
        "POST /api/v1/problems",
        _json(
            lambda own, ref: {
                "village_code": ref,
                "category": "驻村管理",
                "description": "缺失。",
                "deadline": "2099-01-01",
            }
        ),
        "village",
        OUT,
    ),
    (
        "POST /api/v1/problems",
        _json(
            lambda own, ref: {
                "village_code": own.codes["village"],
                "posting_id": ref,
                "category": "驻村管理",
                "description": "缺失。",
                "deadline": "2099-01-01",
            }
        ),
        "posting",
        None,
    ),
]


def answer_without(response, value):
    """A JSON answer with the value it was given replaced: "no cadre with id 6" and "no
    cadre with id 2147483647" say the same."""
    text = json.dumps(response.get_json(), ensure_ascii=False)
    return re.sub(rf"\b{re.escape(str(value))}\b", "{ref}", text)


def reference(a, label):
    """World A's value for a label: a division code or an object id."""
    return a.codes.get(label) or a.objects[label]
