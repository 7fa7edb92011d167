"""The organization department's review console: server-rendered pages over the same
services as the API. Chinese first (`?lang=en` switches, and is remembered); no
external resources, no inline scripts or styles: everything it loads it serves."""

from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import Blueprint, current_app, g, render_template, request, session, url_for

from server.errors import AppError
from server.web import i18n, security

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def register_web(app):
    # The pages attach themselves to `bp` when imported.
    from server.web import (  # noqa: F401
        accountability,
        auth,
        cases,
        draws,
        flags,
        ledger,
        photos,
        problems,
    )

    app.register_blueprint(bp)

    @app.after_request
    def console_headers(response):
        # Also for /console/... addresses no page matched: the blueprint's own hooks
        # do not run for those, and their 404 must not be framable either.
        if request.path == "/console" or request.path.startswith("/console/"):
            security.add_headers(response)
        return response


@bp.before_request
def before():
    requested = request.args.get("lang")
    g.lang = i18n.choose(requested, session.get("lang"))
    if requested in i18n.LANGUAGES:
        session["lang"] = requested
    security.check_csrf()
    if request.endpoint != "console.static":
        security.load_user()


def this_url(**changes):
    """This page's address with some query values changed (paging, language)."""
    args = request.args.to_dict() | changes
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def other_language_url():
    lang = "en" if g.get("lang") == "zh" else "zh"
    if request.method != "GET" or request.endpoint is None:
        return url_for("console.dashboard", lang=lang)  # a form's answer: no page to reload
    return this_url(lang=lang)


@bp.app_template_filter()
def localtime(value, fmt="%Y-%m-%d %H:%M"):
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime(fmt)


@bp.context_processor
def page_context():
    lang = g.get("lang", i18n.DEFAULT)
    return {
        "lang": lang,
        "t": lambda key: i18n.translate(key, lang),
        "label": lambda prefix, value: i18n.label(prefix, value, lang),
        "other_language_url": other_language_url,
        "this_url": this_url,
        "csrf_token": security.csrf_token,
        "user": security.current_user(),
    }


def query_args(schema, defaults=None):
    """The query string through the API's own schema. `lang` and `page` are the page's
    own, and a filter form's empty fields mean "any"."""
    args = {
        key: value
        for key, value in request.args.items()
        if key not in ("lang", "page") and value != ""
    }
    return schema().load((defaults or {}) | args)


def page_number():
    return max(1, min(request.args.get("page", 1, type=int), 100_000))


def error_page(status, error, text, details=None):
    return (
        render_template("error.html", status=status, error=error, text=text, details=details),
        status,
    )


@bp.errorhandler(AppError)
def app_error(exc):
    return error_page(exc.status_code, exc.error, i18n.message(exc, g.get("lang")), exc.errors)


@bp.errorhandler(ma.ValidationError)
def invalid_query(exc):
    text = "请求中有无效的值。" if g.get("lang") != "en" else "The request has invalid values."
    return error_page(422, "validation_error", text, exc.messages)
