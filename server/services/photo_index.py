"""Near-duplicate lookup of 64-bit perceptual hashes against every stored photo.

A B-tree cannot answer "within Hamming distance 8", so each process keeps all
(photo id, pHash) pairs in arrays: loaded once per database, then refreshed on every
query with the rows that arrived since. A query looks the loaded hashes up in a
multi-index (hamming_index.py: 0.4 ms at 2.8 million, where reading every hash took
2.7 ms) and scans those that arrived since it was built, until there are enough of
them to merge in (_INDEX_BATCH).

"Since" is by id, with gaps: each refresh reads the rows above the highest id seen and
the ids below it that were missing when it was read ("gaps"), because PostgreSQL hands
out ids when a row is inserted, not when it commits, so a row with a smaller id can
become visible after a larger one; a gap is given up after WINDOW, the longest a
photo's transaction may take. So a refresh reads only what is new, whatever the rate
(re-reading a trailing window of received_at, as before, cost a row per photo of the
last ten minutes: 24,000 rows a query at 40 check-ins a second).

Rows can also disappear (a rolled-back transaction whose rows we saw through the
caller's session, or each test's rolled-back data), and SQLite gives a rolled-back
row's id to the next row. Each refresh re-reads the highest row seen: if it is gone or
changed, the trailing window is re-read by received_at, as a fresh start would. Every
hit is checked against the database before it is returned, and entries found stale
are dropped from the cache.
"""

import itertools
import threading
import time
from datetime import timedelta

import numpy as np
from sqlalchemy import or_, select

from server.extensions import db
from server.models.checkins import Photo
from server.services.hamming_index import HammingIndex, scan

WINDOW = timedelta(minutes=10)  # longest a photo's transaction may take to commit
WINDOW_S = WINDOW.total_seconds()
_PRUNE_EVERY_S = 30
_MASK = 0xFFFF_FFFF_FFFF_FFFF
_VERIFY_CHUNK = 200
_LOAD_CHUNK = 50_000
# At a fresh start, how far below the highest id to look for transactions in flight
# (the ids missing further down are holes in the numbering: rolled back, bulk loads).
_FRESH_GAPS = 1000
# After that every missing id is followed until WINDOW has passed. A refresh asks for
# them as runs of consecutive ids (a rolled-back batch, a hole), up to this many runs,
# and reads the whole range from the lowest beyond that.
_GAP_RUNS = 50
_HOLE = 100_000  # a jump of more ids than this at once is a hole: watch only its top
# Hashes added since the multi-index was built are scanned, and merged into it once
# there are this many (a merge at 2.8 million hashes: about 140 ms, here every 27
# minutes at 40 photos a second; a scan of 64 Ki: 0.07 ms).
_INDEX_BATCH = 1 << 16

_caches: dict[str, "_Cache"] = {}
_caches_lock = threading.Lock()


def near_duplicates(phash_int: int, *, max_distance=8, limit=5, session=None):
    """[(photo_id, distance)] of stored photos within max_distance, nearest first."""
    found = _search(session or db.session, phash_int, max_distance, limit, None)
    return [(photo_id, distance) for photo_id, _, distance in found]


def nearest_elsewhere(phash_int: int, *, checkin_id, max_distance=8, session=None):
    """(photo_id, its checkin_id, distance) of the nearest stored photo within
    max_distance that is not one of check-in `checkin_id`'s (None: a check-in not yet
    written, so any photo), or None. The check-in id comes with the confirming query,
    so a match costs no query of its own."""
    found = _search(session or db.session, phash_int, max_distance, 1, checkin_id)
    return found[0] if found else None


def _search(session, phash_int, max_distance, limit, skip_checkin_id):
    cache = _cache_for(session)
    cache.refresh(session)
    ids, hashes, alive, index, changed = cache.snapshot()
    hits, distances = scan(ids, hashes, alive, phash_int, max_distance, index, changed)
    return _confirmed(session, cache, hits, distances, limit, skip_checkin_id)


def warm(session=None) -> int:
    """Load the index now rather than on the first check-in (production does this in
    gunicorn's master, whose workers then share the arrays); the number of hashes held."""
    session = session or db.session
    cache = _cache_for(session)
    cache.refresh(session)
    return cache.size


def reset() -> None:
    """Forget every cached index (tests; a restored database)."""
    with _caches_lock:
        _caches.clear()


def _cache_for(session) -> "_Cache":
    bind = session.get_bind(Photo)
    url = getattr(bind, "engine", bind).url.render_as_string(hide_password=True)
    with _caches_lock:
        return _caches.setdefault(url, _Cache())


