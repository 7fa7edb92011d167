"""Retention: evidence past the period loses its positions and photo bytes, keeps its rows
and hashes, unless an open flag, a case or a recommendation holds it; every purge is
audited, and a run can be previewed, repeated, and survives a crash between the commit
and the deletion of the files."""

import hashlib
import threading
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from server import storage
from server.errors import Invalid
from server.extensions import db
from server.models import Checkin
from server.services import audit, retention, retention_holds
from server.storage.base import derived_name, in_use
from tests.factories import Factory
from tests.services.retention_kit import (
    CUTOFF,
    NOW,
    OLD_DAY,
    YOUNG_DAY,
    case_citing,
    checkin_of,
    events,
    finding_with_arrival,
    flag_on,
    recommendation_citing,
    rectification_photo,
    with_photo,
)
from tests.services.storage_kit import files, names


@pytest.fixture
def store(app, tmp_path, monkeypatch):
    """A local store of this test's own, so `check` sees only this test's files."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "local")
    return storage.get_store()


def purged(*rows):
    for row in rows:
        db.session.refresh(row)
    return [row.purged_at is not None for row in rows]


# ---------------------------------------------------------------- what goes, what stays


def test_old_evidence_loses_positions_and_files_and_keeps_its_record(any_store, world, make):
    old = checkin_of(make, world.posting_a, altitude_m=31.5, distance_m=40.2)
    photo = with_photo(any_store, old, seed=1)
    young = checkin_of(make, world.posting_a, YOUNG_DAY)
    kept = with_photo(any_store, young, seed=2)
    db.session.commit()
    any_store.derived(photo.sha256, "thumb")  # made on a first view, cached
    sha, phash = photo.sha256, photo.phash_int

    report = retention.purge(now=NOW)

    assert report.cutoff == CUTOFF
    assert (report.checkins, report.photos) == ([old.id], [photo.id])
    assert report.files_deleted == [sha] and report.files_kept == []
    db.session.refresh(old)
    db.session.refresh(photo)
    assert (old.latitude, old.longitude, old.accuracy_m, old.altitude_m) == (None,) * 4
    assert old.purged_at == NOW
    # The record stays: the day, the verdict, the distance measured then, the hashes.
    assert (old.local_date, old.verdict, old.distance_m) == (OLD_DAY, "accepted", 40.2)
    assert (photo.exif_latitude, photo.exif_longitude) == (None, None)
    assert (photo.sha256, photo.phash_int, photo.purged_at) == (sha, phash, NOW)
    assert not any_store.exists(sha)
    assert not [n for n in names(any_store, "derived") if sha in n]
    assert files(any_store, "tmp") == []
    # The young one is untouched.
    assert purged(young, kept) == [False, False]
    assert young.latitude is not None and any_store.exists(kept.sha256)
    assert any_store.check(db.session).ok


def test_each_batch_and_the_run_are_audited_and_the_chain_holds(store, world, make):
    old = [checkin_of(make, world.posting_a) for _ in range(3)]
    photo = with_photo(store, old[0], seed=3)
    db.session.commit()

    retention.purge(now=NOW, batch_size=2)

    batches = events("retention.purge")
    assert [e.summary["checkins"]["items"] for e in batches] == [
        [old[0].id, old[1].id],
        [old[2].id],
    ]
    assert batches[0].summary["photos"] == {"count": 1, "items": [photo.id]}
    assert batches[0].summary["sha256"] == {"count": 1, "items": [photo.sha256]}
    assert {e.summary["cutoff"] for e in batches} == {"2023-11-27"}
    (run,) = events("retention.run")
    assert run.summary["checkins"] == 3 and run.summary["batches"] == 2
    assert run.summary["files_deleted"] == {"count": 1, "items": [photo.sha256]}
    assert run.summary["retention_days"] == 1096
    assert audit.verify_chain()[1] is None


def test_a_long_list_is_recorded_as_a_range_and_its_hash():
    listed = retention.listing(range(1, 502))
    assert listed["count"] == 501 and (listed["first"], listed["last"]) == (1, 501)
    joined = ",".join(str(i) for i in range(1, 502))
    assert listed["list_sha256"] == hashlib.sha256(joined.encode()).hexdigest()
    assert retention.listing([3, 1]) == {"count": 2, "items": [1, 3]}


def test_age_counts_from_the_day_and_from_the_arrival_whichever_is_later(store, world, make):
    last_old_day = checkin_of(make, world.posting_a, CUTOFF - timedelta(days=1))
    first_kept_day = checkin_of(make, world.posting_a, CUTOFF)
    # A device clock set back years: the day is old, but the server got it recently.
    clock_set_back = checkin_of(
        make, world.posting_a, OLD_DAY, received=datetime(2026, 11, 1, tzinfo=UTC)
    )
    db.session.commit()

    report = retention.purge(now=NOW)

    assert report.checkins == [last_old_day.id]
    assert purged(last_old_day, first_kept_day, clock_set_back) == [True, False, False]


def test_flag_details_lose_the_positions_they_recorded(store, world, make):
    old = checkin_of(make, world.posting_a)
    flag = flag_on(
        old,
        "repeated_position",
        status="dismissed",
        latitude=32.7093,
        longitude=116.7112,
        earlier_checkin_id=None,
        same_cadre=True,
    )
    exif = flag_on(
        old,
        "exif_gps_mismatch",
        status="upheld",
        exif_latitude=31.2,
        exif_longitude=117.3,
        distance_m=150000.0,
    )
    db.session.commit()

    retention.purge(now=NOW)

    db.session.refresh(flag)
    db.session.refresh(exif)
    assert flag.details["latitude"] is None and flag.details["longitude"] is None
    assert flag.details["same_cadre"] is True
    assert (exif.details["exif_latitude"], exif.details["distance_m"]) == (None, 150000.0)
    assert (flag.status, exif.status) == ("dismissed", "upheld")


# ---------------------------------------------------------------- holds


def test_an_open_flag_holds_the_check_in_until_it_is_decided(store, world, make):
    old = checkin_of(make, world.posting_a, verdict="flagged")
    photo = with_photo(store, old, seed=4)
    flag = flag_on(old)
    db.session.commit()

    report = retention.purge(now=NOW)
    assert report.checkins == [] and report.held == 1
    assert purged(old, photo) == [False, False] and store.exists(photo.sha256)

    flag.status = "upheld"
    db.session.commit()
    assert retention.purge(now=NOW).checkins == [old.id]
    assert not store.exists(photo.sha256)


def test_an_open_flag_holds_the_earlier_evidence_it_compares_with(store, world, make):
    earlier = checkin_of(make, world.posting_a)
    earlier_photo = with_photo(store, earlier, seed=5)
    neighbour = checkin_of(make, world.posting_a)
    young = checkin_of(make, world.posting_a, YOUNG_DAY, verdict="flagged")
    db.session.flush()
    match = {"earlier_photo_id": earlier_photo.id, "earlier_checkin_id": earlier.id}
    flag_on(young, "photo_reused", matches=[match], **match)
    flag_on(young, "impossible_travel", other_checkin_id=neighbour.id)
    db.session.commit()

    report = retention.purge(now=NOW)

    assert report.checkins == [] and report.held == 2
    assert purged(earlier, earlier_photo, neighbour) == [False, False, False]


def test_an_upheld_flag_keeps_the_earlier_evidence_its_rejection_rests_on(store, world, make):
    earlier = checkin_of(make, world.posting_a)
    earlier_photo = with_photo(store, earlier, seed=6)
    young = checkin_of(make, world.posting_a, YOUNG_DAY, verdict="flagged")
    db.session.flush()
    match = {"earlier_photo_id": earlier_photo.id, "earlier_checkin_id": earlier.id}
    flag = flag_on(young, "photo_reused", matches=[match], **match)
    flag.status = "upheld"
    db.session.commit()

    assert retention.purge(now=NOW).checkins == []
    assert purged(earlier, earlier_photo) == [False, False]
    assert store.exists(earlier_photo.sha256)

    flag.status = "dismissed"  # a dismissed flag stands on nothing
    db.session.commit()
    assert retention.purge(now=NOW).checkins == [earlier.id]


def cited(kind, row):
    return {"type": kind, "id": row.id}


@pytest.mark.parametrize("kind", ["checkin", "photo", "flag"])
def test_a_case_holds_what_it_cites_in_any_status(store, world, make, kind):
    old = checkin_of(make, world.posting_a, verdict="rejected")
    photo = with_photo(store, old, seed=6)
    flag = flag_on(old, status="upheld")
    other = checkin_of(make, world.posting_a)
    case_citing(world, cited(kind, {"checkin": old, "photo": photo, "flag": flag}[kind]))
    case_citing(world, cited("checkin", old), status="decided")
    db.session.commit()

    report = retention.purge(now=NOW)

    assert report.checkins == [other.id]
    assert purged(old, photo, other) == [False, False, True]
    assert store.exists(photo.sha256)


def test_a_case_committed_while_a_batch_starts_holds_its_evidence(own_database):
    """The case's transaction holds the audit chain's lock from its event to its commit;
    a batch takes that lock before it commits and looks at what committed while it read:
    it waits for the case, sees it, reads the page again and keeps what the case cites,
    rather than purging on holds read before the case committed."""
    app = own_database
    with app.app_context():
        make = Factory()
        world = make.world()
        old = checkin_of(make, world.posting_a)
        db.session.commit()
        ids = SimpleNamespace(
            old=old.id,
            posting_a=SimpleNamespace(id=world.posting_a.id),
            cadre_a=SimpleNamespace(id=world.cadre_a.id),
            reviewer_a=SimpleNamespace(id=world.reviewer_a.id),
        )
    reports = []

    def purge():
        with app.app_context():
            reports.append(retention.purge(now=NOW))

    with app.app_context():
        case = case_citing(ids, {"type": "checkin", "id": ids.old})
        audit.record("case.open", case)
        db.session.flush()
        batch = threading.Thread(target=purge)
        batch.start()
        batch.join(timeout=1.5)
        waited = batch.is_alive()
        db.session.commit()
    batch.join(timeout=30)

    assert waited, "the purge went ahead while a case citing its evidence was in flight"
    assert reports and reports[0].checkins == [] and reports[0].held == 1
    with app.app_context():
        assert db.session.get(Checkin, ids.old).purged_at is None


def test_a_page_whose_holds_keep_changing_waits_for_the_next_run(store, world, make, monkeypatch):
    old = checkin_of(make, world.posting_a)
    db.session.commit()
    asked = []
    monkeypatch.setattr(retention_holds.Reading, "stale", lambda holds: asked.append(1) or True)

    report = retention.purge(now=NOW)

    assert report.checkins == [] and report.deferred == 1 and report.held == 0
    assert purged(old) == [False]
    assert len(asked) == 1 + retention._RETRIES  # the first try, then read again twice


def test_a_batch_that_finds_the_chain_busy_lets_go_and_tries_again(store, world, make, monkeypatch):
    """It holds its rows' locks by then: waiting could close a cycle with a writer that
    took the chain's lock first and waits for one of those rows."""
    old = checkin_of(make, world.posting_a)
    db.session.commit()
    answers = iter([False, False, True])
    monkeypatch.setattr(audit, "try_lock_chain", lambda: next(answers))
    monkeypatch.setattr(retention, "sleep", lambda seconds: None)
    assert retention.purge(now=NOW).checkins == [old.id]


