"""Request and response rules that hold for every endpoint."""

from flask import request, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from server.errors import AppError


class PayloadTooLarge(AppError):
    status_code = 413
    error = "payload_too_large"
    message = "The request body is too large."
    message_zh = "请求内容过大。"


def register_http_hooks(app):
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

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.path.startswith("/api/v1/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
