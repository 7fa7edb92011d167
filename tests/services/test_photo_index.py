"""Near-duplicate lookup: right answers from a per-process cache that must follow the
database, including rows that commit out of id order and rows that vanish."""

import itertools

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from server.extensions import db
from server.models.checkins import Photo
from server.services import photo_index
from server.services.photo_index import near_duplicates, nearest_elsewhere

H = -0x3A5C_96E1_0F24_B7D9  # a signed 64-bit pHash, as stored in Photo.phash_int
_counter = itertools.count(1)


@pytest.fixture(autouse=True, params=["scanned", "indexed"])
def _fresh_index(request, monkeypatch):
    """Every test twice: with the rows that arrive after the first query scanned (the
    multi-index only merges them in batches of thousands), and merged into the index
    at every refresh, so that each case is also answered by the index's lookup."""
    if request.param == "indexed":
        monkeypatch.setattr(photo_index, "_INDEX_BATCH", 1)
    photo_index.reset()
    yield
    photo_index.reset()


@pytest.fixture
def checkin(world, make):
    return make.checkin(world.posting_a)


def photo_row(checkin_id, phash_int, photo_id=None) -> Photo:
    n = next(_counter)
    return Photo(
        id=photo_id,
        checkin_id=checkin_id,
        position=n,
        sha256=f"{n:064x}",
        format="jpeg",
        mime_type="image/jpeg",
        size_bytes=1000,
        width=640,
        height=480,
        phash=f"{phash_int % 2**64:016x}",
        phash_int=phash_int,
    )


def add(checkin, phash_int, photo_id=None) -> int:
    photo = photo_row(checkin.id, phash_int, photo_id)
    db.session.add(photo)
    db.session.commit()
    return photo.id


def flip(value: int, bits: int) -> int:
    """`value` with its lowest `bits` bits inverted, kept a signed int64."""
    flipped = (value ^ ((1 << bits) - 1)) % 2**64
    return flipped - 2**64 if flipped >= 2**63 else flipped


def test_finds_exact_and_near_and_ignores_nine_bits_away(checkin):
    exact = add(checkin, H)
    one = add(checkin, flip(H, 1))
    eight = add(checkin, flip(H, 8))
    add(checkin, flip(H, 9))
    add(checkin, flip(H, 40))
    assert near_duplicates(H, limit=10) == [(exact, 0), (one, 1), (eight, 8)]
    assert near_duplicates(H, limit=2) == [(exact, 0), (one, 1)]
    assert near_duplicates(H, max_distance=0) == [(exact, 0)]
    assert near_duplicates(flip(H, 20)) == []


def test_nearest_elsewhere_passes_over_the_check_in_s_own_photos(checkin, make, world):
    other = make.checkin(world.posting_a)
    own = add(checkin, H)
    theirs = add(other, flip(H, 3))
    assert nearest_elsewhere(H, checkin_id=checkin.id) == (theirs, other.id, 3)
    # Passed over, not forgotten as stale.
    assert near_duplicates(H) == [(own, 0), (theirs, 3)]
    # A check-in not written yet (no id) has no photos of its own: anything matches.
    assert nearest_elsewhere(H, checkin_id=None) == (own, checkin.id, 0)
    assert nearest_elsewhere(flip(H, 20), checkin_id=None) is None


def test_empty_table_then_first_row(checkin):
    assert near_duplicates(H) == []
    first = add(checkin, H)
    assert near_duplicates(H) == [(first, 0)]


def test_warming_loads_every_stored_hash_before_the_first_query(checkin):
    stored = [add(checkin, flip(H, bits)) for bits in (0, 2, 30)]
    assert photo_index.warm() == 3
    later = add(checkin, flip(H, 1))  # arrives after the warm-up: still seen
    assert photo_index.warm() == 4
    assert near_duplicates(H, limit=10) == [(stored[0], 0), (later, 1), (stored[1], 2)]


