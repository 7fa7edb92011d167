"""EXIF reading on the awkward values real devices write."""

import io
from datetime import datetime

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from server.services import exif, photos

LAT, LAT_REF, LON, LON_REF = 2, 1, 4, 3  # GPS IFD tags


def _r(*values):
    return tuple(IFDRational(*v) if isinstance(v, tuple) else IFDRational(v) for v in values)


def test_position_signs_follow_the_refs():
    gps = {LAT_REF: "S", LAT: _r(0, (22278, 1000), 0), LON_REF: "E", LON: _r(36, 3.385, 0)}
    lat, lon = exif.position(gps)
    assert lat == pytest.approx(-0.3713, abs=1e-9)
    assert lon == pytest.approx(36.0564166667, abs=1e-9)
    gps = {LAT_REF: b"n\x00", LAT: _r(47, 37.63, 0), LON_REF: "w ", LON: _r(122, 20.24, 0)}
    assert exif.position(gps) == pytest.approx((47.6271666667, -122.3373333333), abs=1e-9)


@pytest.mark.parametrize(
    "gps",
    [
        {},
        {LAT_REF: "N", LAT: _r(40, 26, 49)},  # latitude without longitude
        {LAT_REF: "N", LAT: _r(0, 0, 0), LON_REF: "E", LON: _r(0, 0, 0)},  # Null Island
        {LAT_REF: "\x00", LAT: _r((0, 0), (0, 0), (0, 0)), LON_REF: "\x00", LON: _r((1, 0))},
        {LAT_REF: "N", LAT: _r((43, 1), (28, 0), 2), LON_REF: "E", LON: _r(11, 53, 6)},
        {LAT_REF: "N", LAT: _r(91, 0, 0), LON_REF: "E", LON: _r(11, 53, 6)},
        {LAT_REF: "N", LAT: "garbage", LON_REF: "E", LON: _r(11, 53, 6)},
        {LAT_REF: "N", LAT: (1, 2, 3, 4), LON_REF: "E", LON: _r(11, 53, 6)},
    ],
    ids=[
        "empty",
        "half",
        "zero",
        "zero-denominators",
        "one-zero-denominator",
        "out-of-range",
        "garbage",
        "four-parts",
    ],
)
def test_position_is_none_when_unusable(gps):
    assert exif.position(gps) == (None, None)


def test_single_value_degrees():
    gps = {LAT_REF: "N", LAT: _r(30.5), LON_REF: "E", LON: _r(114.25)}
    assert exif.position(gps) == (30.5, 114.25)


DTO, DTD, DT = 36867, 36868, 306
OTO, OTD, OT = 36881, 36882, 36880


@pytest.mark.parametrize(
    "ifd0, sub, expected",
    [
        (
            {DT: "2020:01:01 00:00:00"},
            {DTO: "2019:05:06 07:08:09", OTO: "+08:00"},
            (datetime(2019, 5, 6, 7, 8, 9), "+08:00"),
        ),
        (
            {DT: "2020:01:01 00:00:00"},
            {DTD: "2019:05:06 07:08:09", OTD: "-03:30", OTO: "+01:00"},
            (datetime(2019, 5, 6, 7, 8, 9), "-03:30"),
        ),
        (
            {DT: "2020:01:01 00:00:01\x00"},
            {OT: "+05:45"},
            (datetime(2020, 1, 1, 0, 0, 1), "+05:45"),
        ),
        ({DT: "2020:01:01 00:00:00"}, {DTO: "    :  :     :  :  "}, (datetime(2020, 1, 1), None)),
        ({DT: "2020:01:01 00:00:00"}, {DTO: "0000:00:00 00:00:00"}, (datetime(2020, 1, 1), None)),
        ({DT: "2020:01:01 00:00:00"}, {DTO: "yesterday"}, (None, None)),
        ({}, {DTO: "2019:02:30 10:00:00"}, (None, None)),
        ({}, {DTO: "2019-05-06T07:08:09.123Z", OTO: "UTC"}, (datetime(2019, 5, 6, 7, 8, 9), None)),
        ({}, {}, (None, None)),
    ],
    ids=[
        "original",
        "digitized",
        "datetime",
        "blank-original",
        "zero-original",
        "garbled-original",
        "impossible-date",
        "iso-like",
        "none",
    ],
)
def test_capture_time_order(ifd0, sub, expected):
    assert exif.capture_time(ifd0, sub) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("SAMSUNG            ", "SAMSUNG"),
        (b"Apple\x00", "Apple"),
        ("", None),
        ("\x00\x00\x00", None),
        ("   ", None),
        (b"\xff\xfe\x01\x02", "ÿþ"),
        (12, None),
        (None, None),
        ("x" * 300, "x" * 100),
    ],
)
def test_text(value, expected):
    assert exif.text(value) == expected


def test_written_exif_is_read_back_through_inspect():
    image = Image.radial_gradient("L").resize((96, 64)).convert("RGB")
    tags = Image.Exif()
    tags.update({ExifTags.Base.Make: "  HUAWEI\x00\x00", ExifTags.Base.Model: ""})
    tags.update({ExifTags.Base.Orientation: 8, ExifTags.Base.DateTime: "2026:03:05 10:00:00"})
    tags.get_ifd(ExifTags.IFD.Exif).update({DTO: "2026:03:01 07:59:59", OTO: "+08:00"})
    gps = {LAT_REF: "S", LAT: (33.0, 51.0, 54.0), LON_REF: "W", LON: (151.0, 12.0, 36.0)}
    tags.get_ifd(ExifTags.IFD.GPSInfo).update(gps)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=tags)
    facts = photos.inspect(buffer.getvalue(), max_bytes=10**6, max_pixels=10**6)
    assert facts.exif_latitude == pytest.approx(-(33 + 51 / 60 + 54 / 3600), abs=1e-9)
    assert facts.exif_longitude == pytest.approx(-(151 + 12 / 60 + 36 / 3600), abs=1e-9)
    assert facts.exif_taken_local == datetime(2026, 3, 1, 7, 59, 59)
    assert (facts.exif_offset, facts.make, facts.model) == ("+08:00", "HUAWEI", None)
    assert (facts.orientation, facts.width, facts.height) == (8, 64, 96)
