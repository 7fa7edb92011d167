"""Evidence photos: check, hash and describe the uploaded bytes, and make derived images.

The ingest path decodes each photo once, at reduced scale where the format allows it
(JPEG's DCT scaling via `draft`), and derives the perceptual hash and the thumbnail from
that one small image: a full-resolution decode of a 13-megapixel JPEG costs three times
as much (see "Where the time goes" in DESIGN.md). The larger display image is made only
when a reviewer first asks for it (`render`, cached by the evidence store).

The decoder is chosen from the magic bytes and constructed directly instead of going
through `Image.open`: no filename or plug-in guessing, and Pillow's decompression-bomb
*warning* (which `Image.open` emits) never happens; our own pixel limit is checked
before any pixel is decoded. Pillow's global settings are left alone.
"""

import functools
import hashlib
import io
import re
from dataclasses import asdict, dataclass
from datetime import datetime

import imagehash
from PIL import Image, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from server.errors import AppError, Invalid
from server.services import exif

THUMB_SIDE = 256
DISPLAY_SIDE = 1280
VARIANTS = {"thumb": (THUMB_SIDE, 80), "display": (DISPLAY_SIDE, 85)}  # long side, quality
# Limits for re-rendering stored originals (they passed `inspect` with the configured ones).
RENDER_MAX_BYTES = 64 * 1024 * 1024
RENDER_MAX_PIXELS = 200_000_000
_PHASH_SIDE = 32  # imagehash.phash works on a 32x32 grey image
# libjpeg's own progressive files have 10 scans (6 in grey). Every scan is a pass over
# all the blocks of the image, and a crafted file can repeat one for a few bytes a copy:
# a 40 KB file took 10 s, a few MB would take hours (libjpeg-turbo's LJT-01-003).
MAX_JPEG_SCANS = 32
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # not stuffing, restart or fill
_JPEG_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}  # SOF markers of progressive frames
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heic"}
# EXIF orientation -> the transpose that shows the picture upright.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class PhotoError(AppError):
    """Base of every rejection of an uploaded photo."""


class PhotoEmpty(PhotoError, Invalid):
    error = "photo_empty"
    message = "The photo is empty."
    message_zh = "照片为空。"


class PhotoTooLarge(PhotoError):
    status_code = 413
    error = "photo_too_large"
    message = "The photo file is too large."
    message_zh = "照片文件过大。"


class PhotoUnsupportedFormat(PhotoError):
    status_code = 415
    error = "photo_unsupported_format"
    message = "Only JPEG, PNG, WebP and HEIC/HEIF photos are accepted."
    message_zh = "仅支持 JPEG、PNG、WebP 和 HEIC/HEIF 格式的照片。"


class PhotoUndecodable(PhotoError, Invalid):
    error = "photo_undecodable"
    message = "The photo is damaged or incomplete and cannot be read."
    message_zh = "照片已损坏或不完整，无法读取。"


class PhotoTooManyPixels(PhotoError, Invalid):
    error = "photo_too_many_pixels"
    message = "The photo has too many pixels."
    message_zh = "照片像素过多。"


@dataclass(frozen=True)
class PhotoFacts:
    sha256: str
    format: str
    mime_type: str
    size_bytes: int
    width: int  # as displayed: after EXIF orientation (HEIC arrives rotated)
    height: int
    phash: str  # 16 hex digits
    phash_int: int  # the same 64 bits as a signed int64 (PostgreSQL BIGINT)
    exif_latitude: float | None
    exif_longitude: float | None
    exif_taken_local: datetime | None
    exif_offset: str | None
    # As written in the file. For HEIC it is informational only: the decoder already
    # applied the container's rotation, which is what counts.
    orientation: int | None
    make: str | None
    model: str | None

    def columns(self) -> dict:
        """The values of the Photo model's columns that come from the bytes."""
        return asdict(self)


