"""World A's and B's inspections for the authorization sweep (sweep_world.py builds the
rest): the cadre's township holds only the cadre's posting, so every draw scoped to it
picks the cadre. What is still pending for the cadre goes into `Side.pending`."""

import json

from server.extensions import db
from server.models import Assignment, Challenge, Draw
from tests.api.sweep_world import checkin, ok

OPEN_WINDOW = ("2026-01-01T00:00:00+08:00", "2099-01-01T00:00:00+08:00")
LATER_WINDOW = ("2098-01-01T00:00:00+08:00", "2099-01-01T00:00:00+08:00")
PAST_WINDOW = ("2026-01-01T00:00:00+08:00", "2026-01-02T00:00:00+08:00")


def _draw(client, side, beacon, window, kind="visit", execute=True):
    body = {
        "scope_code": side.codes["township"],
        "kind": kind,
        "count": 1,
        "team_size": 2 if kind == "visit" else 0,
        "window_start": window[0],
        "window_end": window[1],
        # The same team visits the same village again (the sweep needs several visits).
        "recusal": {"recent_villages": False},
        "beacon_spec": {"source": f"Side{side.tag}-{beacon}"},
    }
    reviewer = side.headers("reviewer")
    draw = ok(client.post("/api/v1/draws", json=body, headers=reviewer))
    if execute:
        url = f"/api/v1/draws/{draw['id']}/execute"
        draw = ok(client.post(url, json={"beacon_value": "7"}, headers=reviewer))
    assignment = db.session.execute(
        db.select(Assignment.id).where(Assignment.draw_id == draw["id"])
    ).scalar()
    return draw, assignment


def _finding(client, side, assignment, note, sign=False):
    body = {
        "outcome": "present",
        "observed_at": "2026-06-01T10:00:00+08:00",
        "notes": note,
        "problems": [
            {"category": "驻村管理", "description": note, "deadline": "2099-01-01"},
        ],
    }
    url = f"/api/v1/assignments/{assignment}/findings"
    finding = ok(client.post(url, json=body, headers=side.headers("inspector")))
    if sign:
        url = f"/api/v1/findings/{finding['id']}/signatures"
        finding = ok(client.post(url, headers=side.headers("inspector2")))
    return finding


def inspections(client, side):
    """An open visit with the team's arrival and a draft finding; a closed one (final
    finding); a visit whose window opens in 2098; a draw not executed; a roll-call
    issued (its window is over) and one scheduled."""
    objects, pending = side.objects, side.pending
    tag = side.tag
    draw_open, objects["assignment_open"] = _draw(client, side, "open", OPEN_WINDOW)
    # The team at the village: its arrival, and a finding not yet co-signed.
    arrival, form = checkin(
        client,
        side,
        seed=20 + ord(side.tag),
        url=f"/api/v1/assignments/{objects['assignment_open']}/arrival",
        headers=side.headers("inspector"),
        note=f"ARRIVAL-Side{tag}",
    )
    objects.update(arrival=arrival["id"], arrival_photo=arrival["photos"][0]["id"])
    draft = _finding(client, side, objects["assignment_open"], f"DRAFT-FINDING-Side{tag}")
    objects.update(finding_draft=draft["id"], problem_draft=draft["problems"][0]["id"])
    _, objects["assignment_final"] = _draw(client, side, "final", OPEN_WINDOW)
    final = _finding(client, side, objects["assignment_final"], f"FINAL-Side{tag}", sign=True)
    objects["finding_final"] = final["id"]
    draw_later, objects["assignment_pending"] = _draw(client, side, "later", LATER_WINDOW)
    draw_committed, _ = _draw(client, side, "committed", OPEN_WINDOW, execute=False)
    rollcall_later, scheduled = _draw(client, side, "rollcall-later", LATER_WINDOW, kind="rollcall")
    rollcall_past, _ = _draw(client, side, "rollcall-past", PAST_WINDOW, kind="rollcall")
    objects.update(
        draw_open=draw_open["id"],
        draw_pending=draw_later["id"],
        draw_committed=draw_committed["id"],
        rollcall_pending=rollcall_later["id"],
        rollcall_issued=rollcall_past["id"],
    )
    challenges = {
        draw: challenge
        for draw, challenge in db.session.execute(
            db.select(Assignment.draw_id, Challenge.id).join(
                Assignment, Assignment.id == Challenge.assignment_id
            )
        )
    }
    objects["challenge_issued"] = challenges[rollcall_past["id"]]
    draws = [draw_open, draw_later, draw_committed, rollcall_later]
    frames = db.session.execute(db.select(Draw.frame).where(Draw.id.in_([d["id"] for d in draws])))
    pseudonyms = {t["id"] for (frame,) in frames for t in json.loads(frame)["targets"]}
    pending.update(
        assignment={objects["assignment_open"], objects["assignment_pending"], scheduled},
        draw={d["id"] for d in draws},
        finding={draft["id"]},
        challenge={challenges[rollcall_later["id"]]},
        problem={objects["problem_draft"]},
        checkin={objects["arrival"]},
        photo={objects["arrival_photo"]},
        # Texts, hashes and pseudonyms that only the pending records hold.
        strings={
            f"DRAFT-FINDING-Side{tag}",
            f"ARRIVAL-Side{tag}",
            form["client_id"],
            *(d["frame_hash"] for d in draws),
            *(d["commitment"] for d in draws if d["commitment"]),
            *pseudonyms,
        },
    )
