"""The photo pipeline against real phone and camera files (exiftool's readings are the
reference) and against crafted hostile input."""

import csv
import functools
import hashlib
import io
import itertools
import os
import struct
import zlib
from datetime import datetime
from pathlib import Path

import pytest
from PIL import ExifTags, Image, WebPImagePlugin

from config import BASE_DIR
from server.services import photos

PHOTOS_DIR = Path(os.environ.get("PHOTOS_DIR") or BASE_DIR.parent / "shared/testdata/photos")
# The one switch for every test that needs the real photos: without the folder they
# SKIP, saying so, rather than pass on nothing.
needs_photos = pytest.mark.skipif(
    not (PHOTOS_DIR / "exiftool_reference.tsv").is_file(),
    reason=f"real test photos not found in {PHOTOS_DIR} (set PHOTOS_DIR)",
)
LIMITS = {"max_bytes": 30 * 1024 * 1024, "max_pixels": 100_000_000}
# No DateTimeOriginal in these: DateTimeDigitized, then DateTime (not in the reference).
FALLBACK_TIMES = {
    "es_samsung_smg930f_0len_string.jpg": datetime(2016, 9, 12, 10, 5, 31),
    "es_nokia83_5g_hdr.heif": datetime(2022, 1, 12, 7, 30, 14),
}
HOSTILE = {
    "mei_heif_NegativeArraySize.heif": "photo_undecodable",
    "mei_heif_IllegalArgument.heif": "photo_undecodable",
    "mei_fuzz_bmp_huge_dims.bmp": "photo_unsupported_format",
}


def _reference() -> dict[str, dict]:
    path = PHOTOS_DIR / "exiftool_reference.tsv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as file:
        return {row["file"]: row for row in csv.DictReader(file, delimiter="\t")}


REFERENCE = _reference()


def _names(hostile: bool):
    names = sorted(name for name in REFERENCE if (name in HOSTILE) == hostile)
    return names or [pytest.param("(no photos)", marks=needs_photos)]


@functools.cache
def facts_of(name: str) -> photos.PhotoFacts:
    # Cached: several tests look at the same decode (a HEIC costs ~0.2 s).
    return photos.inspect((PHOTOS_DIR / name).read_bytes(), **LIMITS)


def _value(row, key):
    value = row[key].strip()
    return None if value in ("", "-") else value


def _reject(data, code, **limits):
    with pytest.raises(photos.PhotoError) as caught:
        photos.inspect(data, **(LIMITS | limits))
    assert caught.value.error == code
    assert caught.value.message and caught.value.message_zh
    return caught.value


@needs_photos
def test_every_file_in_the_folder_has_a_reference_reading():
    files = {p.name for p in PHOTOS_DIR.iterdir() if p.suffix.lower() not in (".tsv", ".md")}
    assert files == set(REFERENCE)


@needs_photos
@pytest.mark.parametrize("name", _names(hostile=False))
def test_position_matches_exiftool(name):
    row, facts = REFERENCE[name], facts_of(name)
    lat, lon = _value(row, "GPSLatitude"), _value(row, "GPSLongitude")
    if lat is None or lon is None or float(lat) == float(lon) == 0:
        assert (facts.exif_latitude, facts.exif_longitude) == (None, None)
    else:
        assert facts.exif_latitude == pytest.approx(float(lat), abs=1e-6)
        assert facts.exif_longitude == pytest.approx(float(lon), abs=1e-6)


@needs_photos
@pytest.mark.parametrize("name", _names(hostile=False))
def test_capture_time_and_camera_match_exiftool(name):
    row, facts = REFERENCE[name], facts_of(name)
    original = _value(row, "DateTimeOriginal")
    if original:
        assert facts.exif_taken_local == datetime.strptime(original, "%Y:%m:%d %H:%M:%S")
        assert facts.exif_offset == _value(row, "OffsetTimeOriginal")
    else:
        assert facts.exif_taken_local == FALLBACK_TIMES.get(name)
    orientation = _value(row, "Orientation")
    assert facts.orientation == (int(orientation) if orientation else None)
    assert facts.make == _value(row, "Make")
    assert facts.model == _value(row, "Model")


