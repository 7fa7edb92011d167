"""The console in a real browser: headless Chromium (Debian's package, driven by
Playwright) against the app served from a thread, on a database of its own (the
per-test transaction cannot be shared with a server thread).

Where Chromium is missing the test is skipped; CI sets REQUIRE_BROWSER=1, and there a
missing browser fails the run instead."""

import io
import os
import shutil
import threading

import pytest
from openpyxl import load_workbook
from werkzeug.serving import make_server

from server.extensions import db
from server.models import AuditEvent, Checkin, CheckinReview
from tests.api.checkin_kit import POST, offset_point, submit
from tests.factories import PASSWORD

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REASON = "定位距村 5 公里，当日无公务外出报备。"


@pytest.fixture
def playwright():
    missing = None
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        missing = f"{CHROMIUM} is not installed"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed"
    if missing:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def site(own_database):
    """The test world, a flagged check-in by cadre A, and the app on a free port."""
    from tests.factories import Factory

    app = own_database
    with app.app_context():
        make = Factory()
        world = make.world()
        db.session.commit()
        headers = make.headers(world.cadre_a)
        db.session.commit()
        lat, lon = offset_point(*POST, north_m=5000)
        sent = submit(app.test_client(), headers, latitude=lat, longitude=lon)
        assert sent.status_code == 201 and sent.json["verdict"] == "flagged", sent.json
        facts = {
            "reviewer_phone": world.reviewer_a.phone,
            "checkin_id": sent.json["id"],
            "posting_id": world.posting_a.id,
            "month": sent.json["local_date"][:7],
        }
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}", facts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_reviewer_rejects_a_flagged_check_in_and_exports_the_ledger(playwright, site, tmp_path):
    app, base, facts = site
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
    try:
        context = browser.new_context(accept_downloads=True, locale="zh-CN")
        page = context.new_page()
        # Nothing may be fetched from anywhere but the app itself.
        outside = []

        def watch(request):
            if not request.url.startswith(base):
                outside.append(request.url)

        page.on("request", watch)

        page.goto(f"{base}/console/")
        page.fill("#phone", facts["reviewer_phone"])
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_url(f"{base}/console/")
        assert page.locator("h1").inner_text().startswith("考勤合规总览")

        page.goto(f"{base}/console/ledger?month={facts['month']}")
        page.click("text=张伟")
        page.wait_for_url(f"**/console/postings/{facts['posting_id']}?month={facts['month']}")
        checkin = page.locator(f"#checkin-{facts['checkin_id']}")
        assert "超出驻村范围" in checkin.inner_text()
        assert checkin.locator("img").first.evaluate("img => img.naturalWidth") > 0

        form = page.locator(f"#cadre-review-{facts['checkin_id']}")
        form.locator("textarea[name=reason]").fill(REASON)
        form.locator("button.reject").click()
        page.wait_for_load_state()
        assert "已驳回该签到" in page.locator(".notice").inner_text()
        standing = page.locator(f"#checkin-{facts['checkin_id']} .standing").inner_text()
        assert standing == "驳回"

        page.goto(f"{base}/console/ledger?month={facts['month']}")
        with page.expect_download() as download:
            page.click("#export-xlsx")
        saved = tmp_path / "ledger.xlsx"
        download.value.save_as(saved)
        assert outside == []
    finally:
        browser.close()

    with app.app_context():
        decision = db.session.execute(db.select(CheckinReview)).scalar_one()
        assert (decision.checkin_id, decision.decision) == (facts["checkin_id"], "rejected")
        assert decision.reason == REASON
        assert db.session.get(Checkin, facts["checkin_id"]).review_decision == "rejected"
        actions = db.session.execute(db.select(AuditEvent.action)).scalars().all()
        assert {"auth.login", "checkin.review"} <= set(actions)
    book = load_workbook(io.BytesIO(saved.read_bytes()), read_only=True)
    rows = [row for sheet in book.worksheets[1:] for row in sheet.iter_rows(values_only=True)]
    zhang = next(row for row in rows if row[4] == "张伟")
    assert zhang[3] and zhang[-1], "the row names the village and carries the day codes"
