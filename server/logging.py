"""Structured JSON logs, one object a line, each carrying the request id.

Every string that goes out is masked (server/redaction.py): phone numbers keep only their
first three and last four digits, and tokens, passwords and Authorization headers lose
their values, whether they come in a message, an exception's text (a database error
quoting a row) or a field given with `extra=`.
"""

import json
import logging
import sys
import time
import uuid

from flask import g, has_request_context, request

from server.redaction import redact, redact_value

_SAFE_REQUEST_ID = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
# What every record has; any other attribute was given with `extra=` and is logged too.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
}


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(_message(record)),
            "request_id": redact_value(getattr(record, "request_id", None)),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = redact_value(value, key)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def _message(record):
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001
        # A message whose arguments do not fit: logging's own fallback would print the
        # raw arguments to stderr, unmasked; say what we can, masked, instead.
        return f"{record.msg} {record.args!r}"


class RequestIdFilter(logging.Filter):
    """Adds the request id and the client's address to records made during a request."""

    def filter(self, record):
        in_request = has_request_context()
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if in_request else None
        if in_request and not hasattr(record, "client"):
            # After ProxyFix when TRUSTED_PROXIES is set: the phone's address, not the
            # load balancer's.
            record.client = request.remote_addr
        return True


def configure_logging(app):
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    # Replace, not add: create_app may run several times in one process (tests).
    root.handlers = [h for h in root.handlers if not isinstance(h.formatter, JsonFormatter)]
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
    # Library chatter (alembic's plugin set-up on every command, werkzeug's own access
    # log, which ours replaces) would drown the lines people read.
    for noisy in ("werkzeug", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def incoming_request_id():
    """Trust a client's X-Request-ID only if it is short and plain; otherwise make one."""
    given = request.headers.get("X-Request-ID", "")
    if 8 <= len(given) <= 64 and set(given) <= _SAFE_REQUEST_ID:
        return given
    return uuid.uuid4().hex


def register_request_logging(app):
    access = logging.getLogger("server.access")

    @app.before_request
    def start_request():
        g.request_id = incoming_request_id()
        g.request_started = time.perf_counter()

    @app.after_request
    def finish_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        started = g.get("request_started")
        user = g.get("current_user")
        access.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1)
                if started
                else None,
                "user_id": user.id if user is not None else None,
            },
        )
        return response
