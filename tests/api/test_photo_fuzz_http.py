"""Fuzzing the whole photo ingestion over HTTP (issue 8): mutated photos and hostile
file names through `POST /api/v1/checkins` (multipart built by hand, so that names and
headers can be anything a client could send). Every answer is 201/200 or a 4xx in the
uniform error shape, never a 5xx; a refused upload leaves no file in the evidence store
and no row; an accepted one stores its original under its hash and nothing else.
Settings: tests/photo_fuzz_kit.py (derandomized)."""

import hashlib
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server import storage
from server.extensions import db
from server.models import Checkin
from tests import photo_fuzz_kit as kit
from tests.api.checkin_kit import fields
from tests.test_platform import ERROR_KEYS

PHOTO_ERRORS = {
    "photo_empty",
    "photo_too_large",
    "photo_unsupported_format",
    "photo_undecodable",
    "photo_too_many_pixels",
}
# Names a hostile client might send: traversal (POSIX, Windows, encoded), absolute paths,
# NUL, control characters, bidi overrides, very long names; all ignored, the photo kept.
HOSTILE_NAMES = [
    b"../../../../../../../../tmp/%(sentinel)s/pwned.jpg",
    b"..\\..\\..\\..\\..\\tmp\\%(sentinel)s\\pwned.jpg",
    b"/tmp/%(sentinel)s/pwned.jpg",
    b"%%2e%%2e%%2f%%2e%%2e%%2ftmp%%2f%(sentinel)s%%2fpwned.jpg",
    b"photo.jpg\x00../../tmp/%(sentinel)s/pwned",
    b"\x01\x02\x1b[31m\x7f.jpg",
    "\u202egpj.exe".encode(),
    "村委会/../../照片.jpg".encode(),
    b"",
    b"x" * 4096 + b".jpg",
]
# Names that break the part's headers (a quote ends the name early and renames the
# field; CR LF starts new headers): the photo is lost, and the check-in refused.
BROKEN_NAMES = [
    b'a.jpg"; name="kind',
    b"a.jpg\r\nContent-Type: text/html\r\n\r\n<script>x</script>",
]
BROKEN_ERRORS = {"validation_error", "nul_character", "photo_required"}


@pytest.fixture
def cadre(world, make):
    return make.headers(world.cadre_a)


@pytest.fixture(scope="module")
def sentinel():
    """A directory name that no one else uses: traversal must never create it."""
    return f"photo-fuzz-{uuid.uuid4().hex}"


def multipart(form: dict, files: list[tuple[bytes, bytes]]) -> tuple[bytes, str]:
    """A multipart body with the file names as raw bytes, exactly as given."""
    boundary = f"----fuzz{uuid.uuid4().hex}".encode()
    body = b""
    for key, value in form.items():
        body += b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (
            boundary,
            key.encode(),
            str(value).encode(),
        )
    for name, data in files:
        body += (
            b'--%s\r\nContent-Disposition: form-data; name="photos"; filename="%s"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n%s\r\n" % (boundary, name, data)
        )
    return body + b"--%s--\r\n" % boundary, f"multipart/form-data; boundary={boundary.decode()}"


def store_files(app) -> set[str]:
    root = Path(app.config["UPLOAD_DIR"])
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def send(client, app, headers, files, **overrides):
    """Post a check-in with these photos; assert what must hold for any answer, and
    return the response."""
    form = fields(**overrides)
    before = store_files(app)
    body, content_type = multipart(form, files)
    response = client.post(
        "/api/v1/checkins", data=body, content_type=content_type, headers=headers
    )
    # What the app's teardown does after every request (here the test's app context
    # outlives the request): end the session, discarding whatever a refusal left staged.
    db.session.remove()
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json
    added = store_files(app) - before
    if response.status_code in (200, 201):
        shas = {p["sha256"] for p in response.json["photos"]}
        assert added <= {str(Path("originals") / s[:2] / s[2:4] / s) for s in shas}
        assert all(storage.read(sha) for sha in shas)
    else:
        assert 400 <= response.status_code < 500
        assert set(response.json) == ERROR_KEYS and response.json["code"] == response.status_code
        assert response.json["message"] and response.json["message_zh"]
        assert not added, added
        assert not db.session.execute(
            db.select(Checkin.id).where(Checkin.client_id == form["client_id"])
        ).first()
    return response


