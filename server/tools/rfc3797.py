"""RFC 3797 ("Publicly Verifiable Nominations Committee (NomCom) Random Selection").

Standard library only: the stand-alone verifier imports this module.

The key string is built from public random sources (e.g. announced lottery numbers):
within each source the numbers are sorted ascending and each is written in decimal
without leading zeros and followed by "."; each source ends with "/". For pick
j = 0, 1, 2, ... the value MD5(u16be(j) || key || u16be(j)), read as a 128-bit
big-endian integer, modulo the number of entries not yet selected, indexes (from 0)
those remaining entries in their original order.

Only numeric sources are supported here (as in the RFC's example); the RFC's rules for
non-numeric sources are not implemented, and such values are refused.
"""

import hashlib

MAX_J = 0xFFFF  # j travels as two bytes, so at most 65,536 values can be drawn from a key


def _number(value, where):
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a non-negative integer, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{where}: expected a non-negative integer, got {value!r}")
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)  # leading zeros dropped: "07" is 7
    raise ValueError(
        f"{where}: only numeric values are supported (integers or strings of digits), got {value!r}"
    )


def key_from_sources(sources):
    """The RFC 3797 key string for a list of sources, each a list of numbers.

    >>> key_from_sources([[9319], [2, 5, 12, 8, 10], [9, 18, 26, 34, 41, 45]])
    '9319./2.5.8.10.12./9.18.26.34.41.45./'
    """
    if not isinstance(sources, list | tuple) or not sources:
        raise ValueError("expected a non-empty list of sources")
    key = []
    for s, source in enumerate(sources):
        if not isinstance(source, list | tuple) or not source:
            raise ValueError(f"source {s + 1}: expected a non-empty list of numbers")
        numbers = sorted(_number(v, f"source {s + 1}, value {n + 1}") for n, v in enumerate(source))
        key.append("".join(f"{n}." for n in numbers) + "/")
    return "".join(key)


def value(key, j):
    """MD5(u16be(j) || key || u16be(j)) as a big-endian integer."""
    if not 0 <= j <= MAX_J:
        raise ValueError(f"j = {j} is out of range: RFC 3797 allows at most {MAX_J + 1} picks")
    jj = j.to_bytes(2, "big")
    return int.from_bytes(hashlib.md5(jj + key.encode() + jj).digest(), "big")


def select(key, pool_size, count, first_j=0):
    """Pick `count` of the entries 1..pool_size; returns their 1-based positions in
    pick order. Pick number i uses j = first_j + i (a caller drawing several pools from
    one key continues the j sequence across them)."""
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 0:
        raise ValueError(f"pool_size must be a non-negative integer, got {pool_size!r}")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= pool_size:
        raise ValueError(f"count must be an integer from 0 to pool_size, got {count!r}")
    remaining = list(range(1, pool_size + 1))
    return [remaining.pop(value(key, first_j + i) % len(remaining)) for i in range(count)]