@needs_photos
@pytest.mark.parametrize("name", _names(hostile=False))
def test_size_is_as_displayed(name):
    row, facts = REFERENCE[name], facts_of(name)
    width, height = int(row["ImageWidth"]), int(row["ImageHeight"])
    if facts.format == "heic":
        # exiftool reports the coded size; the decoder has applied the container's
        # rotation already, so only the pair is certain here (see the next test).
        assert sorted((facts.width, facts.height)) == sorted((width, height))
    elif facts.orientation in (5, 6, 7, 8):
        assert (facts.width, facts.height) == (height, width)
    else:
        assert (facts.width, facts.height) == (width, height)


@needs_photos
@pytest.mark.parametrize(
    "name, size",
    [
        ("es_iphone13promax_nogps_orient6.heic", (3024, 4032)),
        ("mei_iphonexr_issue263.heic", (3024, 4032)),
        ("mei_samsung_s10p_issue487_emptygps.heic", (3024, 4032)),
        ("mei_iphone8_IMG_1034.heic", (4032, 3024)),
    ],
)
def test_heic_arrives_rotated_and_is_not_rotated_again(name, size):
    facts = facts_of(name)
    assert (facts.width, facts.height) == size
    thumb = Image.open(io.BytesIO(photos.render((PHOTOS_DIR / name).read_bytes(), "thumb")))
    assert (thumb.width > thumb.height) == (size[0] > size[1])


@needs_photos
@pytest.mark.parametrize("name", _names(hostile=False))
def test_hashes_and_thumbnail(name):
    data = (PHOTOS_DIR / name).read_bytes()
    facts = facts_of(name)
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert facts.size_bytes == len(data)
    assert facts.format == {".jpg": "jpeg", ".heic": "heic", ".heif": "heic"}[Path(name).suffix]
    assert len(facts.phash) == 16 and int(facts.phash, 16) == facts.phash_int % 2**64
    assert -(2**63) <= facts.phash_int < 2**63
    _assert_thumbnail(photos.render(data, "thumb"), (facts.width, facts.height))


def _assert_thumbnail(data, displayed):
    thumb = Image.open(io.BytesIO(data))
    assert thumb.format == "JPEG"
    assert max(thumb.size) == min(256, max(displayed))
    if displayed[0] != displayed[1]:
        assert (thumb.width > thumb.height) == (displayed[0] > displayed[1])
    assert not thumb.getexif() and b"Exif" not in data


@needs_photos
@pytest.mark.parametrize("name, code", sorted(HOSTILE.items()))
def test_hostile_files_are_rejected(name, code):
    _reject((PHOTOS_DIR / name).read_bytes(), code)


@needs_photos
def test_hdr_pair_is_near_and_distinct_photos_are_far():
    names = _names(hostile=False)
    pair = ("es_iphone6_hdr_NO.jpg", "es_iphone6_hdr_YES.jpg")
    assert photos.hamming(facts_of(pair[0]).phash_int, facts_of(pair[1]).phash_int) <= 8
    flat = {n for n in names if photos.featureless(facts_of(n).phash_int)}
    # A uniformly grey frame and a 1x1 image: all flat pictures share one pHash.
    assert flat == {"es_samsung_smg930f_0len_string.jpg", "mei_iphonexr_issue508_1x1.jpg"}
    for a, b in itertools.combinations(sorted(set(names) - flat), 2):
        if (a, b) != pair:
            assert photos.hamming(facts_of(a).phash_int, facts_of(b).phash_int) >= 18, (a, b)


@needs_photos
def test_render_display_and_thumb_are_upright_and_bounded():
    data = (PHOTOS_DIR / "mei_oppo_r7plus.jpg").read_bytes()
    display = Image.open(io.BytesIO(photos.render(data, "display")))
    assert display.size == (960, 1280) and not display.getexif()
    rotated = (PHOTOS_DIR / "es_orientation_landscape_6.jpg").read_bytes()
    assert Image.open(io.BytesIO(photos.render(rotated, "display"))).size == (600, 450)
    thumb = Image.open(io.BytesIO(photos.render(rotated, "thumb")))
    assert thumb.size == (256, 192) and not thumb.getexif()


# Crafted input -----------------------------------------------------------------------


def _picture(size=(96, 64)) -> Image.Image:
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    return Image.merge("RGB", (red, green, red.transpose(Image.Transpose.ROTATE_180)))


