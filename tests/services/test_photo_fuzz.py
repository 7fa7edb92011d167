"""Fuzzing the photo ingestion at the service level (issue 8): mutated JPEG, PNG, WebP
and HEIC bytes and hostile EXIF blocks, from the shared real photos and generated ones,
through `photos.inspect` and the derived images (`photos.render`). Every input ends in
acceptance or a PhotoError (a clean 4xx), within a time limit and a memory bound, and
every accepted input yields sane facts and clean derived images. Named tests pin the
known hostile shapes. See tests/photo_fuzz_kit.py for the settings (derandomized)."""

import math
import re
import warnings
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from server.services import exif, photos
from tests import photo_fuzz_kit as kit
from tests.services.test_photos import needs_photos

CONFIG_LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 64_000_000}
SMALL_LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 4_000_000}
_OFFSET = re.compile(r"[+-]\d\d:\d\d")


@pytest.fixture(scope="module", autouse=True)
def _warm():
    # First-use costs (pillow-heif's import, Pillow's plug-ins) are not an input's.
    for data in kit.generated_seeds().values():
        photos.render(data, "thumb")


def ingest(data: bytes, limits: dict, seconds: float = 3.0):
    """The property every input must have; returns the facts, or None if refused."""
    try:
        with kit.within(seconds, kit.memory_limit(limits["max_pixels"])):
            facts = photos.inspect(data, **limits)
    except photos.PhotoError as refused:
        assert 400 <= refused.status_code < 500
        assert refused.error.startswith("photo_") and refused.message and refused.message_zh
        return None
    assert_sane(facts, data, limits)
    with kit.within(seconds, kit.memory_limit(facts.width * facts.height)):
        for variant, (side, _) in photos.VARIANTS.items():
            kit.assert_clean_derived(photos.render(data, variant), side, kit.TAILS)
    return facts


def assert_sane(facts, data, limits):
    assert facts.size_bytes == len(data) and len(facts.sha256) == 64
    assert 1 <= facts.width * facts.height <= limits["max_pixels"]
    assert facts.mime_type == photos._MIME[facts.format] and photos.sniff(data) == facts.format
    assert int(facts.phash, 16) == facts.phash_int % 2**64
    if facts.exif_latitude is not None:
        assert -90 <= facts.exif_latitude <= 90 and -180 <= facts.exif_longitude <= 180
        assert not math.isnan(facts.exif_latitude + facts.exif_longitude)
    assert facts.orientation in (None, 1, 2, 3, 4, 5, 6, 7, 8)
    assert facts.exif_offset is None or _OFFSET.fullmatch(facts.exif_offset)
    assert facts.exif_taken_local is None or isinstance(facts.exif_taken_local, datetime)
    for value in (facts.make, facts.model):
        assert value is None or (0 < len(value) <= 100 and value.isprintable())


# ------------------------------------------------------------------ properties


@kit.fuzz(examples=400)
@given(kit.mutated(kit.generated_seeds))
def test_mutated_generated_photos(case):
    ingest(case[1], SMALL_LIMITS)


@needs_photos
@kit.fuzz(examples=60)
@given(kit.mutated(kit.real_seeds))
def test_mutated_real_jpegs(case):
    ingest(case[1], CONFIG_LIMITS)


@needs_photos
@kit.fuzz(examples=4, deadline_s=30)
@given(kit.mutated(kit.real_heics))
def test_mutated_real_heics(case):
    # ~0.3-1 s a decode (DESIGN.md), three decodes an input: a few examples only.
    ingest(case[1], CONFIG_LIMITS, seconds=20)


@kit.fuzz(examples=200)
@given(st.sampled_from(["JPEG", "PNG", "WEBP", "HEIF"]), kit.exif_blocks())
def test_hostile_exif_never_costs_a_sound_picture_its_acceptance(fmt, block):
    photo = kit.with_exif(fmt, block)
    # As in production, where Pillow's warnings about broken metadata are only logged.
    # (The suite makes warnings errors; test_mutated_* run that way.)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        facts = ingest(photo, SMALL_LIMITS)
    assert facts is not None and (facts.width, facts.height) in ((96, 64), (64, 96))