def inspect(data: bytes, *, max_bytes: int, max_pixels: int) -> PhotoFacts:
    """Check an upload and describe it; raises a PhotoError subclass on rejection."""
    # pHash reads grey only: a JPEG then decodes its Y channel alone (libjpeg skips the
    # colour planes' IDCT, upsampling and conversion), the same grey as RGB-then-L. The
    # scale stays the thumbnail's, at which every stored hash was made.
    fmt, size, image, facts = _decode(data, max_bytes, max_pixels, THUMB_SIDE, "L")
    phash = imagehash.phash(image)
    value = int(str(phash), 16)
    width, height = size
    if fmt != "heic" and facts.orientation in (5, 6, 7, 8):
        width, height = height, width
    return PhotoFacts(
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        mime_type=_MIME[fmt],
        size_bytes=len(data),
        width=width,
        height=height,
        phash=f"{value:016x}",
        phash_int=value - (1 << 64) if value >= 1 << 63 else value,
        exif_latitude=facts.latitude,
        exif_longitude=facts.longitude,
        exif_taken_local=facts.taken_local,
        exif_offset=facts.offset,
        orientation=facts.orientation,
        make=facts.make,
        model=facts.model,
    )


def render(data: bytes, variant: str) -> bytes:
    """A derived JPEG of a stored original: upright, EXIF stripped, long side bounded."""
    side, quality = VARIANTS[variant]
    _, _, image, _ = _decode(data, RENDER_MAX_BYTES, RENDER_MAX_PIXELS, side, "RGB")
    return _encode(image, side, quality)


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit hashes (signed or unsigned)."""
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


def featureless(phash_int: int) -> bool:
    """True for the pHash of a flat picture (blank wall, covered lens, a 1x1 image).

    Each bit says "this DCT coefficient is above the median", so real photos set
    exactly 32 of the 64; a flat picture sets about one, and all flat pictures share
    that hash. A pHash match between them says nothing about reuse (identical bytes
    are still caught by SHA-256), so verification should not flag it.
    """
    return (phash_int & 0xFFFF_FFFF_FFFF_FFFF).bit_count() < 16


def sniff(data: bytes) -> str:
    """The format from the magic bytes; anything else is unsupported."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and _heif_brand(data):
        return "heic"
    raise PhotoUnsupportedFormat()


def _heif_brand(data: bytes) -> bool:
    # ftyp box: size, 'ftyp', major brand, minor version, compatible brands.
    box_size = int.from_bytes(data[:4], "big")
    if not 16 <= box_size <= min(len(data), 4096):
        return False
    brands = [data[8:12]] + [data[i : i + 4] for i in range(16, box_size - 3, 4)]
    # AVIF shares the container but our libheif build has no AV1 decoder.
    return data[8:12] not in (b"avif", b"avis") and any(b in _HEIF_BRANDS for b in brands)