def assert_refused(response, error, index=0):
    assert response.status_code in (413, 415, 422) and response.json["error"] == error
    assert response.json["errors"]["photo_index"] == index


# ------------------------------------------------------------------ property


@kit.fuzz(examples=40, deadline_s=10)
@given(
    kit.mutated(kit.generated_seeds),
    st.sampled_from(HOSTILE_NAMES + BROKEN_NAMES) | st.binary(max_size=64),
)
def test_mutated_uploads_end_in_a_record_or_a_clean_4xx(client, app, cadre, sentinel, case, name):
    # One world for all the examples (fixtures are per test): each is a check-in of its own.
    name = name.replace(b"%(sentinel)s", sentinel.encode())
    response = send(client, app, cadre, [(name, case[1])])
    assert not Path("/tmp", sentinel).exists()
    if response.status_code >= 400:
        assert response.json["error"] in PHOTO_ERRORS | BROKEN_ERRORS
        return
    for shown in response.json["photos"]:
        thumb = client.get(f"/api/v1/photos/{shown['id']}?variant=thumb", headers=cadre)
        kit.assert_clean_derived(thumb.data, 256, kit.TAILS)


# ------------------------------------------------------------------ named cases


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff", b"\x89"], ids=["0", "nul", "ff", "89"])
def test_zero_and_one_byte_files(client, app, cadre, data):
    assert_refused(send(client, app, cadre, [(b"IMG_1.jpg", data)]), "photo_empty")


GIANTS = {
    "png_ihdr": lambda: kit.giant_png(65_535, 65_535),
    "jpeg_sof": lambda: kit.giant_jpeg(60_000, 60_000),
    "webp_vp8x": lambda: kit.giant_webp(16_384, 16_384),
    "heic_ispe": lambda: kit.giant_heic(65_535, 65_535),
}


@pytest.mark.parametrize("name", sorted(GIANTS))
def test_header_declared_giant_dimensions(client, app, cadre, name):
    with kit.within(2.0, 32 * 1024 * 1024):
        response = send(client, app, cadre, [(b"IMG_1.jpg", GIANTS[name]())])
    assert_refused(response, "photo_too_many_pixels")


def test_a_scan_bomb_is_refused_quickly(client, app, cadre):
    with kit.within(2.0, 32 * 1024 * 1024):
        response = send(client, app, cadre, [(b"IMG_1.jpg", kit.scan_bomb(5_000))])
    assert_refused(response, "photo_undecodable")


def test_a_bad_second_photo_leaves_the_first_one_unstored(client, app, cadre):
    good = kit.generated_seeds()["jpeg"]
    response = send(client, app, cadre, [(b"a.jpg", good), (b"b.jpg", b"\xff\xd8\xff")])
    assert_refused(response, "photo_undecodable", index=1)
    assert not storage.exists(hashlib.sha256(good).hexdigest())


def test_a_check_in_refused_after_its_photo_was_staged_leaves_no_file(client, app, cadre):
    # The roll-call is looked up after the photo is staged: the rollback must take it.
    photo = kit.generated_seeds()["png"]
    response = send(client, app, cadre, [(b"a.png", photo)], challenge_id=2_000_000_000)
    assert response.status_code == 422 and response.json["error"] == "challenge_not_found"
    assert not storage.exists(hashlib.sha256(photo).hexdigest())


@pytest.mark.parametrize("raw", HOSTILE_NAMES + BROKEN_NAMES, ids=range(12))
def test_a_file_name_is_never_used_as_a_path(client, app, cadre, sentinel, raw):
    name = raw.replace(b"%(sentinel)s", sentinel.encode())
    photo = kit.encode(kit.picture(len(raw), (64, 48)), "JPEG")
    cwd_before = set(os.listdir("."))
    response = send(client, app, cadre, [(name, photo)])
    if raw in BROKEN_NAMES:
        assert response.status_code == 422 and response.json["error"] in BROKEN_ERRORS
    else:
        assert response.status_code == 201, response.json
        (shown,) = response.json["photos"]
        assert shown["sha256"] == hashlib.sha256(photo).hexdigest()
        original = client.get(f"/api/v1/photos/{shown['id']}?variant=original", headers=cadre)
        assert original.data == photo
        disposition = original.headers["Content-Disposition"]
        assert disposition == f'inline; filename="{shown["sha256"][:16]}.jpg"'
    assert b"pwned" not in response.data and b"gpj" not in response.data
    assert not Path("/tmp", sentinel).exists() and set(os.listdir(".")) == cwd_before
    root = Path(app.config["UPLOAD_DIR"])
    assert not list(root.parent.rglob(f"*{sentinel}*")) and not list(root.rglob("*pwned*"))


