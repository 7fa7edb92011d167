"""Inputs and checks for fuzzing the photo ingestion (tests/services/test_photo_fuzz.py,
tests/api/test_photo_fuzz_http.py): seed photos of every accepted format, hypothesis
strategies that mutate their bytes or build hostile EXIF blocks, crafted hostile files,
and the budget (time, peak memory) every input must stay within.

Hypothesis runs derandomized: the examples are a function of the test's code, so CI
and a developer see the same ones, a failure reproduces exactly, and no example
database is written. PHOTO_FUZZ_SEED=<n> explores other examples (the same n gives the
same ones again), PHOTO_FUZZ_SCALE=<k> multiplies every test's number of examples.
"""

import functools
import io
import os
import struct
import time
import zipfile
import zlib
from contextlib import contextmanager
from datetime import timedelta

from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image

from server.services import photos
from tests.photos import PHOTOS_DIR, picture

SCALE = float(os.environ.get("PHOTO_FUZZ_SCALE", "1"))
SEED = os.environ.get("PHOTO_FUZZ_SEED")
# What one decode may take on top of what the process held before: a few bytes per
# pixel the header declares (the decoders' buffers), plus room for Python's own objects.
BYTES_PER_PIXEL = 8
SLACK_BYTES = 48 * 1024 * 1024


def fuzz(examples: int, deadline_s: float = 5.0):
    """Settings for a @given test: `examples` inputs; a deadline far above any honest
    input (milliseconds, a second for a real HEIC) so that only a hang fails it, never
    a busy machine; and PHOTO_FUZZ_SEED when it is set."""
    options = settings(
        max_examples=max(1, round(examples * SCALE)),
        deadline=timedelta(seconds=deadline_s),
        derandomize=SEED is None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )

    def apply(test):
        test = options(test)
        return seed(int(SEED))(test) if SEED is not None else test

    return apply


# ------------------------------------------------------------------ seed photos

GPS = {1: "N", 2: (32.0, 42.0, 33.5), 3: "E", 4: (116.0, 42.0, 40.3)}


def sample_exif() -> Image.Exif:
    tags = Image.Exif()
    tags.update({ExifTags.Base.Make: "FuzzPhone", ExifTags.Base.Model: "F1"})
    tags.update({ExifTags.Base.Orientation: 6, ExifTags.Base.DateTime: "2026:03:05 10:00:00"})
    tags.get_ifd(ExifTags.IFD.Exif).update({0x9003: "2026:03:01 07:59:59", 0x9011: "+08:00"})
    tags.get_ifd(ExifTags.IFD.GPSInfo).update(GPS)
    return tags


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    if fmt == "HEIF":
        photos._heif_class()  # registers pillow-heif's encoder with Pillow
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


@functools.cache
def generated_seeds() -> dict[str, bytes]:
    """Small photos (96x64) of every accepted format and the unusual modes, most of
    them with EXIF: cheap to decode, so many mutations fit in a few seconds."""
    image, exif = picture(7, (96, 64)), sample_exif()
    return {
        "jpeg": encode(image, "JPEG", exif=exif),
        "jpeg_progressive": encode(image, "JPEG", progressive=True, exif=exif),
        "jpeg_cmyk": encode(image.convert("CMYK"), "JPEG"),
        "png": encode(image, "PNG", exif=exif),
        "png_rgba": encode(image.convert("RGBA"), "PNG"),
        "png_palette": encode(image.convert("P"), "PNG"),
        "png_16bit": encode(image.convert("I;16"), "PNG"),
        "webp": encode(image, "WEBP", exif=exif),
        "webp_lossless": encode(image.convert("RGBA"), "WEBP", lossless=True),
        "heic": encode(image, "HEIF", exif=exif.tobytes()),
    }


@functools.cache
def real_seeds(suffixes=(".jpg",)) -> dict[str, bytes]:
    """The real phone and camera photos of the shared test data (empty without it)."""
    if not PHOTOS_DIR.is_dir():
        return {}
    names = sorted(p.name for p in PHOTOS_DIR.iterdir() if p.suffix.lower() in suffixes)
    return {name: (PHOTOS_DIR / name).read_bytes() for name in names}


