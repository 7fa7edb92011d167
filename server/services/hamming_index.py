"""Candidates within a Hamming distance of a 64-bit hash, without reading every hash.

Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with
Multi-Index Hashing", CVPR 2012): cut each hash into three pieces of 21, 21 and 22 bits.
Two hashes that differ in at most d bits differ in at most d // 3 bits of one of the
pieces (if every piece differed in more, the whole would differ in more than d). So the
hashes near a query are among those that agree, on some piece, with the query's piece
flipped in at most d // 3 bits: for d = 8, 718 exact lookups in three sorted arrays
instead of a pass over all of them. With 2.8 million hashes such a lookup finds about a
thousand candidates (the near-duplicates among them), where the scan read every one.

An index covers the first `count` entries of the caller's hash array (append-only; an
entry whose hash changes afterwards must be checked by the caller, `photo_index` keeps
them). `extend` merges the entries added since into new arrays, and leaves the old index
untouched for readers that still hold it.
"""

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np

_MASK = 0xFFFF_FFFF_FFFF_FFFF
_SCAN_BLOCK = 1 << 16  # 64 Ki hashes: the block's buffers (1.1 MB) stay in L2
PIECES = ((0, 21), (21, 21), (42, 22))  # (shift, width) of each piece
# Beyond this the lookups outnumber what they save (d = 12: 4 bits a piece, 24,203
# lookups); the caller scans instead.
MAX_DISTANCE = 11


@dataclass(frozen=True)
class HammingIndex:
    count: int  # the index covers hashes[:count]
    keys: tuple  # per piece: the pieces' values, sorted (uint32)
    orders: tuple  # per piece: the position in `hashes` of each sorted key (int32)

    @classmethod
    def build(cls, hashes) -> "HammingIndex":
        keys, orders = [], []
        for shift, width in PIECES:
            piece = _piece(hashes, shift, width)
            order = np.argsort(piece, kind="stable").astype(np.int32)
            keys.append(piece[order])
            orders.append(order)
        return cls(len(hashes), tuple(keys), tuple(orders))

    def extend(self, hashes) -> "HammingIndex":
        """A new index over all of `hashes`, of which this one covers the first count."""
        added = hashes[self.count :]
        if len(added) == 0:
            return self
        keys, orders = [], []
        for (shift, width), old_keys, old_order in zip(PIECES, self.keys, self.orders, strict=True):
            piece = _piece(added, shift, width)
            order = np.argsort(piece, kind="stable")
            piece = piece[order]
            at = np.searchsorted(old_keys, piece, side="right")
            keys.append(np.insert(old_keys, at, piece))
            orders.append(np.insert(old_order, at, (order + self.count).astype(np.int32)))
        return HammingIndex(len(hashes), tuple(keys), tuple(orders))

    def candidates(self, query: int, max_distance: int):
        """Positions (int64, possibly repeated) of every indexed hash within
        max_distance of `query`, among others: the caller measures each."""
        if max_distance > MAX_DISTANCE:
            raise ValueError(f"max_distance {max_distance} > {MAX_DISTANCE}: scan instead")
        found, radius = [], max_distance // len(PIECES)
        for (shift, width), keys, order in zip(PIECES, self.keys, self.orders, strict=True):
            probes = np.sort(_flips(width, radius) ^ _value(query, shift, width))
            low = np.searchsorted(keys, probes, side="left")
            counts = np.searchsorted(keys, probes, side="right") - low
            total = int(counts.sum())
            if total:
                # Every position of every matching run: run j's k-th is low[j] + k.
                starts = np.repeat(low - (np.cumsum(counts) - counts), counts)
                found.append(order[np.arange(total) + starts])
        return np.concatenate(found).astype(np.int64) if found else np.empty(0, np.int64)


def _piece(hashes, shift, width):
    return ((hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.uint32)


def _value(query: int, shift: int, width: int):
    return np.uint32((query >> shift) & ((1 << width) - 1))


@cache
def _flips(width: int, radius: int):
    """Every value of `width` bits with at most `radius` bits set."""
    values = [
        sum(1 << bit for bit in bits)
        for n in range(radius + 1)
        for bits in itertools.combinations(range(width), n)
    ]
    return np.array(values, dtype=np.uint32)


def scan(ids, hashes, alive, phash_int: int, max_distance: int, index=None, changed=()):
    """Indexes of the live entries within max_distance, nearest first (then by id),
    and their distances. The entries a HammingIndex covers are looked up in it (those
    in `changed` have another hash than it was built with, so they are measured too),
    the rest scanned: vectorised (no Python loop over the rows), a block at a time
    into buffers that stay in the CPU's cache (over the whole array at once, each step's
    temporary went out to memory and back: 3.9 ms against 2.2 ms for 2.8 million)."""
    query = np.uint64(phash_int & _MASK)
    found, first = [], 0
    if index is not None and index.count and max_distance <= MAX_DISTANCE:
        changed = np.fromiter(changed, np.int64, len(changed))
        candidates = np.unique(
            np.concatenate([index.candidates(phash_int & _MASK, max_distance), changed])
        )
        found.append(candidates[np.bitwise_count(hashes[candidates] ^ query) <= max_distance])
        first = index.count
    xor = np.empty(_SCAN_BLOCK, np.uint64)
    bits = np.empty(_SCAN_BLOCK, np.uint8)
    near = np.empty(_SCAN_BLOCK, bool)
    for start in range(first, len(hashes), _SCAN_BLOCK):
        block = hashes[start : start + _SCAN_BLOCK]
        n = len(block)
        np.bitwise_xor(block, query, out=xor[:n])
        np.bitwise_count(xor[:n], out=bits[:n])
        np.less_equal(bits[:n], max_distance, out=near[:n])
        if near[:n].any():
            found.append(np.flatnonzero(near[:n]) + start)
    hits = np.concatenate(found) if found else np.empty(0, np.int64)
    hits = hits[alive[hits]]
    distances = np.bitwise_count(hashes[hits] ^ query)
    order = np.lexsort((ids[hits], distances))
    return hits[order], distances[order]
