"""The audit log is append-only and hash-chained: tampering is detected at the first
touched row, both by the service, by `flask audit verify` and over HTTP."""

import pytest
from sqlalchemy import text

from server.extensions import db
from server.models import AuditEvent
from server.models.audit import GENESIS_HASH
from server.services import audit


@pytest.fixture
def chain(world):
    for n in range(5):
        audit.record("test.event", world.village_a1, actor=world.admin, summary={"n": n})
    db.session.flush()
    return db.session.execute(db.select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()


def test_events_link_to_their_predecessor(chain):
    assert chain[0].prev_hash == GENESIS_HASH
    for before, after in zip(chain, chain[1:], strict=False):
        assert after.seq == before.seq + 1
        assert after.prev_hash == before.hash
    assert audit.verify_chain() == (5, None, None)


def behind_the_apps_back(sql, **params):
    db.session.execute(text(sql), params)
    db.session.expire_all()


def test_editing_a_row_is_detected_at_that_row(chain):
    behind_the_apps_back("UPDATE audit_event SET summary = :s WHERE seq = 3", s='{"n": 99}')
    count, broken, reason = audit.verify_chain()
    assert broken == 3 and "hash" in reason


def test_recomputing_the_edited_rows_hash_still_breaks_the_link(chain):
    edited = chain[2]
    edited.summary = {"n": 99}
    edited.hash = audit.event_hash(edited)
    db.session.flush()
    assert audit.verify_chain()[1] == 4


def test_deleting_a_row_is_detected(chain):
    behind_the_apps_back("DELETE FROM audit_event WHERE seq = 2")
    assert audit.verify_chain()[1:] == (2, "event 2 is missing")


def test_the_chain_cannot_fork(chain, world):
    from sqlalchemy.exc import IntegrityError

    twin = AuditEvent(
        seq=99,
        at=chain[0].at,
        action="x",
        object_type="x",
        summary={},
        prev_hash=chain[-1].prev_hash,
        hash="f" * 64,
    )
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(twin)
        db.session.flush()


def test_cli_verify_reports_ok_then_broken(app, chain):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "OK: 5 events" in ok.output
    behind_the_apps_back("UPDATE audit_event SET action = 'forged' WHERE seq = 4")
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1 and "event 4" in broken.output


def test_http_verification_for_admins(client, chain, world, make):
    behind_the_apps_back("UPDATE audit_event SET actor_id = NULL WHERE seq = 1")
    body = client.get("/api/v1/audit-events/verification", headers=make.headers(world.admin)).json
    assert body["ok"] is False and body["first_broken_seq"] == 1


def test_requests_stamp_their_request_id(client, world, make):
    client.patch(
        f"/api/v1/units/{world.unit_a.id}",
        json={"name": "新名字"},
        headers={**make.headers(world.admin), "X-Request-ID": "req-12345678"},
    )
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "unit.update")
    ).scalar_one()
    assert event.request_id == "req-12345678"
    assert event.actor_id == world.admin.id


def test_listing_newest_first_with_filters(client, chain, world, make):
    listed = client.get(
        "/api/v1/audit-events?action=test.event", headers=make.headers(world.admin)
    ).json
    assert [e["seq"] for e in listed] == [5, 4, 3, 2, 1]


def test_cutting_the_newest_events_is_caught_against_a_recorded_head(app, chain):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["audit", "verify"])
    recorded = first.output.strip().splitlines()[-1].removeprefix("head: ")
    assert recorded.startswith("5:")
    behind_the_apps_back("DELETE FROM audit_event WHERE seq >= 4")
    # The shorter chain is still a valid chain...
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    # ...but not against the head written down before.
    cut = runner.invoke(args=["audit", "verify", "--head", recorded])
    assert cut.exit_code == 1 and "cut short" in cut.output


def test_http_verification_is_for_admins_only(client, world, make):
    for user in (world.city_reviewer, world.inspector_a, world.cadre_a):
        response = client.get("/api/v1/audit-events/verification", headers=make.headers(user))
        assert response.status_code == 403
    body = client.get("/api/v1/audit-events/verification", headers=make.headers(world.admin)).json
    assert body["ok"] is True and body["head_seq"] == body["events"]