# What Pillow hands over for a tag: scalars, strings, bytes, rationals (zero
# denominators included), and tuples of them.
_SCALARS = (
    st.none()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.binary(max_size=30)
    | st.builds(IFDRational, st.integers(-(2**31), 2**32), st.integers(0, 2**32))
)
_VALUES = _SCALARS | st.lists(_SCALARS, max_size=4).map(tuple)
_TAGS = st.sampled_from([1, 2, 3, 4, 0x0132, 0x9003, 0x9004, 0x9010, 0x9011, 0x9012])


@kit.fuzz(examples=200)
@given(st.dictionaries(_TAGS, _VALUES))
def test_the_exif_reader_takes_any_tag_values(tags):
    latitude, longitude = exif.position(tags)
    assert (latitude is None) == (longitude is None)
    if latitude is not None:
        assert -90 <= latitude <= 90 and -180 <= longitude <= 180
    taken, offset = exif.capture_time(tags, tags)
    assert taken is None or isinstance(taken, datetime)
    assert offset is None or (taken is not None and _OFFSET.fullmatch(offset))
    for value in tags.values():
        text = exif.text(value)
        assert text is None or (len(text) <= 100 and text.isprintable())


# ------------------------------------------------------------------ named cases


@pytest.mark.parametrize("size", [0, 1])
def test_zero_and_one_byte_files(size):
    for data in {bytes(size), b"\xff"[:size], b"\x89"[:size], b"R"[:size]}:
        assert ingest(data, SMALL_LIMITS) is None


def test_every_short_prefix_of_every_format_is_refused_cleanly():
    for name, data in kit.generated_seeds().items():
        for length in range(65):
            assert ingest(data[:length], SMALL_LIMITS) is None, (name, length)


GIANTS = [
    (kit.giant_png, (65_535, 65_535)),
    (kit.giant_png, (2**31 - 1, 2)),
    (kit.giant_png, (60_000, 2_000)),
    (kit.giant_jpeg, (65_535, 65_535)),
    (kit.giant_jpeg, (60_000, 2_000)),
    (kit.giant_webp, (16_384, 16_384)),
    (kit.giant_webp, (16_384, 8_000)),
    (kit.giant_heic, (65_535, 65_535)),
    (kit.giant_heic, (60_000, 2_000)),
]


@pytest.mark.parametrize("builder, size", GIANTS, ids=lambda v: getattr(v, "__name__", v))
def test_header_declared_giant_dimensions_are_refused_without_decoding(builder, size, monkeypatch):
    monkeypatch.setattr(photos, "_load_reduced", lambda *a: pytest.fail("decoded"))
    with kit.within(2.0, 16 * 1024 * 1024):
        with pytest.raises(photos.PhotoError) as refused:
            photos.inspect(builder(*size), **CONFIG_LIMITS)
    if builder is kit.giant_heic:
        # libheif refuses some sizes itself before we see them: also a clean 422.
        assert refused.value.error in ("photo_too_many_pixels", "photo_undecodable")
    else:
        assert refused.value.error == "photo_too_many_pixels"
        limit = 32_000_000 if builder is kit.giant_webp else 64_000_000  # WebP: half
        assert refused.value.errors == {"width": size[0], "height": size[1], "max": limit}


def test_a_progressive_jpeg_with_thousands_of_scans_is_refused_quickly():
    # Before the scan limit this 40 KB file took ~10 s to decode (a few MB: hours).
    with kit.within(2.0, 16 * 1024 * 1024):
        with pytest.raises(photos.PhotoUndecodable) as refused:
            photos.inspect(kit.scan_bomb(5_000), **CONFIG_LIMITS)
    assert refused.value.errors == {"max_scans": photos.MAX_JPEG_SCANS}