def _webp_canvas(data: bytes) -> tuple[int, int] | None:
    # Read before the decoder is built: libwebp allocates the whole canvas on creation.
    chunk, le = data[12:16], functools.partial(int.from_bytes, byteorder="little")
    if chunk == b"VP8X" and len(data) >= 30:
        return le(data[24:27]) + 1, le(data[27:30]) + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return le(data[26:28]) & 0x3FFF, le(data[28:30]) & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = le(data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg_scans(data: bytes) -> int:
    """The scans libjpeg would decode, up to one past the limit. The markers are walked
    as it walks them (segments skipped by their length, entropy-coded data up to the
    next marker, nothing after EOI). A sequential JPEG with a repeated scan is refused
    by libjpeg at once, so only a progressive one is walked past its first scan."""
    scans, progressive, at = 0, False, 2
    while match := _JPEG_MARKER.search(data, at):
        marker, at = data[match.start() + 1], match.end()
        if marker == 0xD9:
            break
        if marker in (0x01, 0xD8):  # no length field
            continue
        progressive = progressive or marker in _JPEG_PROGRESSIVE
        if marker == 0xDA:
            scans += 1
            if not progressive or scans > MAX_JPEG_SCANS:
                break
        at += int.from_bytes(data[at : at + 2], "big")
    return scans


def _decode(data, max_bytes, max_pixels, long_side, mode):
    """(format, declared size, small upright image in `mode` ("RGB" or "L"), EXIF facts)
    from one decode."""
    if len(data) < 2:
        raise PhotoEmpty()
    if len(data) > max_bytes:
        raise PhotoTooLarge(errors={"size_bytes": len(data), "max_bytes": max_bytes})
    fmt = sniff(data)
    if fmt == "webp":
        # libwebp's decoder keeps the canvas twice and hands Pillow a copy: 12-16 bytes a
        # pixel, twice the worst of the other formats, so WebP gets half the pixels.
        max_pixels //= 2
        if canvas := _webp_canvas(data):
            _check_pixels(canvas, max_pixels)
    elif fmt == "jpeg" and _jpeg_scans(data) > MAX_JPEG_SCANS:
        raise PhotoUndecodable(errors={"max_scans": MAX_JPEG_SCANS})
    image = _open(fmt, data)
    try:
        size = image.size
        _check_pixels(size, max_pixels)
        _load_reduced(image, fmt, long_side, mode)
        facts = exif.read(image)
        try:
            small = _upright(image, fmt, facts.orientation, long_side, mode)
        except (ValueError, OSError) as exc:  # a pixel format Pillow cannot convert
            raise PhotoUndecodable() from exc
    finally:
        image.close()
    return fmt, size, small, facts


def _open(fmt: str, data: bytes) -> Image.Image:
    try:
        if fmt == "heic":
            return _heif_class()(io.BytesIO(data))
        decoder = {
            "jpeg": JpegImagePlugin.JpegImageFile,
            "png": PngImagePlugin.PngImageFile,
            "webp": WebPImagePlugin.WebPImageFile,
        }[fmt]
        return decoder(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise PhotoTooManyPixels() from exc
    except Exception as exc:  # any decoder failure on hostile bytes is a 422, not a 500
        raise PhotoUndecodable() from exc


@functools.cache
def _heif_class():
    """pillow-heif, loaded and set up when the first HEIC arrives (not at app import).

    Registering is idempotent and sets pillow-heif's process-wide options: one decoder
    thread, because on our 2-core machines four threads were no faster per photo while
    their per-thread malloc arenas grew the resident set by ~130 MB over 60 photos
    (BENCHMARKS.md); and no embedded thumbnails, which a forger controls.
    """
    import pillow_heif

    pillow_heif.register_heif_opener(decode_threads=1, thumbnails=False)
    return pillow_heif.HeifImageFile


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise PhotoUndecodable()
    if width * height > max_pixels:
        raise PhotoTooManyPixels(errors={"width": width, "height": height, "max": max_pixels})


def _load_reduced(image: Image.Image, fmt: str, long_side: int, mode: str) -> None:
    # Only JPEG can decode at 1/2, 1/4 or 1/8 scale. (pillow-heif's `draft` would pick
    # the file's embedded thumbnail, which a forger controls; never use it for HEIC.)
    if fmt == "jpeg":
        width, height = image.size
        need = (long_side, _PHASH_SIDE) if width >= height else (_PHASH_SIDE, long_side)
        image.draft(mode, need)  # YCbCr to L or RGB; CMYK and grey stay as they are
    try:
        image.load()
    except Exception as exc:  # truncated or corrupt pixel data
        raise PhotoUndecodable() from exc


def _upright(image, fmt, orientation, long_side, mode) -> Image.Image:
    """A fresh image in `mode` without metadata, turned upright, its long side reduced to
    no less than long_side (JPEG arrives reduced already)."""
    # reduce() supports only some modes (not palette, 1-bit or 16-bit): convert first.
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    factor = min(max(image.size) // long_side, min(image.size) // _PHASH_SIDE)
    small = image.reduce(factor) if factor >= 2 else image
    small = small.convert(mode) if small.mode != mode else small.copy()
    if fmt != "heic" and orientation in _TRANSPOSE:
        small = small.transpose(_TRANSPOSE[orientation])
    small.info = {}
    return small


def _encode(image: Image.Image, long_side: int, quality: int) -> bytes:
    width, height = image.size
    scale = min(1.0, long_side / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    # No exif/icc arguments: the derived image carries pixels only, so nothing a phone
    # or a forger put into the original (position, appended archives) travels with it.
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
