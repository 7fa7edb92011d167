"""The load test's own parts that its figures depend on: the restamped photos and the
latency statistics (bench/load)."""

from datetime import datetime, timedelta, timezone

import pytest

from bench.load import photos
from bench.load.client import Outcome, Stats
from server.services.photos import inspect

LIMITS = {"max_bytes": 30_000_000, "max_pixels": 64_000_000}


@pytest.mark.parametrize("name", photos.PHONE_JPEGS)
def test_a_restamped_photo_says_the_check_ins_time_and_place_and_keeps_its_pixels(name):
    if not (photos.PHOTOS_DIR / name).exists():
        pytest.skip(f"needs {name} from shared/testdata/photos")
    (photo,) = photos.load([name])
    at = datetime(2026, 11, 27, 7, 41, 5, tzinfo=timezone(timedelta(hours=8)))
    stamped = photo.stamped(at, 32.7093123, 116.7112456)

    facts, original = inspect(stamped, **LIMITS), inspect(photo.data, **LIMITS)
    assert facts.exif_taken_local == at.replace(tzinfo=None)
    assert facts.exif_offset in (None, "+08:00")  # written where the file has the tag
    assert facts.exif_latitude == pytest.approx(32.7093123, abs=1e-6)
    assert facts.exif_longitude == pytest.approx(116.7112456, abs=1e-6)
    assert len(stamped) == len(photo.data) and facts.sha256 != original.sha256
    assert facts.phash_int == original.phash_int  # same picture: a near-duplicate


def test_latency_figures_count_every_request_and_every_failure():
    outcomes = [Outcome(i / 100, 201) for i in range(1, 98)]
    outcomes += [Outcome(5.0, 500), Outcome(60.0, None, error="TimeoutError"), Outcome(0.5, 429)]
    stats = Stats.of(outcomes, seconds=10).summary()
    assert stats["requests"] == 100 and stats["errors"] == 3
    assert stats["error_kinds"] == {"500": 1, "TimeoutError": 1, "429": 1}
    assert stats["p50_ms"] == 500.0  # nearest rank: the 50th of 100
    assert stats["p99_ms"] == 5000.0 and stats["max_ms"] == 60000.0
    assert stats["achieved_per_s"] == pytest.approx(9.7)