POLYGLOTS = {
    "jpeg+html": ("JPEG", kit.TAILS[0]),
    "jpeg+zip": ("JPEG", kit.zip_payload()),
    "png+html": ("PNG", kit.TAILS[0]),
    "png+zip": ("PNG", kit.zip_payload()),
    "webp+zip": ("WEBP", kit.zip_payload()),
    "heic+html": ("HEIF", kit.TAILS[0]),
}


@pytest.mark.parametrize("name", sorted(POLYGLOTS))
def test_polyglots_keep_the_evidence_but_derived_images_are_clean(client, app, cadre, name):
    fmt, payload = POLYGLOTS[name]
    data = kit.encode(kit.picture(11, (320, 240)), fmt) + payload
    response = send(client, app, cadre, [(b"IMG_1.jpg", data)])
    assert response.status_code == 201, response.json
    (shown,) = response.json["photos"]
    assert shown["sha256"] == hashlib.sha256(data).hexdigest()
    url = f"/api/v1/photos/{shown['id']}"
    original = client.get(f"{url}?variant=original", headers=cadre)
    assert original.data == data  # the evidence, byte for byte, appended payload and all
    assert original.headers["X-Content-Type-Options"] == "nosniff"
    assert original.mimetype == shown["mime_type"] != "text/html"
    for variant, (side, _) in {"thumb": (256, 0), "display": (1280, 0)}.items():
        derived = client.get(f"{url}?variant={variant}", headers=cadre)
        assert derived.status_code == 200 and derived.mimetype == "image/jpeg"
        kit.assert_clean_derived(derived.data, side, [payload, b"<script", b"PK\x03\x04"])
        assert storage.derived(shown["sha256"], variant) == derived.data


def test_payloads_inside_the_image_do_not_reach_derived_images(client, app, cadre):
    """HTML in a JPEG comment, in EXIF text and in an ICC profile: kept in the original,
    absent from the derived images."""
    tags = kit.sample_exif()
    tags[0x010E] = "<script>alert(1)</script>"  # ImageDescription
    data = kit.encode(
        kit.picture(12, (320, 240)),
        "JPEG",
        exif=tags,
        comment=b"<html><script>alert(2)</script>",
        icc_profile=b"<script>alert(3)</script>" * 4,
    )
    response = send(client, app, cadre, [(b"IMG_1.jpg", data)])
    assert response.status_code == 201, response.json
    photo_id = response.json["photos"][0]["id"]
    for variant, side in (("thumb", 256), ("display", 1280)):
        derived = client.get(f"/api/v1/photos/{photo_id}?variant={variant}", headers=cadre)
        kit.assert_clean_derived(derived.data, side, [b"<script", b"alert("])


@pytest.mark.parametrize(
    "taken, offset",
    [("0001:01:01 00:00:00", "+14:00"), ("9999:12:31 23:59:59", "-12:00")],
    ids=["year-1", "year-9999"],
)
def test_exif_values_at_the_edges_are_recorded(client, app, cadre, taken, offset):
    """Capture times at the ends of the calendar, a position at the poles' corner and
    camera names full of controls: stored (both databases) and judged, not a 500."""
    tags = kit.sample_exif()
    tags[0x010F] = "\u202e\x1b[31m" + "制造商" * 60  # Make
    tags.get_ifd(0x8769).update({0x9003: taken, 0x9011: offset})
    tags.get_ifd(0x8825).update({1: "S", 2: (90.0, 0.0, 0.0), 3: "W", 4: (180.0, 0.0, 0.0)})
    data = kit.encode(kit.picture(13, (64, 48)), "JPEG", exif=tags)
    response = send(client, app, cadre, [(b"IMG_1.jpg", data)])
    assert response.status_code == 201, response.json
    (shown,) = response.json["photos"]
    assert shown["exif_latitude"] == -90 and shown["exif_longitude"] == -180
    assert shown["exif_taken_at"].startswith(taken[:4])
    flags = {f["code"] for f in response.json["flags"]}
    assert {"photo_time_mismatch", "exif_gps_mismatch"} <= flags
