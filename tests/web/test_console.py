"""The review console: log-in and log-out on the API's rules, CSRF on every form, the
pages over the same services (scope included), and decisions that reach the database."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from config import ProductionConfig
from server.extensions import db
from server.models import AuditEvent, AuthSession, Checkin, CheckinReview, Flag, Photo
from server.web import security
from tests.api.checkin_kit import POST, offset_point, submit
from tests.api.test_draws import create as create_draw
from tests.web.console_kit import csrf_of, log_in, token


@pytest.fixture
def flagged(client, world, make):
    """Cadre A's check-in 5 km from the post, with a photo: flagged outside_geofence."""
    lat, lon = offset_point(*POST, north_m=5000)
    response = submit(client, make.headers(world.cadre_a), latitude=lat, longitude=lon)
    assert response.status_code == 201, response.json
    checkin = db.session.get(Checkin, response.json["id"])
    assert checkin.verdict == "flagged"
    return checkin


@pytest.fixture
def reviewer(client, world):
    assert log_in(client, world.reviewer_a).status_code == 302
    return client


def month_of(checkin):
    return checkin.local_date.strftime("%Y-%m")


def review(client, checkin, decision="rejected", reason="定位距村 5 公里，且无报备。", **extra):
    form = {"decision": decision, "reason": reason, "csrf_token": token(client), **extra}
    return client.post(f"/console/checkins/{checkin.id}/reviews", data=form)


def page(response):
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- log-in and log-out


def test_log_in_starts_a_web_console_session_with_a_safe_cookie(client, world):
    response = log_in(client, world.reviewer_a)
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "console_session" in c)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    session = db.session.execute(
        db.select(AuthSession).where(AuthSession.user_id == world.reviewer_a.id)
    ).scalar_one()
    assert session.device_id == security.DEVICE and session.revoked_at is None
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "auth.login")
    ).scalar_one()
    assert event.actor_id == world.reviewer_a.id
    assert "凤台县委组织部" in page(client.get("/console/"))


def test_production_cookies_are_secure():
    assert ProductionConfig.SESSION_COOKIE_SECURE is True


def test_log_out_revokes_the_session_and_the_cookie_stops_working(reviewer, world):
    response = reviewer.post("/console/logout", data={"csrf_token": token(reviewer)})
    assert response.status_code == 302 and response.headers["Location"] == "/console/login"
    session = db.session.execute(db.select(AuthSession)).scalar_one()
    assert session.revoked_at is not None and session.revoked_reason == "logout"
    again = reviewer.get("/console/ledger")
    assert again.status_code == 302 and again.headers["Location"].startswith("/console/login")


def test_anonymous_visitors_are_sent_to_log_in_and_brought_back(client, world):
    response = client.get("/console/flags?status=open")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/login?next=/console/flags?status%3Dopen"
    back = log_in(client, world.reviewer_a, next="/console/flags?status=open")
    assert back.headers["Location"] == "/console/flags?status=open"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/api/v1/me"])
def test_log_in_never_redirects_off_the_console(client, world, target):
    response = log_in(client, world.reviewer_a, next=target)
    assert response.headers["Location"] == "/console/"


def test_wrong_password_and_malformed_phone_get_the_same_page(client, world):
    wrong = log_in(client, world.reviewer_a, password="not-the-password")
    assert wrong.status_code == 401 and "手机号或密码错误" in page(wrong)
    token_ = csrf_of(client.get("/console/login"))
    odd = client.post("/console/login", data={"phone": "12", "password": "x", "csrf_token": token_})
    assert odd.status_code == 401 and "手机号或密码错误" in page(odd)
    assert db.session.execute(db.select(AuthSession)).first() is None


def test_disabled_account_cannot_log_in(client, world, make):
    user = make.user("reviewer", jurisdiction=world.county_a, active=False)
    response = log_in(client, user)
    assert response.status_code == 403 and "该账号已停用" in page(response)


@pytest.mark.parametrize("who", ["cadre_a", "inspector_a"])
def test_cadres_and_inspectors_get_a_403_page_and_no_session(client, world, who):
    response = log_in(client, getattr(world, who))
    assert response.status_code == 403 and "审核台仅供" in page(response)
    session = db.session.execute(db.select(AuthSession)).scalar_one()
    assert session.revoked_at is not None
    assert client.get("/console/").status_code == 302


def test_a_reviewer_who_loses_the_role_is_refused(reviewer, world):
    world.reviewer_a.roles = ["inspector"]
    db.session.commit()
    response = reviewer.get("/console/")
    assert response.status_code == 403 and "console_role_required" in page(response)


def test_a_password_change_elsewhere_ends_the_console_log_in(reviewer, world, make):
    headers = make.headers(world.admin)
    changed = reviewer.patch(
        f"/api/v1/users/{world.reviewer_a.id}", json={"password": "a-new-pass-456"}, headers=headers
    )
    assert changed.status_code == 200, changed.json
    assert reviewer.get("/console/").status_code == 302


