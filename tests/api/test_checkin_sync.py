"""Offline sync: batches answered item by item, and resends racing each other."""

import hashlib
import io
import json
import threading
import uuid
from datetime import datetime, timedelta

import pytest

from server import storage
from server.extensions import db
from server.models import Checkin, Photo
from server.services import verification
from tests.api.checkin_kit import device_time, fields, photo_for


def batch(client, headers, items, files):
    body = {
        "items": json.dumps(items),
        "photos": [(io.BytesIO(data), f"IMG_{i}.jpg") for i, data in enumerate(files)],
    }
    return client.post(
        "/api/v1/checkins/batch", data=body, headers=headers, content_type="multipart/form-data"
    )


def queued(n, start_hours_ago=30):
    """n check-ins made offline over the last day and a bit, an hour apart."""
    items, files = [], []
    for i in range(n):
        at = device_time(-timedelta(hours=start_hours_ago - i))
        item = fields(captured_at=at)
        for key in ("latitude", "longitude", "accuracy_m"):
            item[key] = float(item[key])
        item["photo_indexes"] = [len(files)]
        files.append(photo_for(at, seed=100 + i))
        items.append(item)
    return items, files


def test_a_queue_syncs_in_one_batch(client, world, make):
    headers = make.headers(world.cadre_a)
    items, files = queued(5)
    response = batch(client, headers, items, files)
    assert response.status_code == 200
    results = response.json["results"]
    assert [r["status"] for r in results] == [201] * 5
    assert [r["client_id"] for r in results] == [i["client_id"] for i in items]
    assert all(r["checkin"]["verdict"] == "accepted" for r in results), results
    # Sending the same queue again (the phone never saw the answer) changes nothing.
    again = batch(client, headers, items, files).json["results"]
    assert [r["status"] for r in again] == [200] * 5
    assert [r["checkin"]["id"] for r in again] == [r["checkin"]["id"] for r in results]
    assert db.session.execute(db.select(db.func.count(Checkin.id))).scalar_one() == 5


def test_one_bad_item_does_not_hold_back_the_others(client, world, make):
    items, files = queued(3)
    items[1]["photo_indexes"] = [7]
    files[2] = b"GIF89a not welcome"
    results = batch(client, make.headers(world.cadre_a), items, files).json["results"]
    assert [r["status"] for r in results] == [201, 422, 415]
    assert results[1]["error"]["error"] == "photo_index_out_of_range"
    assert results[2]["error"]["error"] == "photo_unsupported_format"
    assert db.session.execute(db.select(db.func.count(Checkin.id))).scalar_one() == 1
    assert db.session.execute(db.select(db.func.count(Photo.id))).scalar_one() == 1


def test_an_unexpected_failure_of_one_item_is_answered_500_and_leaves_nothing(
    client, world, make, monkeypatch, caplog
):
    """A bug met by one queued check-in (here: a rule that raises) must not wedge the
    phone's queue: that item is answered 500, with neither its row nor its photo kept,
    and the items after it are recorded."""
    items, files = queued(3)
    broken_at = items[1]["captured_at"]
    # A picture no other test sends: the store keeps files across tests.
    files[1] = photo_for(datetime.fromisoformat(broken_at), seed=4242)
    real_travel = verification.travel

    def travel(checkin, policy):
        if checkin.captured_at.isoformat() == broken_at:
            raise RuntimeError("a bug in a rule")
        return real_travel(checkin, policy)

    monkeypatch.setattr(verification, "CHECKIN_RULES", tuple(
        travel if rule is real_travel else rule for rule in verification.CHECKIN_RULES
    ))  # fmt: skip
    results = batch(client, make.headers(world.cadre_a), items, files).json["results"]

    assert [r["status"] for r in results] == [201, 500, 201]
    assert results[1]["error"]["error"] == "internal_error"
    assert results[1]["client_id"] == items[1]["client_id"]
    rows = db.session.execute(db.select(Checkin.client_id)).scalars().all()
    assert sorted(rows) == sorted([items[0]["client_id"], items[2]["client_id"]])
    assert not storage.get_store().exists(hashlib.sha256(files[1]).hexdigest())
    assert storage.get_store().exists(hashlib.sha256(files[2]).hexdigest())
    assert f"batch item {items[1]['client_id']} failed" in caplog.text


def test_batch_conflict_is_reported_per_item(client, world, make):
    headers = make.headers(world.cadre_a)
    items, files = queued(2)
    batch(client, headers, items, files)
    items[0]["note"] = "changed"
    results = batch(client, headers, items, files).json["results"]
    assert [r["status"] for r in results] == [409, 200]
    assert results[0]["error"]["error"] == "checkin_conflict"


