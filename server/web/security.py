"""Who is using the console, and the rules every console request obeys: a CSRF token
on every POST, one log-in per cookie tied to an API log-in session (so revoking it,
disabling the account or changing the password ends the console too), and headers
that forbid inline scripts, framing and caching."""

import functools
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from flask import flash, g, redirect, request, session, url_for

from server.errors import AppError, Forbidden
from server.extensions import db
from server.models import AuthSession, User
from server.services import sessions
from server.web import i18n

# Console roles: the organization department's people (and administrators).
ROLES = ("reviewer", "admin")
# The device name console log-ins are recorded under (auth_session.device_id).
DEVICE = "web-console"
# A console log-in ends this long after it began, whatever the activity.
MAX_AGE = timedelta(hours=12)

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


class CsrfFailed(AppError):
    status_code = 400
    error = "csrf_failed"
    message = "The form has expired or did not come from this site; reload and try again."
    message_zh = "表单已过期或来源无效，请刷新页面后重试。"


def role_forbidden():
    return Forbidden(
        "console_role_required",
        "The console is for reviewers and administrators only.",
        "审核台仅供组织部门审核人员和管理员使用。",
    )


# ---------------------------------------------------------------- CSRF


def csrf_token():
    token = session.get("csrf")
    if token is None:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf():
    """Every state-changing request carries the session's token in its form."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session.get("csrf")
    sent = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfFailed()


# ---------------------------------------------------------------- the console user


def start(auth_session_id):
    """A fresh cookie for a new log-in: nothing from before it survives (fixation)."""
    lang = session.get("lang")
    session.clear()
    session["sid"] = auth_session_id
    session["at"] = datetime.now(UTC).timestamp()
    if lang:
        session["lang"] = lang
    csrf_token()


def end():
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def load_user():
    """The logged-in user, or None: the log-in must be unexpired, not revoked, and its
    account still active (the rules the API applies to its tokens)."""
    g.console_user = g.console_session_id = None
    sid = session.get("sid")
    if not sid:
        return
    auth_session = db.session.get(AuthSession, sid)
    user = db.session.get(User, auth_session.user_id) if auth_session is not None else None
    if auth_session is None or auth_session.revoked_at is not None or user is None:
        end()
        return
    started = session.get("at") or 0
    if datetime.now(UTC) - datetime.fromtimestamp(started, UTC) > MAX_AGE:
        # The API's log-in is ended too, so the cookie cannot be brought back to life.
        sessions.logout(actor=user, session_id=sid)
        end()
        flash(i18n.translate("login.expired", g.lang))
        return
    if not user.active:
        end()
        return
    g.console_user, g.console_session_id = user, sid


def current_user():
    return g.get("console_user")


def console_required(view):
    """Logged in (else to the log-in page, coming back here after) and a console role."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        user = current_user()
        if user is None:
            target = request.full_path if request.method == "GET" else None
            return redirect(url_for("console.login", next=target))
        if not user.has_role(*ROLES):
            raise role_forbidden()
        return view(*args, **kwargs)

    return wrapper


def safe_next(target, default):
    """Only a path inside the console: never another site (open redirect)."""
    if (
        isinstance(target, str)
        and target.startswith("/console")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return default


def add_headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")
    return response