def _confirmed(session, cache, hits, distances, limit, skip_checkin_id=None):
    """[(photo_id, checkin_id, distance)] of the first `limit` hits whose (id, hash) the
    database still has, leaving out (but not forgetting) those of `skip_checkin_id`.
    The first few hits are asked about alone: they almost always stand, and a photo
    sent many times before can have thousands of hits."""
    found = []
    start = 0
    while start < len(hits):
        size = max(4 * limit, 8) if start == 0 else _VERIFY_CHUNK
        chunk, chunk_distances = hits[start : start + size], distances[start : start + size]
        start += size
        ids = [int(i) for i in cache.ids[chunk]]
        query = select(Photo.id, Photo.phash_int, Photo.checkin_id).where(Photo.id.in_(ids))
        rows = {row.id: row for row in session.execute(query)}
        for index, photo_id, distance in zip(chunk, ids, chunk_distances, strict=True):
            row = rows.get(photo_id)
            if row is None or row.phash_int & _MASK != int(cache.hashes[index]):
                cache.forget(index)
            elif skip_checkin_id is None or row.checkin_id != skip_checkin_id:
                found.append((photo_id, row.checkin_id, int(distance)))
            if len(found) == limit:
                return found
    return found


def _runs(ids):
    """Sorted (first, last) runs of consecutive ids."""
    runs = []
    for photo_id in sorted(ids):
        if runs and photo_id == runs[-1][1] + 1:
            runs[-1][1] = photo_id
        else:
            runs.append([photo_id, photo_id])
    return runs


