"""Request and response rules that hold for every endpoint."""

import io

from flask import Request, current_app, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from schemas.common import json_strings
from server.errors import AppError


class PayloadTooLarge(AppError):
    status_code = 413
    error = "payload_too_large"
    message = "The request body is too large."
    message_zh = "请求内容过大。"


class MalformedBody(AppError):
    error = "malformed_json"
    message = "The JSON body is malformed or nested too deeply."
    message_zh = "JSON 格式错误或嵌套过深。"


class NulCharacter(AppError):
    status_code = 422
    error = "nul_character"
    message = "Text may not contain NUL (\\x00) characters."
    message_zh = "文本中不能包含 NUL (\\x00) 字符。"


class UploadRequest(Request):
    """Photos and attachments are parsed into memory, instead of into werkzeug's temporary
    file for every part over 500 KB, for the views that take each upload whole as bytes
    anyway (their class sets `uploads_in_memory`): writing a 2 MB photo to a file and
    reading it back cost 0.6 ms of CPU (BENCHMARKS.md). MAX_CONTENT_LENGTH bounds the
    body before it is parsed. Elsewhere large parts still go to a temporary file: a
    roster import reads only its first MAX_ROSTER_BYTES, and a multipart body sent to
    any other endpoint is parsed too (the NUL check below) before any view can refuse
    it, so no endpoint holds in memory a body its view would not read."""

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):  # fmt: skip
        view = current_app.view_functions.get(self.endpoint)
        if getattr(getattr(view, "view_class", None), "uploads_in_memory", False):
            return io.BytesIO()
        return super()._get_file_stream(
            total_content_length, content_type, filename, content_length
        )


def upload_bytes(file):
    """The bytes of an uploaded file (a werkzeug FileStorage), without copying them
    when the upload is in memory (`UploadRequest`)."""
    if isinstance(file.stream, io.BytesIO):
        return file.stream.getvalue()
    return file.read()


def register_http_hooks(app):
    app.request_class = UploadRequest

    @app.get("/api/docs/assets/<path:filename>")
    def swagger_ui_assets(filename):
        return send_from_directory(swagger_ui_path, filename, max_age=86400)

    @app.before_request
    def limit_body_size():
        # Refuse by the declared length before reading anything. JSON never needs
        # megabytes; uploads get the larger MAX_CONTENT_LENGTH.
        length = request.content_length or 0
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.is_json:
            limit = app.config["MAX_JSON_BYTES"]
        if length > limit:
            raise PayloadTooLarge(errors={"max_bytes": limit})

    @app.before_request
    def refuse_nul_and_nesting():
        # PostgreSQL cannot store NUL in text, and a deeply nested body exhausts the
        # parser's recursion: both are bad input, answered before any view runs.
        if request.is_json:
            request.max_content_length = app.config["MAX_JSON_BYTES"]  # chunked bodies too
            try:
                body = request.get_json(silent=True)
            except RecursionError:
                raise MalformedBody() from None
            values = json_strings(body)
        else:
            values = list(request.form.values())
        values += list(request.args.values()) + list(request.args.keys())
        if any("\x00" in value for value in values):
            raise NulCharacter()

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if app.config["HSTS_SECONDS"]:
            response.headers.setdefault(
                "Strict-Transport-Security",
                f"max-age={app.config['HSTS_SECONDS']}; includeSubDomains",
            )
        if request.path.startswith("/api/v1/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
