"""Domain exceptions and the one handler that turns every error into the same JSON shape.

    {"code": 409, "status": "Conflict", "error": "posting_overlap",
     "message": "...", "message_zh": "...", "errors": {...}}

`error` is a stable machine code clients switch on; the messages are for people.
"""

import logging
from http import HTTPStatus

import marshmallow as ma
from apispec import BasePlugin
from flask import jsonify
from flask_smorest import Api
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class AppError(Exception):
    status_code = 400
    error = "bad_request"
    message = "Bad request."
    message_zh = "请求有误。"

    def __init__(self, error=None, message=None, message_zh=None, errors=None):
        super().__init__(message or self.message)
        self.error = error or self.error
        self.message = message or self.message
        self.message_zh = message_zh or self.message_zh
        self.errors = errors or {}


class Invalid(AppError):
    status_code = 422
    error = "validation_error"
    message = "The request has invalid values."
    message_zh = "请求中有无效的值。"


class Unauthorized(AppError):
    status_code = 401
    error = "unauthorized"
    message = "Log in first."
    message_zh = "请先登录。"


class Forbidden(AppError):
    status_code = 403
    error = "forbidden"
    message = "You may not do this."
    message_zh = "您无权执行此操作。"


class NotFound(AppError):
    status_code = 404
    error = "not_found"
    message = "Not found."
    message_zh = "未找到。"


class Conflict(AppError):
    status_code = 409
    error = "conflict"
    message = "This conflicts with existing data."
    message_zh = "与现有数据冲突。"


# Werkzeug/webargs errors that reach us as HTTPException, with their machine codes.
_HTTP_CODES = {
    400: ("bad_request", "Malformed request.", "请求格式错误。"),
    401: ("unauthorized", "Log in first.", "请先登录。"),
    403: ("forbidden", "You may not do this.", "您无权执行此操作。"),
    404: ("not_found", "Not found.", "未找到。"),
    405: ("method_not_allowed", "Method not allowed.", "不支持该请求方法。"),
    409: ("conflict", "This conflicts with existing data.", "与现有数据冲突。"),
    413: ("payload_too_large", "The request body is too large.", "请求内容过大。"),
    415: ("unsupported_media_type", "Unsupported content type.", "不支持的内容类型。"),
    422: ("validation_error", "The request has invalid values.", "请求中有无效的值。"),
    429: ("rate_limited", "Too many requests; try again later.", "请求过于频繁，请稍后再试。"),
}


class ErrorSchema(ma.Schema):
    code = ma.fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = ma.fields.String(required=True, metadata={"description": "HTTP status name"})
    error = ma.fields.String(required=True, metadata={"description": "Stable machine code"})
    message = ma.fields.String(required=True, metadata={"description": "English message"})
    message_zh = ma.fields.String(required=True, metadata={"description": "Chinese message"})
    errors = ma.fields.Dict(metadata={"description": "Details, e.g. field -> messages"})


def error_response(status, error, message, message_zh, errors=None, headers=None):
    body = {
        "code": status,
        "status": HTTPStatus(status).phrase,
        "error": error,
        "message": message,
        "message_zh": message_zh,
        "errors": errors or {},
    }
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _webargs_errors(exc):
    """webargs puts marshmallow messages under data['messages'][location]."""
    messages = (getattr(exc, "data", None) or {}).get("messages") or {}
    if len(messages) == 1:
        location, details = next(iter(messages.items()))
        return details if isinstance(details, dict) else {location: details}
    return messages


def handle_app_error(exc):
    return error_response(exc.status_code, exc.error, exc.message, exc.message_zh, exc.errors)


def handle_http_exception(exc):
    status = exc.code or 500
    error, message, message_zh = _HTTP_CODES.get(
        status, ("http_error", exc.name or "Error", "请求失败。")
    )
    errors = _webargs_errors(exc)
    if status == 400 and errors:
        error, message, message_zh = (
            "malformed_json",
            "The JSON body is malformed.",
            "JSON 格式错误。",
        )
    headers = {}
    if status == 405 and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    if status == 429 and getattr(exc, "retry_after", None):
        headers["Retry-After"] = str(exc.retry_after)
    return error_response(status, error, message, message_zh, errors, headers)


def handle_integrity_error(exc):
    # Services check for conflicts first; this is the race-condition backstop.
    from server.extensions import db

    db.session.rollback()
    # The constraint's name only: the database's message carries the values (phones).
    diag = getattr(getattr(exc, "orig", None), "diag", None)
    log.warning("integrity error on %s", getattr(diag, "constraint_name", None) or "a constraint")
    return error_response(409, "conflict", "This conflicts with existing data.", "与现有数据冲突。")


def handle_unexpected(exc):
    from server.extensions import db

    db.session.rollback()
    if isinstance(exc, DataError | OverflowError) or isinstance(
        getattr(exc, "orig", None), OverflowError
    ):
        # Schemas bound every value; this is the backstop for one they missed.
        log.warning("value the database refused: %s", type(getattr(exc, "orig", exc)).__name__)
        return error_response(
            422,
            "invalid_value",
            "A value is out of range or malformed.",
            "某个值超出范围或格式错误。",
        )
    if isinstance(exc, OperationalError):
        log.exception("database unavailable")
        return error_response(
            503, "database_unavailable", "The database is unavailable.", "数据库暂不可用。"
        )
    log.exception("unhandled error")
    return error_response(500, "internal_error", "Internal server error.", "服务器内部错误。")


class MalformedBodyDoc(BasePlugin):
    """Any JSON body can fail to parse before its schema sees it: every operation that
    takes one documents the 400 `malformed_json` beside its 422."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                operation.setdefault("responses", {}).setdefault(400, "BAD_REQUEST")


class ErrorApi(Api):
    """flask-smorest Api whose documented error payload is our ErrorSchema."""

    ERROR_SCHEMA = ErrorSchema

    def __init__(self, *args, spec_kwargs=None, **kwargs):
        spec_kwargs = dict(spec_kwargs or {})
        spec_kwargs["extra_plugins"] = [*spec_kwargs.get("extra_plugins", ()), MalformedBodyDoc()]
        super().__init__(*args, spec_kwargs=spec_kwargs, **kwargs)

    def handle_http_exception(self, error):
        return handle_http_exception(error)


def register_error_handlers(app):
    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(Exception, handle_unexpected)