def _encode(image, fmt, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


@pytest.mark.parametrize("data", [b"", b"\xff"])
def test_empty_and_one_byte_input(data):
    _reject(data, "photo_empty")


def test_too_large_is_413():
    error = _reject(_encode(_picture(), "JPEG"), "photo_too_large", max_bytes=100)
    assert error.status_code == 413


@pytest.mark.parametrize("fmt", ["BMP", "GIF", "PDF", "TIFF"])
def test_other_image_formats_are_415(fmt):
    error = _reject(_encode(_picture(), fmt), "photo_unsupported_format")
    assert error.status_code == 415


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04" + b"\x00" * 100,
        b"<html><body>not a photo</body></html>",
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64,
        b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00" + b"\x00" * 64,
    ],
    ids=["zip", "html", "avif", "mp4"],
)
def test_non_images_and_other_containers_are_415(data):
    _reject(data, "photo_unsupported_format")


def test_png_and_webp_are_accepted():
    png = photos.inspect(_encode(_picture().convert("RGBA"), "PNG"), **LIMITS)
    assert (png.format, png.mime_type, png.width, png.height) == ("png", "image/png", 96, 64)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    webp_bytes = _encode(_picture(), "WEBP", exif=exif)
    webp = photos.inspect(webp_bytes, **LIMITS)
    assert (webp.format, webp.mime_type) == ("webp", "image/webp")
    assert (webp.orientation, webp.width, webp.height) == (6, 64, 96)
    _assert_thumbnail(photos.render(webp_bytes, "thumb"), (64, 96))


@pytest.mark.parametrize("tail", [b"PK\x03\x04zipped payload", b"<html><script>x</script>"])
def test_appended_data_is_kept_in_the_original_but_not_in_the_thumbnail(tail):
    data = _encode(_picture(), "JPEG") + tail
    facts = photos.inspect(data, **LIMITS)
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    for variant in ("thumb", "display"):
        derived = photos.render(data, variant)
        assert tail not in derived and derived.endswith(b"\xff\xd9")


def _png_header(width, height) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )


@pytest.mark.parametrize("size", [(100_000, 100_000), (10_000, 10_000), (2**31 - 1, 2)])
def test_header_declaring_giant_png_is_refused_before_decoding(size):
    # 10,000 x 10,000 is past Pillow's own warning threshold: no warning may escape.
    _reject(_png_header(*size), "photo_too_many_pixels", max_pixels=50_000_000)


@pytest.mark.parametrize("side", [12_000, 16_383])
def test_webp_canvas_is_checked_before_the_decoder_allocates_it(side, monkeypatch):
    vp8x = struct.pack("<I", 10) + b"\x00" * 4 + (side - 1).to_bytes(3, "little") * 2
    data = b"RIFF" + struct.pack("<I", 4 + 8 + 10) + b"WEBPVP8X" + vp8x
    monkeypatch.setattr(WebPImagePlugin, "WebPImageFile", lambda *a: pytest.fail("decoded"))
    _reject(data, "photo_too_many_pixels")


def test_header_declaring_giant_jpeg_is_refused_before_decoding():
    data = bytearray(_encode(_picture((16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    _reject(bytes(data), "photo_too_many_pixels")


def test_pixel_limit_is_exact():
    data = _encode(_picture((100, 50)), "JPEG")
    assert photos.inspect(data, max_bytes=10**6, max_pixels=5000).width == 100
    _reject(data, "photo_too_many_pixels", max_pixels=4999)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_jpeg_is_undecodable(keep):
    data = _encode(_picture((640, 480)), "JPEG", quality=95)
    _reject(data[: int(len(data) * keep)], "photo_undecodable")


def test_garbage_after_a_valid_signature_is_undecodable():
    _reject(b"\xff\xd8\xff" + bytes(range(64)), "photo_undecodable")
    _reject(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "photo_undecodable")
    _reject(b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 64, "photo_undecodable")


def test_hamming_and_signed_hashes():
    assert photos.hamming(0, 0) == 0
    assert photos.hamming(-1, 0) == 64
    assert photos.hamming(-(2**63), 2**63) == 0  # the same bits, signed or not
    assert photos.hamming(0b1011, 0b0001) == 2


def test_columns_fit_the_photo_model():
    from server.models.checkins import Photo

    facts = photos.inspect(_encode(_picture(), "JPEG"), **LIMITS)
    columns = facts.columns()
    assert set(columns) <= set(Photo.__table__.columns.keys())
