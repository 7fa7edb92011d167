"""Log-in and log-out: the API's own log-in (same password check, same account rules,
same audit), recorded as a session of the device `web-console`."""

import marshmallow as ma
from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_limiter import RateLimitExceeded

from schemas.auth import LoginSchema
from server import auth as api_auth
from server import ratelimits
from server.errors import AppError, Unauthorized
from server.services import sessions
from server.web import bp, i18n, security

# What the API answers for a wrong password, given also for a malformed phone number.
BAD_CREDENTIALS = Unauthorized(
    "invalid_credentials", "Wrong phone number or password.", "手机号或密码错误。"
)


@bp.get("/login")
def login():
    if security.current_user() is not None:
        return redirect(url_for("console.dashboard"))
    return render_template("login.html", next=request.args.get("next"))


@bp.post("/login")
@ratelimits.login
def login_post():
    form = request.form
    target = security.safe_next(form.get("next"), url_for("console.dashboard"))
    try:
        args = LoginSchema().load(
            {
                "phone": form.get("phone", ""),
                "password": form.get("password", ""),
                "device_id": security.DEVICE,
            }
        )
        tokens = sessions.login(**args, config=current_app.config)
    except ma.ValidationError:
        # A malformed phone is answered like a wrong one: no hint what exists.
        return _refused(BAD_CREDENTIALS, form)
    except AppError as exc:
        return _refused(exc, form)
    auth_session_id = api_auth.decode_token(tokens["access_token"], "access")["sid"]
    security.start(auth_session_id)
    security.load_user()
    user = security.current_user()
    if not user.has_role(*security.ROLES):
        # The password was right, but this is not their tool: end the log-in at once.
        sessions.logout(actor=user, session_id=auth_session_id)
        security.end()
        raise security.role_forbidden()
    return redirect(target)


@bp.errorhandler(RateLimitExceeded)
def too_many_log_ins(exc):
    # The log-in page again with the API's words; the limiter adds Retry-After.
    return _refused(ratelimits.RateLimited(), request.form)


def _refused(exc, form):
    page = render_template(
        "login.html",
        next=form.get("next"),
        phone=form.get("phone", ""),
        error=i18n.message(exc, g.lang),
    )
    return page, exc.status_code


@bp.post("/logout")
def logout():
    user = security.current_user()
    if user is not None:
        sessions.logout(actor=user, session_id=g.console_session_id)
    security.end()
    flash(i18n.translate("login.logged_out", g.lang))
    return redirect(url_for("console.login"))