def real_heics() -> dict[str, bytes]:
    return real_seeds((".heic", ".heif"))


# ------------------------------------------------------------------ strategies

# Values that break size, count and offset fields: zero, one, sign bits, all ones.
EDGE_INTS = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000]
EDGE_INTS += [0xFFFF_FFFF, 0xFFFF_FFFE]
TAILS = [b"<html><script>alert(document.cookie)</script></html>", b"PK\x03\x04" + b"\x00" * 26]


@st.composite
def mutated(draw, seeds) -> tuple[str, bytes]:
    """(seed name, its bytes after 1-6 edits), edits biased towards the first 512
    bytes, where the headers, sizes and offsets are. `seeds()` gives the photos by name
    (called when drawing, so that collecting the tests reads and encodes nothing)."""
    photos_by_name = seeds()
    name = draw(st.sampled_from(sorted(photos_by_name)))
    data = bytearray(photos_by_name[name])
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.one_of(st.integers(0, min(len(data), 512)), st.integers(0, len(data))))
        op = draw(st.sampled_from(["byte", "int", "bytes", "delete", "insert", "repeat", "cut"]))
        if op == "byte" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "int":
            width, order = draw(st.sampled_from([2, 4])), draw(st.sampled_from(["big", "little"]))
            value = draw(st.sampled_from(EDGE_INTS)) & (2 ** (8 * width) - 1)
            data[at : at + width] = value.to_bytes(width, order)
        elif op == "bytes":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif op == "repeat":  # repeated structures: chunks, segments, scans, boxes
            data[at:at] = bytes(data[at : at + draw(st.integers(1, 256))]) * draw(
                st.integers(2, 40)
            )
        elif op == "cut":
            del data[at:]
    if draw(st.booleans()):
        data += draw(st.sampled_from(TAILS))
    return name, bytes(data)


# EXIF tags the reader uses, pointers to other IFDs, and a few it ignores.
TAGS = [0x010F, 0x0110, 0x0112, 0x0132, 0x8769, 0x8825, 0xA005, 0x927C, 0x011A, 0x0128]
SUB_TAGS = [0x9003, 0x9004, 0x9011, 0x9012, 0x9010, 1, 2, 3, 4, 5, 6, 0x8769, 0x8825]


@st.composite
def exif_blocks(draw) -> bytes:
    """A TIFF-structured EXIF block, often hostile: any entry type, huge counts,
    offsets out of range, IFDs pointing at themselves or at each other (loops), next-IFD
    chains, truncation. Plausible entries are mixed in so that the reader's paths for
    good values run too."""
    order = draw(st.sampled_from(["<", ">"]))
    n_ifds = draw(st.integers(1, 3))
    ifds = []
    for index in range(n_ifds):
        entries = []
        for _ in range(draw(st.integers(0, 8))):
            tag = draw(st.sampled_from(TAGS if index == 0 else SUB_TAGS) | st.integers(0, 0xFFFF))
            typ = draw(st.integers(0, 19) | st.sampled_from([2, 3, 4, 5, 7, 10]))
            count = draw(st.integers(0, 40) | st.sampled_from(EDGE_INTS))
            value = draw(
                st.tuples(st.just("ifd"), st.integers(0, n_ifds - 1))
                | st.tuples(st.just("data"), st.integers(0, 300))
                | st.sampled_from(EDGE_INTS)
                | st.binary(min_size=4, max_size=4)
            )
            entries.append((tag, typ, count, value))
        next_ifd = draw(
            st.just(0) | st.tuples(st.just("ifd"), st.integers(0, n_ifds - 1)) | st.integers()
        )
        ifds.append((entries, next_ifd))
    data_area = draw(st.binary(max_size=300)) + b"2026:03:01 07:59:59\x00FuzzPhone\x00"
    data_area += struct.pack(order + "6L", 32, 1, 42, 1, 3350, 100)  # a DMS rational triple
    block = tiff(order, ifds, data_area)
    if draw(st.booleans()):
        block = block[: draw(st.integers(0, len(block)))]
    return b"Exif\x00\x00" + block