def test_a_sequential_jpeg_with_a_repeated_scan_is_refused_quickly():
    # Why only progressive JPEGs have their scans counted: libjpeg stops these itself.
    data = kit.encode(Image.new("RGB", (1_000, 1_000), (10, 200, 30)), "JPEG")
    scan = data[data.index(b"\xff\xda") : -2]
    with kit.within(2.0, 32 * 1024 * 1024):
        with pytest.raises(photos.PhotoUndecodable):
            photos.inspect(data[:-2] + scan * 500 + b"\xff\xd9", **CONFIG_LIMITS)


@pytest.mark.parametrize("scans", [10, photos.MAX_JPEG_SCANS, photos.MAX_JPEG_SCANS + 1])
def test_the_scan_limit_is_exact(scans):
    data = kit.scan_bomb(scans, side=256)  # libjpeg's 10 scans, the last one repeated
    facts = ingest(data, SMALL_LIMITS)
    assert (facts is not None) == (scans <= photos.MAX_JPEG_SCANS)


AT_LIMIT = {
    "png_rgb": ("RGB", "PNG", {}),
    "png_rgba": ("RGBA", "PNG", {}),
    "png_16bit": ("I;16", "PNG", {}),
    "jpeg_progressive": ("RGB", "JPEG", {"progressive": True}),
    "webp_lossy": ("RGB", "WEBP", {"quality": 10, "method": 0}),
    "webp_lossless": ("RGBA", "WEBP", {"lossless": True, "method": 0}),
}


@pytest.mark.parametrize("name", sorted(AT_LIMIT))
def test_memory_at_the_pixel_limit(name):
    """A flat picture (a few KB) at exactly the pixel limit: the decoders' buffers must
    stay within BYTES_PER_PIXEL a pixel. WebP's decoder takes 12-16 bytes a pixel, so
    its own limit is half the configured one."""
    mode, fmt, params = AT_LIMIT[name]
    side = 2_896
    data = kit.encode(Image.new(mode, (side, side), 200), fmt, **params)
    limits = {"max_bytes": len(data), "max_pixels": side * side}
    with kit.within(15.0, kit.memory_limit(side * side)):
        try:
            refused = not photos.inspect(data, **limits)
        except photos.PhotoTooManyPixels:
            refused = True
    assert refused == (fmt == "WEBP")


def test_webp_gets_half_the_pixel_limit():
    data = kit.encode(Image.new("RGB", (100, 50), 200), "WEBP")
    assert photos.inspect(data, max_bytes=10**6, max_pixels=10_000).width == 100
    with pytest.raises(photos.PhotoTooManyPixels) as refused:
        photos.inspect(data, max_bytes=10**6, max_pixels=9_999)
    assert refused.value.errors == {"width": 100, "height": 50, "max": 4_999}


def _gps_entries():
    # GPS IFD entries; values in the data area: N, 32/1 42/1 3350/100, E, the same.
    return [
        (1, 2, 2, b"N\x00\x00\x00"),
        (2, 5, 3, ("data", 0)),
        (3, 2, 2, b"E\x00\x00\x00"),
        (4, 5, 3, ("data", 0)),
    ]


