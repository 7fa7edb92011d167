"""EXIF facts of an evidence photo: position, capture time, orientation, camera.

Phones and cameras write EXIF badly more often than one would hope (empty GPS blocks,
zero denominators, (0, 0) fixes, zero-length or padded strings, blank dates), and
exiftool's readings of the real test photos are the reference. Nothing here raises on
bad metadata: a photo whose EXIF cannot be read is still evidence, it just has no EXIF
facts, and verification flags that separately.
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime

from PIL import ExifTags, Image

_IFD = ExifTags.IFD
_TAG = ExifTags.Base
_GPS = ExifTags.GPS

# "YYYY:MM:DD HH:MM:SS"; some writers use '-' or 'T'. Anything after the seconds
# (sub-seconds, 'Z', padding) is ignored: SubSecTime and OffsetTime carry those.
_DATETIME = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"[+-](?:0\d|1[0-4]):[0-5]\d")
_MAX_TEXT = 100  # the Photo.make / Photo.model columns


@dataclass(frozen=True)
class ExifFacts:
    latitude: float | None = None
    longitude: float | None = None
    taken_local: datetime | None = None
    offset: str | None = None
    orientation: int | None = None
    make: str | None = None
    model: str | None = None


def read(image: Image.Image) -> ExifFacts:
    """The facts of an opened image; empty facts if its EXIF is unreadable."""
    try:
        exif = image.getexif()
        gps = exif.get_ifd(_IFD.GPSInfo)
        sub = exif.get_ifd(_IFD.Exif)
    except Exception:  # malformed EXIF must never block a check-in; see module doc
        return ExifFacts()
    # Pillow decodes a value of the first IFD when it is first read, and a malformed one
    # raises (or warns, which the tests make an error) right there: read the few we use
    # here, each on its own, so that a bad tag loses only itself.
    ifd0 = {
        tag: _get(exif, tag) for tag in (_TAG.Make, _TAG.Model, _TAG.Orientation, _TAG.DateTime)
    }
    latitude, longitude = position(gps)
    taken, offset = capture_time(ifd0, sub)
    return ExifFacts(
        latitude=latitude,
        longitude=longitude,
        taken_local=taken,
        offset=offset,
        orientation=_orientation(image, ifd0),
        make=text(ifd0[_TAG.Make]),
        model=text(ifd0[_TAG.Model]),
    )


def _get(exif, tag):
    try:
        return exif.get(tag)
    except Exception:  # see read()
        return None


def position(gps) -> tuple[float | None, float | None]:
    """Signed decimal degrees, or (None, None) when absent, broken or exactly (0, 0)."""
    latitude = _coordinate(gps.get(_GPS.GPSLatitude), gps.get(_GPS.GPSLatitudeRef), "S", 90)
    longitude = _coordinate(gps.get(_GPS.GPSLongitude), gps.get(_GPS.GPSLongitudeRef), "W", 180)
    if latitude is None or longitude is None:
        return None, None
    # (0, 0) is what many phones write when they had no fix ("Null Island").
    if latitude == 0 and longitude == 0:
        return None, None
    return latitude, longitude


def _coordinate(value, ref, negative: str, limit: float) -> float | None:
    degrees = _dms(value)
    if degrees is None or degrees > limit:
        return None
    ref = text(ref)
    return -degrees if ref and ref[0].upper() == negative else degrees


def _dms(value) -> float | None:
    """(degrees, minutes, seconds) rationals; a zero denominator reads as NaN."""
    if not isinstance(value, tuple | list) or not 1 <= len(value) <= 3:
        return None
    try:
        parts = [float(part) for part in value]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if any(math.isnan(part) or math.isinf(part) or part < 0 for part in parts):
        return None
    return sum(part / 60**i for i, part in enumerate(parts))


def capture_time(exif, sub) -> tuple[datetime | None, str | None]:
    """DateTimeOriginal with its OffsetTimeOriginal. Only when DateTimeOriginal is
    absent, DateTimeDigitized, then DateTime (often an edit time, so last), each with
    its own offset tag. A present but garbled DateTimeOriginal gives None rather than
    a later time that could make an old photo look fresh."""
    candidates = (
        (sub.get(_TAG.DateTimeOriginal), sub.get(_TAG.OffsetTimeOriginal)),
        (sub.get(_TAG.DateTimeDigitized), sub.get(_TAG.OffsetTimeDigitized)),
        (exif.get(_TAG.DateTime), sub.get(_TAG.OffsetTime)),
    )
    for value, offset in candidates:
        value = text(value)
        if value is None or _blank_date(value):
            continue
        taken = parse_datetime(value)
        return taken, (offset_text(offset) if taken else None)
    return None, None


def _blank_date(value: str) -> bool:
    # Cameras with an unset clock write zeros or spaces; that is "no date", not a date.
    return not value.strip(" :0-T")


def parse_datetime(value: str) -> datetime | None:
    match = _DATETIME.match(value.strip())
    if not match:
        return None
    try:
        return datetime(*(int(group) for group in match.groups()))
    except ValueError:
        return None


def offset_text(value) -> str | None:
    value = text(value)
    return value if value and _OFFSET.fullmatch(value) else None


def text(value) -> str | None:
    """A printable, stripped string, or None for absent, empty or garbage values."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    value = "".join(ch for ch in value if ch.isprintable()).strip()
    return value[:_MAX_TEXT] or None


def _orientation(image: Image.Image, exif) -> int | None:
    # pillow-heif rotates HEIC while decoding and resets the tag to 1, keeping what the
    # file said in info["original_orientation"] (None when it was 1 or absent).
    value = image.info.get("original_orientation") or exif.get(_TAG.Orientation)
    return value if isinstance(value, int) and 1 <= value <= 8 else None