def tiff(order, ifds, data_area=b"", magic=42) -> bytes:
    """A TIFF header, the IFDs one after the other, then the data area. An entry's
    value is an int, 4 raw bytes, ("ifd", i) for the offset of IFD i or ("data", k)
    for an offset into the data area."""
    offsets, at = [], 8
    for entries, _ in ifds:
        offsets.append(at)
        at += 2 + 12 * len(entries) + 4
    data_start = at

    def field(value):
        if isinstance(value, bytes):
            return value
        if isinstance(value, tuple):
            kind, index = value
            value = offsets[index] if kind == "ifd" else data_start + index
        return struct.pack(order + "L", value & 0xFFFF_FFFF)

    out = (b"II" if order == "<" else b"MM") + struct.pack(order + "HL", magic, 8)
    for entries, next_ifd in ifds:
        out += struct.pack(order + "H", len(entries))
        for tag, typ, count, value in entries:
            out += struct.pack(order + "HHL", tag, typ, count & 0xFFFF_FFFF) + field(value)
        out += field(next_ifd)
    return out + data_area


def with_exif(fmt: str, block: bytes, size=(96, 64)) -> bytes:
    """A sound picture of the format carrying `block` as its EXIF."""
    return encode(picture(3, size), fmt, exif=block)


# ------------------------------------------------------------------ hostile files


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def giant_png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def giant_jpeg(width: int, height: int) -> bytes:
    data = bytearray(encode(picture(1, (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def giant_webp(width: int, height: int) -> bytes:
    vp8x = b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def giant_heic(width: int, height: int) -> bytes:
    """A real small HEIC whose 'ispe' (image spatial extents) boxes claim another size."""
    data = bytearray(generated_seeds()["heic"])
    at = data.find(b"ispe")
    while at != -1:
        data[at + 8 : at + 16] = struct.pack(">II", width, height)
        at = data.find(b"ispe", at + 4)
    return bytes(data)


def zip_payload() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<script>alert(document.cookie)</script>")
    return buffer.getvalue()


def scan_bomb(scans: int, side=1024) -> bytes:
    """A progressive JPEG whose last scan is repeated: each copy costs the decoder a
    pass over every block of the image for a few bytes of file (libjpeg-turbo's
    LJT-01-003); a few MB of them keep a decoder busy for hours."""
    data = encode(Image.new("RGB", (side, side), (10, 200, 30)), "JPEG", progressive=True)
    last = data.rindex(b"\xff\xda")
    return data[:-2] + data[last:-2] * (scans - 10) + b"\xff\xd9"


# ------------------------------------------------------------------ checks


def _status(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise LookupError(key)


@contextmanager
def within(seconds: float, max_bytes: int):
    """Fail if the block takes longer than `seconds` or raises the process's peak
    resident memory by more than `max_bytes`. tracemalloc would not do: the decoders'
    pixel buffers are malloc'd in C, out of its sight. The kernel's high-water mark
    (VmHWM) is reset first, so the peak is this block's own."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before, start = _status("VmRSS:"), time.perf_counter()
    yield
    elapsed, grown = time.perf_counter() - start, _status("VmHWM:") - before
    assert elapsed < seconds, f"took {elapsed:.2f} s (limit {seconds} s)"
    assert grown <= max_bytes, f"peak memory grew {grown >> 20} MB (limit {max_bytes >> 20} MB)"


def memory_limit(pixels: int) -> int:
    return BYTES_PER_PIXEL * pixels + SLACK_BYTES


def assert_clean_derived(data: bytes, side: int, forbidden=()) -> Image.Image:
    """A derived image: a plain JPEG (nothing before its SOI or after its EOI), no EXIF,
    ICC or comments, long side within `side`, none of the `forbidden` bytes."""
    assert data[:3] == b"\xff\xd8\xff" and data.endswith(b"\xff\xd9")
    for payload in forbidden:
        assert payload not in data
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and max(image.size) <= side
    assert not image.getexif() and not set(image.info) & {"exif", "icc_profile", "comment"}
    assert image.applist == [] or all(marker == "APP0" for marker, _ in image.applist)
    image.load()
    return image
