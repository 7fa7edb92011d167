"""Photos and attachments are parsed into memory (`server.http.UploadRequest`), not
spooled to a temporary file, and reach the views as exactly the bytes the phone sent;
other endpoints keep werkzeug's temporary file for large parts."""

import io

import pytest
from flask import request
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from server.http import upload_bytes

PHOTO = bytes(range(256)) * 4096  # 1 MiB; werkzeug spools parts over 500 KB to disk


def posted(app, path, field):
    """A request context for a multipart POST of PHOTO to `path` as `field`."""
    upload = FileStorage(io.BytesIO(PHOTO), "IMG_0001.jpg", content_type="image/jpeg")
    boundary, body = encode_multipart({field: upload, "kind": "presence"})  # in memory
    content_type = f"multipart/form-data; boundary={boundary}"
    return app.test_request_context(path, method="POST", data=body, content_type=content_type)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/checkins", "photos"),
        ("/api/v1/checkins/batch", "photos"),
        ("/api/v1/assignments/1/arrival", "photos"),
        ("/api/v1/problems/1/submit", "photos"),
        ("/api/v1/cases/1/answers", "attachments"),
    ],
)
def test_a_photo_larger_than_werkzeugs_spool_threshold_stays_in_memory(app, path, field):
    with posted(app, path, field):
        upload = request.files[field]
        assert isinstance(upload.stream, io.BytesIO)
        assert upload_bytes(upload) == PHOTO
        assert request.form["kind"] == "presence"


def test_other_endpoints_keep_large_parts_out_of_memory(app):
    with posted(app, "/api/v1/imports/roster", "file"):  # reads only its first few MB
        upload = request.files["file"]
        assert not isinstance(upload.stream, io.BytesIO)
        assert upload_bytes(upload) == PHOTO


def test_a_file_object_of_another_kind_is_read_whole(app):
    class Spooled:  # what werkzeug's default stream factory would give
        def __init__(self, data):
            self.stream = io.BufferedReader(io.BytesIO(data))

        def read(self):
            return self.stream.read()

    assert upload_bytes(Spooled(b"\xff\xd8\xff photo")) == b"\xff\xd8\xff photo"