def test_a_console_log_in_expires_and_its_session_is_revoked(reviewer):
    with reviewer.session_transaction() as cookie:
        cookie["at"] = (datetime.now(UTC) - security.MAX_AGE - timedelta(minutes=1)).timestamp()
    response = reviewer.get("/console/")
    assert response.status_code == 302
    assert db.session.execute(db.select(AuthSession)).scalar_one().revoked_at is not None
    assert "登录已过期" in page(reviewer.get("/console/login"))


# ---------------------------------------------------------------- CSRF


def test_log_in_without_a_csrf_token_is_refused(client, world):
    response = client.post(
        "/console/login", data={"phone": world.reviewer_a.phone, "password": "test-pass-123"}
    )
    assert response.status_code == 400 and "csrf_failed" in page(response)
    assert db.session.execute(db.select(AuthSession)).first() is None


@pytest.mark.parametrize("sent", [None, "", "forged-token"])
def test_a_review_without_the_right_token_changes_nothing(reviewer, flagged, sent):
    form = {"decision": "rejected", "reason": "伪造"}
    if sent is not None:
        form["csrf_token"] = sent
    response = reviewer.post(f"/console/checkins/{flagged.id}/reviews", data=form)
    assert response.status_code == 400 and "csrf_failed" in page(response)
    assert db.session.execute(db.select(CheckinReview)).first() is None
    db.session.refresh(flagged)
    assert flagged.review_decision is None


def test_log_out_without_the_token_keeps_the_session(reviewer):
    assert reviewer.post("/console/logout").status_code == 400
    assert reviewer.get("/console/").status_code == 200


def test_a_token_from_another_cookie_does_not_work(reviewer, client, app, flagged, world):
    other = app.test_client()
    log_in(other, world.city_reviewer)
    stolen = token(other)
    form = {"decision": "rejected", "reason": "跨会话", "csrf_token": stolen}
    assert reviewer.post(f"/console/checkins/{flagged.id}/reviews", data=form).status_code == 400


# ---------------------------------------------------------------- pages


def test_every_page_renders_for_a_reviewer(reviewer, world, make, flagged):
    month = month_of(flagged)
    draw = create_draw(reviewer, make.headers(world.reviewer_a), scope_code=world.county_a.code)
    assert draw.status_code == 201, draw.json
    pages = [
        "/console/",
        f"/console/?month={month}",
        f"/console/ledger?month={month}&status=&region=&unit=",
        f"/console/ledger?month={month}&region={world.county_a.code}&status=open",
        "/console/flags",
        "/console/draws",
        f"/console/draws/{draw.json['id']}",
        f"/console/postings/{world.posting_a.id}?month={month}",
    ]
    for path in pages:
        response = reviewer.get(path)
        assert response.status_code == 200, (path, page(response)[:500])
        html = page(response)
        assert "<script>" not in html and "style=" not in html and "http" not in html, path
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert response.headers["X-Frame-Options"] == "DENY"
    cadre = page(reviewer.get(f"/console/postings/{world.posting_a.id}?month={month}"))
    assert "张伟" in cadre and f'id="checkin-{flagged.id}"' in cadre and "超出驻村范围" in cadre
    queue = page(reviewer.get("/console/flags"))
    assert "超出驻村范围" in queue and f"/console/checkins/{flagged.id}/reviews" in queue


def test_pages_speak_english_when_asked_and_remember_it(reviewer, flagged):
    assert "Flagged check-ins" in page(reviewer.get("/console/flags?lang=en"))
    assert "outside the geofence" in page(reviewer.get("/console/flags"))
    assert "异常签到审核" in page(reviewer.get("/console/flags?lang=zh"))


def test_static_files_are_served_by_the_app(client):
    with client.get("/console/static/console.css") as css:
        assert css.status_code == 200 and "text/css" in css.content_type
        assert "http" not in css.get_data(as_text=True)
    with client.get("/console/static/console.js") as js:
        assert js.status_code == 200 and "javascript" in js.content_type


def test_photos_are_served_with_the_console_log_in_and_audited(reviewer, flagged):
    photo = db.session.execute(db.select(Photo)).scalar_one()
    thumb = reviewer.get(f"/console/photos/{photo.id}?variant=thumb")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    original = reviewer.get(f"/console/photos/{photo.id}?variant=original&lang=en")
    assert original.status_code == 200 and original.headers["Cache-Control"] == "no-store"
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "photo.view_original")
    ).scalar_one()
    assert event.object_id == str(photo.id)
    assert reviewer.get(f"/console/photos/{photo.id}?variant=huge").status_code == 422