def test_a_chain_that_stays_busy_leaves_the_page_to_the_next_run(store, world, make, monkeypatch):
    old = checkin_of(make, world.posting_a)
    db.session.commit()
    tries = []
    monkeypatch.setattr(audit, "try_lock_chain", lambda: tries.append(1) and False)
    monkeypatch.setattr(retention, "sleep", lambda seconds: None)
    report = retention.purge(now=NOW)
    assert report.checkins == [] and report.deferred == 1 and purged(old) == [False]
    assert len(tries) == 1 + retention._BUSY_TRIES
    assert events("retention.run") == []  # nothing purged, nothing to record


def test_rows_an_overlapping_run_purged_meanwhile_are_left_as_they_are(
    store, world, make, monkeypatch
):
    first = checkin_of(make, world.posting_a)
    second = checkin_of(make, world.posting_a, OLD_DAY + timedelta(days=1))
    db.session.commit()
    earlier = NOW - timedelta(hours=1)
    held = retention_holds.held

    def the_other_run_purges_first():
        db.session.execute(update(Checkin).where(Checkin.id == first.id).values(purged_at=earlier))
        return held()

    monkeypatch.setattr(retention_holds, "held", the_other_run_purges_first)
    report = retention.purge(now=NOW)
    assert report.checkins == [second.id]
    db.session.refresh(first)
    assert first.purged_at == earlier


