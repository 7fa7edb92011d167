"""Synthetic evidence photos with chosen EXIF: position, capture time, offset.

Each seed gives a different picture (perceptual hashes ~30 bits apart); the same seed
re-encoded at another quality or size is a near-duplicate (a few bits apart)."""

import io
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from config import BASE_DIR

PHOTOS_DIR = BASE_DIR.parent / "shared" / "testdata" / "photos"

GPS_IFD = 0x8825
EXIF_IFD = 0x8769


def _dms(value):
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 10000)
    return (IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds, 10000))


def picture(seed, size=(640, 480)):
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize(size, Image.Resampling.BICUBIC)


def jpeg(seed=1, *, lat=None, lon=None, taken=None, offset=None, size=(640, 480), quality=90):
    """A JPEG; `taken` is a naive local datetime written as DateTimeOriginal."""
    image = picture(seed, size)
    exif = Image.Exif()
    exif[0x010F] = "TestPhone"
    exif[0x0110] = "Model T"
    if taken is not None:
        exif_ifd = exif.get_ifd(EXIF_IFD)
        exif_ifd[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
        if offset is not None:
            exif_ifd[0x9011] = offset
    if lat is not None:
        gps = exif.get_ifd(GPS_IFD)
        gps[1] = "N" if lat >= 0 else "S"
        gps[2] = _dms(lat)
        gps[3] = "E" if lon >= 0 else "W"
        gps[4] = _dms(lon)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def reencoded(data, quality=70, scale=0.8):
    """The same picture saved again smaller: what a reused photo usually looks like."""
    image = Image.open(io.BytesIO(data))
    image = image.resize((int(image.width * scale), int(image.height * scale)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def real_photo(name):
    path = Path(PHOTOS_DIR) / name
    return path.read_bytes() if path.exists() else None


def giant_png(width=20_000, height=20_000):
    """A tiny PNG whose header claims a huge canvas (a decompression bomb's calling card)."""
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