def test_exports_are_the_ledger_files(reviewer, flagged):
    month = month_of(flagged)
    xlsx = reviewer.get(f"/console/ledger.xlsx?month={month}")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(xlsx.data), read_only=True)
    names = [row[4] for sheet in book.worksheets[1:] for row in sheet.iter_rows(values_only=True)]
    assert "张伟" in names
    exported = reviewer.get(f"/console/ledger.csv?month={month}")
    assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"  # one charset
    text = exported.get_data(as_text=True)
    assert "张伟" in [row[5] for row in csv.reader(io.StringIO(text.lstrip("\ufeff")))]
    mine = reviewer.get(f"/console/postings/{flagged.posting_id}/month.xlsx?month={month}")
    assert mine.status_code == 200
    assert (
        load_workbook(io.BytesIO(mine.data), read_only=True).worksheets[0].title.startswith("张伟")
    )


def test_a_draw_page_shows_its_proof_once_published(reviewer, world, make):
    headers = make.headers(world.reviewer_a)
    draw = create_draw(reviewer, headers, scope_code=world.county_a.code, ratio="1").json
    sealed = page(reviewer.get(f"/console/draws/{draw['id']}"))
    assert 'id="proof-pending"' in sealed and draw["frame_hash"] in sealed
    assert reviewer.get(f"/console/draws/{draw['id']}/proof.json").status_code == 409
    base = f"/api/v1/draws/{draw['id']}"
    reviewer.post(f"{base}/execute", json={"beacon_value": "7"}, headers=headers)
    assert reviewer.post(f"{base}/reveal", headers=headers).status_code == 200
    published = page(reviewer.get(f"/console/draws/{draw['id']}"))
    assert "张伟" in published and 'id="proof-download"' in published
    download = reviewer.get(f"/console/draws/{draw['id']}/proof.json")
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.json == reviewer.get(f"{base}/proof", headers=headers).json


def test_a_bad_month_is_a_422_page(reviewer):
    response = reviewer.get("/console/ledger?month=2026-13")
    assert response.status_code == 422 and "validation_error" in page(response)


# ---------------------------------------------------------------- scope


def test_out_of_scope_objects_are_404(client, world, make, flagged):
    photo = db.session.execute(db.select(Photo)).scalar_one()
    draw = create_draw(client, make.headers(world.reviewer_a), scope_code=world.county_a.code)
    log_in(client, world.reviewer_b)
    month = month_of(flagged)
    for path in (
        f"/console/postings/{world.posting_a.id}?month={month}",
        f"/console/postings/{world.posting_a.id}/month.xlsx?month={month}",
        f"/console/photos/{photo.id}?variant=thumb",
        f"/console/draws/{draw.json['id']}",
        "/console/postings/999999",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
    refused = review(client, flagged)
    assert refused.status_code == 404 and "checkin_not_found" in page(refused)
    assert db.session.execute(db.select(CheckinReview)).first() is None
    assert "张伟" not in page(client.get(f"/console/ledger?month={month}"))
    assert "张伟" not in page(client.get("/console/flags"))


def test_an_admin_sees_everything(client, world, flagged):
    log_in(client, world.admin)
    response = client.get(f"/console/postings/{world.posting_a.id}?month={month_of(flagged)}")
    assert response.status_code == 200


# ---------------------------------------------------------------- decisions


def test_rejecting_a_flagged_check_in_reaches_the_database(reviewer, world, flagged):
    back = f"/console/postings/{flagged.posting_id}?month={month_of(flagged)}"
    response = review(reviewer, flagged, next=back)
    assert response.status_code == 302 and response.headers["Location"] == back
    decision = db.session.execute(db.select(CheckinReview)).scalar_one()
    assert decision.decision == "rejected" and decision.reviewer_id == world.reviewer_a.id
    assert decision.reason == "定位距村 5 公里，且无报备。"
    db.session.refresh(flagged)
    assert flagged.review_decision == "rejected" and flagged.verdict == "flagged"
    assert {f.status for f in flagged.flags} == {"upheld"}
    assert db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "checkin.review")
    ).scalar_one()
    assert "已驳回该签到" in page(reviewer.get(back))
    assert f"/console/checkins/{flagged.id}/reviews" not in page(reviewer.get("/console/flags"))
    upheld = page(reviewer.get("/console/flags?status=upheld&severity="))
    assert f'id="flag-{flagged.flags[0].id}"' in upheld


def test_accepting_dismisses_the_flags(reviewer, flagged):
    assert review(reviewer, flagged, decision="accepted", reason="当日在村外开会，已补报备。")
    db.session.refresh(flagged)
    assert flagged.review_decision == "accepted"
    flag = db.session.execute(db.select(Flag)).scalar_one()
    assert flag.status == "dismissed"


@pytest.mark.parametrize("decision, reason", [("rejected", "   "), ("maybe", "理由")])
def test_a_decision_needs_a_reason_and_a_known_verdict(reviewer, flagged, decision, reason):
    response = review(reviewer, flagged, decision=decision, reason=reason)
    assert response.status_code == 422 and "validation_error" in page(response)
    assert db.session.execute(db.select(CheckinReview)).first() is None