def test_the_holds_are_read_once_a_run_while_nothing_can_add_one(store, world, make, monkeypatch):
    for day in range(3):
        checkin_of(make, world.posting_a, OLD_DAY + timedelta(days=day))
    db.session.commit()
    audit.record("photo.view_display", object_type="photo", object_id=1)  # harmless
    db.session.commit()
    reads = []
    held = retention_holds.held
    monkeypatch.setattr(retention_holds, "held", lambda: reads.append(1) or held())

    report = retention.purge(now=NOW, batch_size=1)

    assert len(report.checkins) == 3 and report.batches == 3
    assert len(reads) == 1  # for the check-ins; no old rectification photo: not read


@pytest.mark.parametrize(
    "action, summary, may",
    [
        ("case.open", {}, True),
        ("recommendation.create", {}, True),
        ("checkin.review", {"decision": "rejected"}, True),
        ("finding.final", {}, True),
        ("checkin.resend", {"flags": []}, True),
        ("month.close", {}, True),  # not known to be harmless: read again
        ("checkin.submit", {"flags": ["photo_reused"]}, True),
        ("checkin.submit", {"flags": ["outside_geofence", "clock_skew"]}, False),
        ("photo.view_display", {}, False),
        ("auth.login", {}, False),
        ("retention.purge", {}, False),
    ],
)
def test_which_events_can_add_a_hold(action, summary, may):
    assert retention_holds.may_add_hold(action, summary) is may