@pytest.mark.parametrize(
    "items, field",
    [
        ("not json", "items"),
        ("[]", "items"),
        (json.dumps([{"kind": "presence"}]), "items"),
        (json.dumps([{}] * 51), "items"),
    ],
)
def test_malformed_batches(client, world, make, items, field):
    response = client.post(
        "/api/v1/checkins/batch",
        data={"items": items},
        headers=make.headers(world.cadre_a),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and field in response.json["errors"]


def test_concurrent_resends_create_one_row(own_database):
    """Eight phones' worth of the same upload at once: one row, everyone told the same."""
    from tests.factories import Factory

    app = own_database
    with app.app_context():
        world = Factory().world()
        db.session.commit()
        headers = Factory().headers(world.cadre_a)
        db.session.commit()
    at = device_time()
    form = fields(captured_at=at, client_id=str(uuid.uuid4()))
    photo = photo_for(at)
    barrier = threading.Barrier(8)
    answers = []

    def send():
        client = app.test_client()
        body = {k: str(v) for k, v in form.items()}
        body["photos"] = [(io.BytesIO(photo), "IMG.jpg")]
        barrier.wait()
        response = client.post(
            "/api/v1/checkins", data=body, headers=headers, content_type="multipart/form-data"
        )
        answers.append((response.status_code, response.json.get("id")))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        rows = db.session.execute(db.select(Checkin)).scalars().all()
        photos_stored = db.session.execute(db.select(db.func.count(Photo.id))).scalar_one()
    assert len(rows) == 1 and photos_stored == 1
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 7 + [201], answers
    assert {checkin_id for _, checkin_id in answers} == {rows[0].id}


def _parallel(n, action):
    barrier = threading.Barrier(n)
    answers = []

    def run():
        barrier.wait()
        answers.append(action())

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _seeded(app):
    from tests.factories import Factory

    with app.app_context():
        world = Factory().world()
        headers = Factory().headers(world.cadre_a)
        db.session.commit()
        return world.cadre_a.phone, headers, world


def test_concurrent_resends_adding_a_photo_all_succeed(own_database):
    app = own_database
    _, headers, _ = _seeded(app)
    at = device_time()
    form = {k: str(v) for k, v in fields(captured_at=at, kind="departure").items()}
    first = app.test_client().post(
        "/api/v1/checkins", data=form, headers=headers, content_type="multipart/form-data"
    )
    assert first.status_code == 201, first.json
    photo = photo_for(at)

    def resend():
        body = {**form, "photos": [(io.BytesIO(photo), "IMG.jpg")]}
        response = app.test_client().post(
            "/api/v1/checkins", data=body, headers=headers, content_type="multipart/form-data"
        )
        return response.status_code, len(response.json.get("photos", []))

    answers = _parallel(6, resend)
    assert answers == [(200, 1)] * 6
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Photo.id))).scalar_one() == 1


def test_concurrent_first_log_ins_from_one_phone_all_succeed(own_database):
    app = own_database
    phone, _, _ = _seeded(app)

    def login():
        return (
            app.test_client()
            .post(
                "/api/v1/auth/login",
                json={"phone": phone, "password": "test-pass-123", "device_id": "new-phone"},
            )
            .status_code
        )

    assert _parallel(4, login) == [200] * 4


def test_different_phones_syncing_at_once_all_succeed(own_database):
    """Six cadres' check-ins at the same moment: none is turned away (on SQLite too,
    where writers now queue for the lock instead of failing)."""
    from tests.factories import Factory

    app = own_database
    with app.app_context():
        make = Factory()
        world = make.world()
        headers = []
        for n in range(6):
            cadre = make.user("cadre", name=f"并发{n}")
            make.posting(cadre, world.village_a1, world.unit_a, role="team_member")
            headers.append(make.headers(cadre))
        db.session.commit()
    at = device_time()
    photos = [photo_for(at, 200 + n) for n in range(6)]
    slots = iter(range(6))

    def send():
        n = next(slots)
        body = {k: str(v) for k, v in fields(captured_at=at, device_id=f"phone-{n}").items()}
        body["photos"] = [(io.BytesIO(photos[n]), "IMG.jpg")]
        return (
            app.test_client()
            .post(
                "/api/v1/checkins",
                data=body,
                headers=headers[n],
                content_type="multipart/form-data",
            )
            .status_code
        )

    assert _parallel(6, send) == [201] * 6
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Checkin.id))).scalar_one() == 6


def test_a_photo_named_by_many_items_is_decoded_once(client, world, make, monkeypatch):
    """A batch may point every item at one photo; each decode can cost seconds for a
    large picture, so a request decodes each photo once, whatever refers to it."""
    from server.services import photos

    calls = []
    inspect = photos.inspect
    monkeypatch.setattr(
        photos, "inspect", lambda data, **kw: calls.append(1) or inspect(data, **kw)
    )
    items, files = queued(4)
    for item in items:
        item["photo_indexes"] = [0, 0, 1]
    bad = b"GIF89a not welcome"
    results = batch(client, make.headers(world.cadre_a), items, [files[0], bad]).json["results"]
    assert [r["status"] for r in results] == [415] * 4
    assert all(r["error"]["errors"]["photo_index"] == 2 for r in results)
    assert len(calls) == 2  # one decode per distinct photo, for the whole batch
