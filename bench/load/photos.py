"""Real phone photos, restamped for each check-in.

Every check-in sends one of the phone JPEGs of ../shared/testdata/photos with its EXIF
capture time, offset and GPS position rewritten in place (same length, so nothing else
moves) to the moment and place of that check-in: the photo rules see an honest photo,
and every upload has bytes of its own (a new SHA-256, so a new original on disk, as in
production). The pixels are untouched, so the perceptual hash repeats and the
near-duplicate rule flags `photo_reused` on nearly every check-in; that costs one flag
row, and is said next to the figures.
"""

import struct
from dataclasses import dataclass
from pathlib import Path

from config import BASE_DIR

PHOTOS_DIR = BASE_DIR.parent / "shared" / "testdata" / "photos"
# The phone JPEGs of 8-13 MP and 1.3-2.8 MB (the Oppo R7 Plus is the 13 MP one).
PHONE_JPEGS = (
    "mei_oppo_r7plus.jpg",
    "es_nokia83_5g.jpg",
    "es_iphone6_hdr_NO.jpg",
    "es_iphone6_hdr_YES.jpg",
    "mei_apple_iphone5_orient3.jpg",
    "mei_lge_nexus4.jpg",
    "mei_nokia_lumia800.jpg",
)
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}  # TIFF type -> bytes
_TIMES = {0x0132, 0x9003, 0x9004}  # DateTime, DateTimeOriginal, DateTimeDigitized
_OFFSETS = {0x9010, 0x9011, 0x9012}  # OffsetTime, ...Original, ...Digitized
_POINTERS = {0x8769, 0x8825}  # the Exif and GPS sub-IFDs


@dataclass
class Photo:
    name: str
    data: bytes
    spots: list  # (what, absolute offset): where the fields to rewrite sit
    endian: str

    def stamped(self, local_time, latitude, longitude):
        """The bytes (a bytearray: one copy fewer on the generator's side) with capture
        time `local_time` (aware, its offset written too) and the position; fields the
        file does not have stay absent."""
        out = bytearray(self.data)
        when = local_time.strftime("%Y:%m:%d %H:%M:%S").encode() + b"\0"
        offset = local_time.strftime("%z")
        offset = f"{offset[:3]}:{offset[3:]}".encode() + b"\0"
        values = {
            "time": when,
            "offset": offset,
            "lat_ref": b"N\0" if latitude >= 0 else b"S\0",
            "lon_ref": b"E\0" if longitude >= 0 else b"W\0",
            "lat": self._dms(latitude),
            "lon": self._dms(longitude),
        }
        for what, at in self.spots:
            value = values[what]
            out[at : at + len(value)] = value
        return out

    def _dms(self, value):
        value = abs(value)
        degrees, rest = int(value), (abs(value) - int(value)) * 60
        minutes = int(rest)
        seconds = round((rest - minutes) * 60 * 10000)
        return struct.pack(self.endian + "6I", degrees, 1, minutes, 1, seconds, 10000)


def load(names=PHONE_JPEGS, directory=PHOTOS_DIR):
    photos = []
    for name in names:
        data = (Path(directory) / name).read_bytes()
        spots, endian = _spots(data)
        photos.append(Photo(name, data, spots, endian))
    return photos


def _spots(data):
    base = _tiff_start(data)
    endian = "<" if data[base : base + 2] == b"II" else ">"

    def unpack(fmt, at):
        return struct.unpack_from(endian + fmt, data, at)[0]

    spots = []
    pending = [(base + unpack("I", base + 4), "main")]
    while pending:
        at, ifd = pending.pop()
        for entry in range(unpack("H", at)):
            tag, kind, count = struct.unpack_from(endian + "HHI", data, at + 2 + 12 * entry)
            inline = _SIZES.get(kind, 1) * count <= 4
            value_at = at + 2 + 12 * entry + 8
            where = value_at if inline else base + unpack("I", value_at)
            if tag in _POINTERS and ifd == "main":
                pending.append((base + unpack("I", value_at), "gps" if tag == 0x8825 else "exif"))
            elif ifd != "gps" and tag in _TIMES and kind == 2 and count == 20:
                spots.append(("time", where))
            elif ifd == "exif" and tag in _OFFSETS and kind == 2 and count == 7:
                spots.append(("offset", where))
            elif ifd == "gps" and tag in (1, 3) and kind == 2 and count == 2:
                spots.append(("lat_ref" if tag == 1 else "lon_ref", where))
            elif ifd == "gps" and tag in (2, 4) and kind in (5, 10) and count == 3:  # (S)RATIONAL
                spots.append(("lat" if tag == 2 else "lon", where))
    return spots, endian


def _tiff_start(data):
    """Where the TIFF header of the Exif APP1 segment starts."""
    at = 2  # after SOI
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], struct.unpack_from(">H", data, at + 2)[0]
        if marker == 0xE1 and data[at + 4 : at + 10] == b"Exif\0\0":
            return at + 10
        if marker == 0xDA:  # image data: no Exif segment before it
            break
        at += 2 + length
    raise ValueError("no Exif segment")