def test_a_cited_finding_holds_its_arrival_and_the_check_ins_it_contradicted(store, world, make):
    arrival = checkin_of(make, world.posting_a, kind="inspection_arrival")
    claim = checkin_of(make, world.posting_a, verdict="flagged")
    draft_arrival = checkin_of(make, world.posting_a, kind="inspection_arrival")
    finding = finding_with_arrival(world, arrival)
    finding_with_arrival(world, draft_arrival, status="draft")  # not signed yet: held
    flag_on(claim, "contradicted_by_inspection", status="upheld", finding_id=finding.id)
    case_citing(world, cited("finding", finding))
    db.session.commit()

    assert retention.purge(now=NOW).checkins == []
    assert purged(arrival, claim, draft_arrival) == [False, False, False]


def test_a_cited_month_holds_the_postings_check_ins_of_that_month(store, world, make):
    in_may = checkin_of(make, world.posting_a, date(2023, 5, 31))
    in_june = checkin_of(make, world.posting_a, date(2023, 6, 1))
    case_citing(
        world, {"type": "ledger_month", "posting_id": world.posting_a.id, "month": "2023-05"}
    )
    db.session.commit()

    assert retention.purge(now=NOW).checkins == [in_june.id]
    assert purged(in_may, in_june) == [False, True]


def test_many_cited_months_of_several_postings(store, world, make, monkeypatch):
    monkeypatch.setattr(retention_holds, "CHUNK", 1)  # a query for each posting
    other = checkin_of(make, world.posting_b, date(2023, 3, 28))
    kept, gone = [], []
    for month in range(1, 11):
        row = checkin_of(make, world.posting_a, date(2023, month, 28))
        (kept if month % 2 else gone).append(row)
    months = [f"2023-{row.local_date.month:02d}" for row in kept]
    case_citing(
        world,
        *({"type": "ledger_month", "posting_id": world.posting_a.id, "month": m} for m in months),
        {"type": "ledger_month", "posting_id": world.posting_a.id, "month": "2023-13"},
        {"type": "ledger_month", "month": "2023-02"},  # no posting of its own: the case's
        {"type": "ledger_month", "posting_id": world.posting_b.id, "month": "2023-03"},
    )
    db.session.commit()

    report = retention.purge(now=NOW)

    assert sorted(report.checkins) == sorted(row.id for row in gone if row.local_date.month != 2)
    assert purged(*kept, other) == [False] * 6