def test_a_refresh_reads_what_is_new_not_the_last_ten_minutes(checkin, monkeypatch):
    # At 40 check-ins a second the last ten minutes hold 24,000 photos: re-reading them
    # on every query would cost more than the scan.
    for bits in range(30):
        add(checkin, flip(H, 20 + bits))
    assert near_duplicates(H) == []
    merged = []
    original = photo_index._Cache._merge
    monkeypatch.setattr(
        photo_index._Cache,
        "_merge",
        lambda cache, photo_id, *rest: merged.append(photo_id) or original(cache, photo_id, *rest),
    )
    later = add(checkin, flip(H, 2))
    assert near_duplicates(H) == [(later, 2)]
    assert merged == [later]


def test_rows_added_after_the_first_query_are_seen(checkin):
    add(checkin, flip(H, 30))
    assert near_duplicates(H) == []
    later = add(checkin, flip(H, 3))
    assert near_duplicates(H) == [(later, 3)]


def test_sees_rows_committed_out_of_id_order(checkin):
    # PostgreSQL hands out ids before commit: id 900,000 can become visible after
    # id 900,001 has already been seen.
    high = add(checkin, flip(H, 50), photo_id=900_001)
    assert near_duplicates(flip(H, 50)) == [(high, 0)]
    low = add(checkin, H, photo_id=900_000)
    assert near_duplicates(H) == [(low, 0)]


def test_a_late_commit_far_below_the_top_is_still_seen(checkin):
    # At the morning peak a thousand ids go by in half a minute; a transaction that
    # stalls that long after taking its id must still be read when it commits.
    base = add(checkin, flip(H, 40))
    assert near_duplicates(H) == []
    for offset in range(2, 1503):  # id base + 1 is in flight meanwhile
        db.session.add(photo_row(checkin.id, flip(H, 50), photo_id=base + offset))
    db.session.commit()
    assert near_duplicates(H) == []
    late = add(checkin, H, photo_id=base + 1)
    assert near_duplicates(H) == [(late, 0)]


def test_after_a_rolled_back_top_the_ids_up_to_the_new_top_are_followed(checkin):
    first = add(checkin, flip(H, 40))
    savepoint = db.session.begin_nested()
    db.session.add(photo_row(checkin.id, flip(H, 30), photo_id=first + 1))
    db.session.flush()
    assert near_duplicates(H) == []  # the cache saw first + 1 as its top
    savepoint.rollback()
    add(checkin, flip(H, 50), photo_id=first + 3)  # first + 2 is still in flight
    assert near_duplicates(H) == []
    late = add(checkin, flip(H, 1), photo_id=first + 2)
    assert near_duplicates(H) == [(late, 1)]


def test_never_returns_rows_that_no_longer_exist(checkin):
    savepoint = db.session.begin_nested()
    ghost = photo_row(checkin.id, H)
    db.session.add(ghost)
    db.session.flush()
    assert near_duplicates(H) == [(ghost.id, 0)]
    savepoint.rollback()
    assert near_duplicates(H) == []
    kept = add(checkin, flip(H, 2))
    assert near_duplicates(H) == [(kept, 2)]


def test_a_reused_id_with_other_content_is_followed(checkin):
    # SQLite may give a rolled-back row's id to the next row.
    savepoint = db.session.begin_nested()
    db.session.add(photo_row(checkin.id, H, photo_id=700_000))
    db.session.flush()
    assert near_duplicates(H) == [(700_000, 0)]
    savepoint.rollback()
    add(checkin, flip(H, 60), photo_id=700_000)
    assert near_duplicates(H) == []
    assert near_duplicates(flip(H, 60)) == [(700_000, 0)]


def test_each_database_has_its_own_index(checkin, tmp_path):
    mine = add(checkin, H)
    engine = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    db.metadata.create_all(engine)
    with engine.connect() as connection:
        # Outside any transaction, or SQLite ignores it: this database has no check-ins.
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")
        other = Session(bind=connection)
        other.add(photo_row(1, flip(H, 4), photo_id=5))
        other.commit()
        assert near_duplicates(H, session=other) == [(5, 4)]
        assert near_duplicates(H) == [(mine, 0)]
        other.close()
    engine.dispose()
