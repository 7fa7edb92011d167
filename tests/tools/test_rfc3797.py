"""RFC 3797 selection: the RFC's own example (DOMAIN.md) reproduces exactly."""

import hashlib

import pytest

from server.tools import rfc3797
from tests.tools import RFC_KEY, RFC_SOURCES


def test_the_key_of_the_rfc_example():
    assert rfc3797.key_from_sources(RFC_SOURCES) == RFC_KEY


def test_the_first_ten_picks_of_the_rfc_example():
    assert rfc3797.select(RFC_KEY, 25, 10) == [17, 7, 2, 16, 25, 23, 8, 24, 19, 13]


def test_the_whole_pool_is_a_permutation():
    picks = rfc3797.select(RFC_KEY, 25, 25)
    assert picks[:10] == [17, 7, 2, 16, 25, 23, 8, 24, 19, 13]
    assert sorted(picks) == list(range(1, 26))


def test_value_is_md5_of_j_key_j_big_endian():
    expected = hashlib.md5(b"\x00\x03" + RFC_KEY.encode() + b"\x00\x03").digest()
    assert rfc3797.value(RFC_KEY, 3) == int.from_bytes(expected, "big")


def test_continuing_j_from_a_later_start_continues_the_same_selection():
    full = rfc3797.select(RFC_KEY, 25, 10)
    remaining = [n for n in range(1, 26) if n not in full[:3]]
    rest = rfc3797.select(RFC_KEY, 22, 7, first_j=3)
    assert [remaining[p - 1] for p in rest] == full[3:]


def test_numbers_are_sorted_and_written_without_leading_zeros():
    assert rfc3797.key_from_sources([["07", 12, "3"], [0]]) == "3.7.12./0./"
    assert rfc3797.key_from_sources([[10, 9]]) == rfc3797.key_from_sources([["9", "010"]])


@pytest.mark.parametrize(
    "sources",
    [[], [[]], [["seven"]], [[-1]], [[True]], [[1.5]], "9319", [9319], [["1 2"]], [["٣"]]],
)
def test_other_sources_are_refused(sources):
    with pytest.raises(ValueError):
        rfc3797.key_from_sources(sources)


def test_select_checks_its_arguments():
    with pytest.raises(ValueError):
        rfc3797.select(RFC_KEY, 3, 4)
    with pytest.raises(ValueError):
        rfc3797.select(RFC_KEY, -1, 0)
    assert rfc3797.select(RFC_KEY, 0, 0) == []


def test_j_is_limited_to_two_bytes():
    assert rfc3797.value(RFC_KEY, 0xFFFF) >= 0
    with pytest.raises(ValueError, match="at most 65536"):
        rfc3797.value(RFC_KEY, 0x10000)
    with pytest.raises(ValueError):
        rfc3797.select(RFC_KEY, 5, 2, first_j=0xFFFF)