class _Cache:
    """One database's hashes. Arrays grow by doubling; readers take views of the
    filled prefix, so an append never disturbs a query in another thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ids = np.empty(0, np.int64)
        self.hashes = np.empty(0, np.uint64)
        self.alive = np.empty(0, bool)
        self.size = 0
        self.loaded = 0  # ids[:loaded] came from the initial load, sorted by id
        self.watermark = None  # the newest received_at seen
        self.recent = {}  # id -> (index, received_at) for rows inside the window
        self.top = None  # (id, unsigned hash, received_at) of the highest id seen
        self.gaps = {}  # id below top, not seen yet -> time.monotonic() when missed
        self.started = False
        self.pruned = 0.0  # time.monotonic() of the last pruning of gaps and recent
        self.index = None  # HammingIndex of hashes[:index.count]
        self.changed = frozenset()  # entries under index.count whose hash changed since

    def snapshot(self):
        """What a scan reads. The index and `changed` are replaced, never modified, so a
        query in another thread keeps a consistent pair."""
        index, changed = self.index, self.changed  # first: then index.count <= size
        n = self.size
        return self.ids[:n], self.hashes[:n], self.alive[:n], index, changed

    def refresh(self, session) -> None:
        with self.lock:
            if not self.started:
                self._load_all(session)
                self.started = True
            else:
                self._load_new(session)

    def forget(self, index) -> None:
        self.alive[index] = False

    def _load_all(self, session) -> None:
        # From nothing, also after an attempt that failed halfway (a lost connection).
        self.size = self.loaded = 0
        self.recent, self.gaps, self.top, self.watermark = {}, {}, None, None
        self.index, self.changed = None, frozenset()
        # Core rows in chunks, flattened by fromiter: np.array() over a million Row
        # objects takes seconds, and a list of them would cost ~100 MB on the way.
        table = Photo.__table__
        query = select(table.c.id, table.c.phash_int).order_by(table.c.id)
        result = session.connection().execute(query.execution_options(yield_per=_LOAD_CHUNK))
        for rows in result.partitions():
            pairs = np.fromiter(itertools.chain.from_iterable(rows), np.int64, 2 * len(rows))
            self._append_block(pairs.reshape(-1, 2))
        self.loaded = self.size
        self._retop(session)
        if self.top is not None:
            # Transactions still in flight hold ids just below the top.
            top_id = self.top[0]
            self._missed(self.ids[: self.loaded], max(1, top_id - _FRESH_GAPS), top_id)
            self.watermark = self.top[2]
            self._load_window(session, self.watermark - WINDOW)
        self.index, self.changed = HammingIndex.build(self.hashes[: self.size]), frozenset()

    def _load_new(self, session) -> None:
        """The rows above the highest seen, the gaps, and the highest seen itself."""
        top_id = self.top[0] if self.top is not None else None
        query = select(Photo.id, Photo.phash_int, Photo.received_at).order_by(Photo.id)
        if top_id is not None:
            runs = _runs(self.gaps)
            if len(runs) > _GAP_RUNS:
                query = query.where(Photo.id >= min(runs[0][0], top_id))
            else:
                seen = [Photo.id.between(low, high) for low, high in runs]
                query = query.where(or_(Photo.id >= top_id, *seen))
        rows = session.execute(query).all()
        again = next((row for row in rows if row[0] == top_id), None)
        if top_id is not None and (again is None or (again[1] & _MASK, again[2]) != self.top[1:]):
            # The highest row we saw rolled back, and its id (with those below it, back
            # to the last committed row) may now be another row's: re-read the window,
            # and follow the ids up to the new top that are not visible yet.
            window = []
            if self.watermark is not None:
                window = self._load_window(session, self.watermark - WINDOW)
            self._retop(session)
            if self.top is not None and self.top[0] > top_id:
                seen = np.array(sorted(row[0] for row in window), dtype=np.int64)
                self._missed(seen, top_id + 1, self.top[0])
            return
        newer = [row for row in rows if top_id is None or row[0] > top_id]
        for photo_id, phash_int, received_at in rows:
            if photo_id != top_id:
                self._merge(photo_id, phash_int & _MASK, received_at)
                self.gaps.pop(photo_id, None)
        if newer:
            ids = np.array([row[0] for row in newer], dtype=np.int64)
            low = top_id + 1 if top_id is not None else max(1, int(ids[-1]) - _FRESH_GAPS)
            self._missed(ids, low, int(ids[-1]))
            self.top = (newer[-1][0], newer[-1][1] & _MASK, newer[-1][2])
        if rows:
            newest = max(row[2] for row in rows)
            self.watermark = newest if self.watermark is None else max(self.watermark, newest)
        if self.index is not None and self.size - self.index.count >= _INDEX_BATCH:
            self.index = self.index.extend(self.hashes[: self.size])
        if self.watermark is None:
            return
        now = time.monotonic()
        if now - self.pruned >= _PRUNE_EVERY_S:  # not per query: the window is large
            self.pruned = now
            self.gaps = {k: at for k, at in self.gaps.items() if at >= now - WINDOW_S}
            cutoff = self.watermark - WINDOW
            self.recent = {k: v for k, v in self.recent.items() if v[1] >= cutoff}

    def _missed(self, ids, low, top_id) -> None:
        """Record as gaps the ids from `low` up to `top_id` that `ids` (sorted, the rows
        seen) does not hold."""
        if top_id - low > _HOLE:
            low = top_id - _FRESH_GAPS
        present = ids[ids >= low]
        missing = np.setdiff1d(np.arange(low, top_id, dtype=np.int64), present)
        now = time.monotonic()
        for photo_id in missing.tolist():
            self.gaps.setdefault(photo_id, now)

    def _retop(self, session) -> None:
        row = session.execute(
            select(Photo.id, Photo.phash_int, Photo.received_at).order_by(Photo.id.desc()).limit(1)
        ).first()
        self.top = None if row is None else (row[0], row[1] & _MASK, row[2])

    def _append_block(self, pairs) -> None:
        start, end = self.size, self.size + len(pairs)
        self._grow(end)
        self.ids[start:end] = pairs[:, 0]
        self.hashes[start:end] = pairs[:, 1].view(np.uint64)
        self.alive[start:end] = True
        self.size = end

    def _load_window(self, session, since):
        rows = session.execute(
            select(Photo.id, Photo.phash_int, Photo.received_at).where(Photo.received_at >= since)
        ).all()
        for photo_id, phash_int, received_at in rows:
            self._merge(photo_id, phash_int & _MASK, received_at)
            self.gaps.pop(photo_id, None)
        if rows:
            self.watermark = max(self.watermark or since, max(row[2] for row in rows))
        if self.watermark is not None:
            cutoff = self.watermark - WINDOW
            self.recent = {k: v for k, v in self.recent.items() if v[1] >= cutoff}
        return rows

    def _merge(self, photo_id, unsigned, received_at) -> None:
        index = self._index_of(photo_id)
        if index is None:
            index = self._append(photo_id, unsigned)
        elif int(self.hashes[index]) != unsigned or not self.alive[index]:
            # The id came back with other content (SQLite reuses rolled-back ids).
            self.hashes[index] = unsigned
            self.alive[index] = True
            if self.index is not None and index < self.index.count:
                self.changed = self.changed | {index}
        self.recent[photo_id] = (index, received_at)

    def _index_of(self, photo_id):
        if photo_id in self.recent:
            return self.recent[photo_id][0]
        position = int(np.searchsorted(self.ids[: self.loaded], photo_id))
        if position < self.loaded and self.ids[position] == photo_id:
            return position
        return None

    def _append(self, photo_id, unsigned) -> int:
        self._grow(self.size + 1)
        index = self.size
        self.ids[index] = photo_id
        self.hashes[index] = unsigned
        self.alive[index] = True
        self.size += 1
        return index

    def _grow(self, needed) -> None:
        if needed <= len(self.ids):
            return
        capacity = max(needed, 2 * len(self.ids), 1024)
        for name in ("ids", "hashes", "alive"):
            old = getattr(self, name)
            new = np.zeros(capacity, old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)
