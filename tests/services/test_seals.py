"""A check-in's seal: recorded in its audit event at submission, it is what the exported
record gives back after the database round trip (on both databases), it changes when a
sealed column is edited behind the application's back, and the stand-alone verifier
computes it the same way from the same columns."""

from datetime import timedelta

from server.extensions import db
from server.models import AuditEvent, Checkin
from server.services import seals
from server.services.bundle_records import row
from server.tools import bundle_checks
from tests.api.checkin_kit import device_time, submit


def submitted(client, make, world, **overrides):
    response = submit(client, make.headers(world.cadre_a), **overrides)
    assert response.status_code == 201, response.json
    event = db.session.scalars(
        db.select(AuditEvent).where(
            AuditEvent.action == "checkin.submit", AuditEvent.object_id == str(response.json["id"])
        )
    ).one()
    return response.json["id"], event.summary["seal"]


def exported(checkin_id):
    """The record as an evidence bundle writes it, read afresh from the database."""
    db.session.expire_all()
    return row(db.session.get(Checkin, checkin_id))


def test_the_seal_of_the_submission_is_the_seal_of_the_stored_record(client, make, world):
    # Device time with a non-zero second fraction and an offset other than UTC, a note
    # in Chinese, an altitude, a mock-location answer: every kind of value round-trips.
    at = device_time() - timedelta(minutes=5, microseconds=-123_456)
    checkin_id, seal = submitted(
        client, make, world, captured_at=at, note="村委会门口", altitude_m=31.5,
        mock_location="false",
    )  # fmt: skip
    record = exported(checkin_id)
    assert set(seal) == {"columns", "position"}
    assert bundle_checks.checkin_seal(record) == seal
    assert seals.checkin_seal(db.session.get(Checkin, checkin_id)) == seal


def test_an_edit_behind_the_application_s_back_breaks_the_seal(client, make, world):
    checkin_id, seal = submitted(client, make, world)
    checkin = db.session.get(Checkin, checkin_id)
    checkin.latitude += 0.01  # moved into (or out of) the geofence
    db.session.commit()
    after = bundle_checks.checkin_seal(exported(checkin_id))
    assert after["position"] != seal["position"] and after["columns"] == seal["columns"]
    checkin = db.session.get(Checkin, checkin_id)
    checkin.captured_at -= timedelta(hours=1)
    db.session.commit()
    assert bundle_checks.checkin_seal(exported(checkin_id))["columns"] != seal["columns"]


def test_the_verifier_seals_the_same_columns_as_the_server():
    assert bundle_checks.CHECKIN_SEALED == seals.CHECKIN_SEALED
    assert bundle_checks.CHECKIN_POSITION == seals.CHECKIN_POSITION
    sealed = set(seals.CHECKIN_SEALED) | set(seals.CHECKIN_POSITION)
    # What is left out changes legitimately after submission (or is the row's id).
    left_out = {column.key for column in Checkin.__mapper__.column_attrs} - sealed
    assert left_out == {"id", "verdict", "distance_m", "review_decision", "purged_at"}