_DMS = b"".join(v.to_bytes(4, "little") for v in (32, 1, 42, 1, 3350, 100))
_MAKE = (0x010F, 2, 10, ("data", 24))  # "FuzzPhone\0" after the DMS triple
HOSTILE_EXIF = {
    # IFD0 -> Exif IFD = IFD0 itself, GPS -> IFD1 whose own Exif pointer is IFD1; the
    # next-IFD links go round IFD0 -> IFD0 and IFD1 -> IFD0.
    "ifd_loops": (
        [([_MAKE, (0x8769, 4, 1, ("ifd", 0)), (0x8825, 4, 1, ("ifd", 1))], ("ifd", 0))]
        + [(_gps_entries() + [(0x8769, 4, 1, ("ifd", 1))], ("ifd", 0))],
        ("FuzzPhone", True),
    ),
    # 300 IFDs, each pointing at the next one as its Exif IFD and next IFD.
    "deeply_nested": (
        [([_MAKE, (0x8769, 4, 1, ("ifd", i + 1))], ("ifd", i + 1)) for i in range(299)]
        + [(_gps_entries(), 0)],
        ("FuzzPhone", False),
    ),
    "huge_counts": (
        [([(0x010F, 2, 0xFFFF_FFFF, ("data", 24)), (0x8825, 4, 1, ("ifd", 1))], 0)]
        + [([(1, 2, 2, b"N\x00\x00\x00"), (2, 5, 0x2000_0000, ("data", 0))], 0)],
        (None, False),
    ),
    "offsets_out_of_range": (
        [([(0x010F, 2, 10, 0xFFFF_FF00), (0x8769, 4, 1, 0xFFFF_FFF0)], 0xFFFF_FFFF)]
        + [([(0x8825, 4, 1, 0x7FFF_FFFF), (0x0110, 2, 40, 0x8000_0000)], 0)],
        (None, False),
    ),
}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
@pytest.mark.parametrize("name", sorted(HOSTILE_EXIF))
def test_hostile_exif_structures(name, fmt):
    ifds, (make, has_position) = HOSTILE_EXIF[name]
    block = b"Exif\x00\x00" + kit.tiff("<", ifds, _DMS + b"FuzzPhone\x00")
    with warnings.catch_warnings():  # Pillow's warnings are logged in production
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        facts = ingest(kit.with_exif(fmt, block), SMALL_LIMITS, seconds=2.0)
    assert facts.make == make
    assert (facts.exif_latitude is not None) == has_position


def test_an_entry_count_beyond_the_block_is_harmless():
    block = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x0f\x01\x02\x00" * 6
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        assert ingest(kit.with_exif("JPEG", block), SMALL_LIMITS).make is None


def _oversized_exif(total: int) -> bytes:
    """An IFD whose every entry claims the whole block: reading them all naively would
    take entries x size bytes (Pillow caps the sum at the block's size)."""
    entries = [(0x9000 + i, 7, total, ("data", 0)) for i in range(4_000)]
    return b"Exif\x00\x00" + kit.tiff("<", [(entries, 0)], bytes(total))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG"])
def test_oversized_exif(fmt):
    if fmt == "JPEG":
        # One APP1 segment holds 64 KB; Pillow joins consecutive EXIF segments.
        base = kit.encode(kit.picture(3, (96, 64)), "JPEG")
        segment = b"\xff\xe1\xff\xff" + b"Exif\x00\x00" + bytes(65_527)
        data = base[:2] + b"".join([segment] * 150) + base[2:]
    else:
        data = kit.with_exif(fmt, _oversized_exif(8 * 1024 * 1024))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        with kit.within(3.0, 4 * len(data) + kit.SLACK_BYTES):
            facts = photos.inspect(data, **SMALL_LIMITS)
    assert (facts.width, facts.height, facts.make) == (96, 64, None)


def test_a_malformed_tag_in_the_first_ifd_loses_only_itself():
    # Pillow decodes IFD0 values on first access and warns about a wrong count; the
    # suite makes warnings errors, and that one escaped exif.read before the fix.
    make, orientation = (0x010F, 3, 20, ("data", 24)), (0x0112, 3, 3, ("data", 24))
    ifds = [([make, orientation, (0x8825, 4, 1, ("ifd", 1))], 0), (_gps_entries(), 0)]
    block = b"Exif\x00\x00" + kit.tiff("<", ifds, _DMS + b"A" * 40)
    facts = photos.inspect(kit.with_exif("JPEG", block), **SMALL_LIMITS)
    assert (facts.make, facts.orientation) == (None, None)
    assert facts.exif_latitude == pytest.approx(32 + 42 / 60 + 33.5 / 3600, abs=1e-9)
