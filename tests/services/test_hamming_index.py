"""The multi-index finds exactly what reading every hash finds, at every distance it
takes, after merges too; beyond its distances the lookup scans."""

import numpy as np
import pytest

from server.services.hamming_index import MAX_DISTANCE, HammingIndex, scan

N = 20_000


def flipped(value: int, rng, bits: int) -> int:
    for bit in rng.choice(64, size=bits, replace=False):
        value ^= 1 << int(bit)
    return value


@pytest.fixture(scope="module")
def stored():
    """Random hashes, and clusters of near-duplicates (1-14 bits from a centre), which
    is what reused photos look like."""
    rng = np.random.default_rng(11)
    hashes = rng.integers(0, 2**64, size=N, dtype=np.uint64)
    centres = [int(h) for h in hashes[:40]]
    for n, centre in enumerate(centres):
        for k in range(30):
            hashes[1000 + 30 * n + k] = flipped(centre, rng, 1 + (n + k) % 14)
    return hashes, centres, rng


def answers(hashes, query, distance, index=None, changed=()):
    ids = np.arange(1, len(hashes) + 1, dtype=np.int64)
    alive = np.ones(len(hashes), bool)
    hits, distances = scan(ids, hashes, alive, query, distance, index, changed)
    return hits.tolist(), distances.tolist()


@pytest.mark.parametrize("distance", range(MAX_DISTANCE + 1))
def test_the_index_finds_what_the_scan_finds(stored, distance):
    hashes, centres, rng = stored
    index = HammingIndex.build(hashes)
    queries = centres + [flipped(c, rng, 3) for c in centres] + [int(h) for h in hashes[-20:]]
    total = 0
    for query in queries:
        expected = answers(hashes, query, distance)
        assert answers(hashes, query, distance, index) == expected
        total += len(expected[0])
    # Every stored query finds itself; the clusters give the larger distances more.
    assert total >= len(centres) + 20


def test_a_merged_index_is_the_index_of_the_whole(stored):
    hashes, centres, rng = stored
    half = HammingIndex.build(hashes[: N // 2]).extend(hashes)
    whole = HammingIndex.build(hashes)
    assert half.count == whole.count == N
    for mine, theirs in zip(half.keys, whole.keys, strict=True):
        assert np.array_equal(mine, theirs)
    for query in centres:
        assert answers(hashes, query, 8, half) == answers(hashes, query, 8)


def test_hashes_beyond_the_index_are_scanned_and_changed_ones_measured_again(stored):
    hashes, centres, rng = stored
    hashes = hashes.copy()
    index = HammingIndex.build(hashes[: N // 2])  # the second half arrived since
    query = centres[0]
    hashes[5] = query ^ 0b111  # entry 5 changed after indexing: 3 bits from the query
    found, distances = answers(hashes, query, 8, index, changed={5})
    assert (5, 3) in zip(found, distances, strict=True)
    assert (found, distances) == answers(hashes, query, 8)
    # Without being told, the index cannot know: entry 5 is where its old hash was.
    assert 5 not in answers(hashes, query, 8, index)[0]


def test_beyond_its_distances_the_lookup_scans(stored):
    hashes, centres, _ = stored
    index = HammingIndex.build(hashes)
    with pytest.raises(ValueError):
        index.candidates(centres[0], MAX_DISTANCE + 1)
    for distance in (MAX_DISTANCE + 1, 20):
        assert answers(hashes, centres[0], distance, index) == answers(hashes, centres[0], distance)


def test_an_empty_index_and_an_empty_store():
    empty = np.empty(0, np.uint64)
    index = HammingIndex.build(empty)
    assert index.count == 0 and answers(empty, 12345, 8, index) == ([], [])
    grown = index.extend(np.array([12345, 2**63 + 7], dtype=np.uint64))
    assert answers(np.array([12345, 2**63 + 7], dtype=np.uint64), 12344, 8, grown) == ([0], [1])