def test_a_live_recommendation_holds_a_set_aside_one_does_not(store, world, make):
    held = checkin_of(make, world.posting_a)
    free = checkin_of(make, world.posting_a)
    recommendation_citing(world, cited("checkin", held))
    recommendation_citing(world, cited("checkin", free), status="set_aside")
    db.session.commit()

    assert retention.purge(now=NOW).checkins == [free.id]


def test_rectification_photos_go_by_their_own_age_once_the_problem_is_verified(store, world):
    done = rectification_photo(store, world, 7, "verified")
    still_open = rectification_photo(store, world, 8, "in_rectification")
    recent = rectification_photo(store, world, 9, "verified", day=YOUNG_DAY)
    db.session.commit()

    report = retention.purge(now=NOW)

    assert report.photos == [done.id] and report.checkins == []
    assert purged(done, still_open, recent) == [True, False, False]
    assert not store.exists(done.sha256) and store.exists(still_open.sha256)
    assert done.exif_latitude is None and still_open.exif_latitude is not None


# ---------------------------------------------------------------- shared bytes


def test_shared_bytes_stay_while_a_younger_row_uses_them(store, world, make):
    old = checkin_of(make, world.posting_a)
    young = checkin_of(make, world.posting_a, YOUNG_DAY)
    old_photo = with_photo(store, old, seed=10)
    young_photo = with_photo(store, young, seed=10)  # the same bytes, sent again
    db.session.commit()
    assert old_photo.sha256 == young_photo.sha256

    report = retention.purge(now=NOW)

    assert report.photos == [old_photo.id] and report.files_kept == [old_photo.sha256]
    assert store.exists(old_photo.sha256) and store.check(db.session).ok

    # Two years later the second use is old too: now the file goes.
    later = retention.purge(now=NOW + timedelta(days=730))
    assert later.photos == [young_photo.id] and later.files_deleted == [young_photo.sha256]
    assert not store.exists(young_photo.sha256) and store.check(db.session).ok


def test_bytes_shared_by_two_batches_go_with_the_last_one(store, world, make):
    first = with_photo(store, checkin_of(make, world.posting_a), seed=17)
    second = with_photo(store, checkin_of(make, world.posting_a), seed=17)
    db.session.commit()

    report = retention.purge(now=NOW, batch_size=1)

    assert report.batches == 2 and report.photos == [first.id, second.id]
    assert (report.files_deleted, report.files_kept) == ([first.sha256], [])
    assert not store.exists(first.sha256)


def test_removal_gives_the_file_back_if_a_row_wants_it_once_set_aside(any_store, world, make):
    photo = with_photo(any_store, checkin_of(make, world.posting_a), seed=11)
    db.session.commit()
    data, asked = any_store.read(photo.sha256), []

    def needed():
        asked.append(any_store.exists(photo.sha256))  # asked with the original set aside
        return True  # e.g. an upload of the same bytes committed meanwhile

    assert any_store.remove(photo.sha256, needed=needed) is False
    assert asked == [False]
    assert any_store.read(photo.sha256) == data and files(any_store, "tmp") == []


def test_removing_bytes_that_are_already_gone_is_not_an_error(any_store):
    assert any_store.remove("ab" * 32, needed=lambda: False) is True
    assert files(any_store, "tmp") == [] and any_store.check(db.session).ok


def test_an_upload_of_the_same_bytes_during_removal_keeps_its_file(any_store, world, make):
    old = checkin_of(make, world.posting_a)
    old_photo = with_photo(any_store, old, seed=12)
    db.session.commit()
    young = checkin_of(make, world.posting_a, YOUNG_DAY)

    def upload_meanwhile():
        with_photo(any_store, young, seed=12)
        db.session.commit()  # installs its own copy: the name is free
        return in_use(db.session, old_photo.sha256)

    old_photo.purged_at = NOW
    db.session.commit()
    assert any_store.remove(old_photo.sha256, needed=upload_meanwhile) is False
    assert any_store.exists(old_photo.sha256) and files(any_store, "tmp") == []
    assert any_store.check(db.session).ok


# ---------------------------------------------------------------- runs


