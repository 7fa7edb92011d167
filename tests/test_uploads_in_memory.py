"""Uploaded files are parsed into memory (`server.http.UploadRequest`), not spooled to a
temporary file, and reach the views as exactly the bytes the phone sent."""

import io

from flask import request
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from server.http import upload_bytes


def test_a_photo_larger_than_werkzeugs_spool_threshold_stays_in_memory(app):
    photo = bytes(range(256)) * 4096  # 1 MiB; werkzeug spools parts over 500 KB to disk
    upload = FileStorage(io.BytesIO(photo), "IMG_0001.jpg", content_type="image/jpeg")
    form = {"photos": upload, "kind": "presence"}
    boundary, body = encode_multipart(form)  # in memory: the builder's own spool stays shut
    content_type = f"multipart/form-data; boundary={boundary}"
    with app.test_request_context(
        "/api/v1/checkins", method="POST", data=body, content_type=content_type
    ):
        upload = request.files["photos"]
        assert isinstance(upload.stream, io.BytesIO)
        assert upload_bytes(upload) == photo
        assert request.form["kind"] == "presence"


def test_a_file_object_of_another_kind_is_read_whole(app):
    class Spooled:  # what werkzeug's default stream factory would give
        def __init__(self, data):
            self.stream = io.BufferedReader(io.BytesIO(data))

        def read(self):
            return self.stream.read()

    assert upload_bytes(Spooled(b"\xff\xd8\xff photo")) == b"\xff\xd8\xff photo"
