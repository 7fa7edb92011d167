"""Rate limits: how often a client may try to log in, refresh its tokens, or upload.

The limits are declared here and put on views with the decorators below (`login`,
`refresh`, `uploads`); their numbers come from config.py (RATE_LIMIT_*), so a deployment
tunes them without touching code. Counters live in Redis when REDIS_URL is set (shared by
every worker and server), else in each process's memory. A breached limit answers 429
`rate_limited` in the error shape, with Retry-After in seconds.

RATE_LIMITS_ENABLED switches them per app (Flask-Limiter's own switch is per process):
the test suite logs in hundreds of times from one address, so TestingConfig turns them
off and tests/api/test_rate_limits.py turns them on.
"""

import hashlib
import hmac
from collections.abc import Mapping
from copy import deepcopy

from flask import current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from schemas.common import PHONE
from server import auth
from server.errors import AppError
from server.extensions import limiter


class RateLimited(AppError):
    """The same words as the API's 429, for pages that render their own errors."""

    status_code = 429
    error = "rate_limited"
    message = "Too many requests; try again later."
    message_zh = "请求过于频繁，请稍后再试。"


def register_rate_limits(app):
    if app.config["TRUSTED_PROXIES"]:
        # Without it every client behind the load balancer shares one address, and so
        # one per-address budget.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"])

    # Registered before the limiter's own hook, so it runs after it: the limiter puts
    # Retry-After on every limited response, where only a 429 means it, and rounds a
    # wait under a second down to 0.
    @app.after_request
    def retry_after_only_on_429(response):
        if response.status_code != 429:
            response.headers.pop("Retry-After", None)
        elif response.headers.get("Retry-After", "").lstrip("-").isdigit():
            seconds = max(1, int(response.headers["Retry-After"]))
            response.headers["Retry-After"] = str(seconds)
        return response

    limiter.init_app(app)


# ---------------------------------------------------------------- whom a limit counts


def client_address():
    return request.remote_addr or "unknown"


def login_phone():
    """The phone number a log-in is for (API JSON or console form), as a keyed hash: the
    counters' store and the limiter's log never hold phone numbers. A malformed number
    counts against the client's address instead."""
    body = request.get_json(silent=True) if request.is_json else request.form
    phone = body.get("phone") if isinstance(body, Mapping) else None
    if not isinstance(phone, str) or not PHONE.match(phone):
        return "address:" + client_address()
    key = current_app.config["SECRET_KEY"].encode()
    return "phone:" + hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()[:32]


def caller():
    user = auth.current_user()
    return f"user:{user.id}" if user is not None else "address:" + client_address()


# ---------------------------------------------------------------- the decorators


def _switched_off():
    return not current_app.config["RATE_LIMITS_ENABLED"]


def _limited(*limits):
    """Shared limits (config name, key function) on a view, plus the 429 in its OpenAPI.

    Shared, with the config name as scope: the API's and the console's log-in draw on
    the same budget, so alternating between them gains nothing."""

    def decorate(view):
        for setting, key_func in reversed(limits):
            view = limiter.shared_limit(
                lambda setting=setting: current_app.config[setting],
                scope=setting.lower(),
                key_func=key_func,
                exempt_when=_switched_off,
            )(view)
        doc = deepcopy(getattr(view, "_apidoc", {}))
        doc.setdefault("manual_doc", {}).setdefault("responses", {})[429] = {
            "description": "Too many requests (error `rate_limited`); retry after the "
            "Retry-After header's seconds.",
            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        view._apidoc = doc
        return view

    return decorate


login = _limited(
    ("RATE_LIMIT_LOGIN_PER_PHONE", login_phone),
    ("RATE_LIMIT_LOGIN_PER_ADDRESS", client_address),
)
refresh = _limited(("RATE_LIMIT_REFRESH_PER_ADDRESS", client_address))
# Put below @auth.required, so the caller is known.
uploads = _limited(("RATE_LIMIT_UPLOADS_PER_USER", caller))