def test_a_dry_run_changes_nothing_and_tells_what_a_run_would_do(store, world, make):
    old = checkin_of(make, world.posting_a)
    photo = with_photo(store, old, seed=13)
    shared_old = with_photo(store, old, seed=14, position=1)
    with_photo(store, checkin_of(make, world.posting_a, YOUNG_DAY), seed=14)
    held = checkin_of(make, world.posting_a)
    flag_on(held)
    db.session.commit()
    head = audit.head()

    preview = retention.purge(now=NOW, dry_run=True)

    assert preview.dry_run and preview.checkins == [old.id] and preview.held == 1
    assert preview.files_deleted == [photo.sha256]
    assert preview.files_kept == [shared_old.sha256]
    assert purged(old, photo) == [False, False] and old.latitude is not None
    assert store.exists(photo.sha256) and audit.head() == head

    done = retention.purge(now=NOW)
    assert (done.checkins, done.photos) == (preview.checkins, preview.photos)
    assert (done.files_deleted, done.files_kept) == (preview.files_deleted, preview.files_kept)


def test_a_second_run_finds_nothing_and_records_nothing(store, world, make):
    photo = with_photo(store, checkin_of(make, world.posting_a), seed=15)
    db.session.commit()
    retention.purge(now=NOW)
    head = audit.head()

    again = retention.purge(now=NOW)

    assert (again.checkins, again.photos, again.files_deleted, again.batches) == ([], [], [], 0)
    assert audit.head() == head
    assert photo.purged_at == NOW


def test_before_moves_the_cut_off_earlier_never_later(store, world, make):
    may = checkin_of(make, world.posting_a, date(2023, 5, 10))
    june = checkin_of(make, world.posting_a, date(2023, 6, 10))
    db.session.commit()

    with pytest.raises(Invalid) as refused:
        retention.purge(now=NOW, before=CUTOFF + timedelta(days=1))
    assert refused.value.error == "retention_cutoff_too_late"

    report = retention.purge(now=NOW, before=date(2023, 6, 1))
    assert report.cutoff == date(2023, 6, 1) and report.checkins == [may.id]
    assert purged(may, june) == [True, False]


def test_a_shorter_period_from_configuration_is_obeyed(store, world, make, monkeypatch, app):
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 365)
    young = checkin_of(make, world.posting_a, YOUNG_DAY)
    db.session.commit()
    assert retention.purge(now=NOW).checkins == [young.id]

    monkeypatch.setitem(app.config, "RETENTION_DAYS", 0)
    with pytest.raises(Invalid) as refused:
        retention.purge(now=NOW)
    assert refused.value.error == "retention_days_invalid"


def test_a_crash_before_the_files_go_leaves_what_storage_check_reports_and_repairs(
    any_store, world, make, monkeypatch
):
    photo = with_photo(any_store, checkin_of(make, world.posting_a), seed=16)
    db.session.commit()
    monkeypatch.setattr(retention, "_delete_files", lambda report, shas: None)  # the crash

    retention.purge(now=NOW)

    report = any_store.check(db.session)
    assert report.purged == [photo.sha256] and report.orphans == [] and not report.ok
    repaired = any_store.check(db.session, repair=True)
    assert repaired.removed_purged == [photo.sha256] and repaired.ok
    assert not any_store.exists(photo.sha256) and any_store.check(db.session).ok


def test_a_crash_while_removing_leaves_derived_images_that_storage_check_deletes(
    any_store, world, make, monkeypatch
):
    photo = with_photo(any_store, checkin_of(make, world.posting_a), seed=17)
    db.session.commit()
    shown = [derived_name(photo.sha256, variant) for variant in ("display", "thumb")]
    for variant in ("display", "thumb"):
        any_store.derived(photo.sha256, variant)  # a reviewer looked at it once
    real_delete, crashed = type(any_store)._delete, []

    def crash_once(store, name):  # the power goes after the original was set aside
        if not crashed:
            crashed.append(name)
            raise OSError("power cut")
        real_delete(store, name)

    monkeypatch.setattr(type(any_store), "_delete", crash_once)
    with pytest.raises(OSError):
        retention.purge(now=NOW)

    report = any_store.check(db.session)
    assert purged(photo) == [True] and not any_store.exists(photo.sha256)
    assert report.stray_derived == shown and not report.ok
    repaired = any_store.check(db.session, repair=True)
    assert repaired.removed_derived == shown and repaired.ok
    assert names(any_store, "derived") == []
