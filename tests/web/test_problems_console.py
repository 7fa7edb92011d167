"""The console's problem ledger: filters, overdue lines marked, the export, a problem's
page with its trail and photos, and the verify and reopen forms reaching the database."""

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from server.extensions import db
from server.models import Problem, Rectification
from server.services.postings import local_today
from tests.api.test_problems import enter, picture, send, step
from tests.web.console_kit import log_in, token


@pytest.fixture
def reviewer(client, world):
    assert log_in(client, world.reviewer_a).status_code == 302
    return client


@pytest.fixture
def ledger(client, world, make):
    """County A: a problem submitted with two photos, and one overdue and untouched;
    county B: one of its own."""
    department, cadre = make.headers(world.reviewer_a), make.headers(world.cadre_a)
    done = enter(client, department, world, description="值班表缺失").json
    late = enter(client, department, world, description="公开栏未更新").json
    other = enter(
        client,
        make.headers(world.reviewer_b),
        world,
        village_code=world.village_b1.code,
        posting_id=None,
        description="寿县的问题",
    ).json
    step(client, cadre, done["id"], "start")
    submitted = send(client, cadre, done["id"], [picture(1), picture(2)])
    assert submitted.status_code == 200, submitted.json
    db.session.get(Problem, late["id"]).deadline = local_today() - timedelta(days=2)
    db.session.commit()
    return {"done": submitted.json, "late": late, "other": other}


def page(response):
    return response.get_data(as_text=True)


def decide(client, problem_id, action, note="现场核查，整改到位。", **extra):
    form = {"note": note, "csrf_token": token(client), **extra}
    return client.post(f"/console/problems/{problem_id}/{action}", data=form)


def test_the_ledger_page_marks_overdue_lines_and_stays_in_scope(reviewer, world, ledger):
    response = reviewer.get("/console/problems")
    assert response.status_code == 200
    html = page(response)
    assert "<script>" not in html and "style=" not in html and "http" not in html
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    late, done = ledger["late"]["id"], ledger["done"]["id"]
    assert f'<tr id="problem-{late}" class="overdue">' in html
    assert f'<tr id="problem-{done}" class="">' in html
    assert "寿县的问题" not in html
    assert "问题清单与整改台账 (2)" in html and "凤台县财政局" in html and "待验收" in html
    assert 'id="by-unit"' in html and "按期验收" in html
    assert "/console/problems" in page(reviewer.get("/console/"))  # in the navigation


@pytest.mark.parametrize(
    "query, shown",
    [
        ("overdue=true", ["late"]),
        ("overdue=false", ["done"]),
        ("status=submitted", ["done"]),
        ("status=&region_code=&unit_id=&overdue=&category=", ["done", "late"]),
        ("category=群众反映", []),
    ],
)
def test_filters(reviewer, world, ledger, query, shown):
    html = page(reviewer.get(f"/console/problems?{query}"))
    for name in ("done", "late", "other"):
        assert (f'id="problem-{ledger[name]["id"]}"' in html) == (name in shown), (query, name)


def test_a_bad_filter_is_a_422_page(reviewer, ledger):
    response = reviewer.get("/console/problems?status=closed")
    assert response.status_code == 422 and "请求中有无效的值" in page(response)


def test_english(reviewer, ledger):
    html = page(reviewer.get("/console/problems?lang=en"))
    assert "Problems and rectification" in html and "submitted" in html and "Overdue" in html


def test_the_export_button_gives_the_filtered_workbook(reviewer, ledger):
    html = page(reviewer.get("/console/problems?overdue=true"))
    assert 'href="/console/problems.xlsx?overdue=true"' in html
    response = reviewer.get("/console/problems.xlsx?overdue=true")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["问题清单", "整改台账"]
    rows = [[c.value for c in row] for row in book["问题清单"].iter_rows(min_row=2)]
    assert [(r[0], r[5], r[9]) for r in rows] == [(1, "公开栏未更新", "待整改（逾期）")]
    assert book["整改台账"].max_row == 1
    everything = load_workbook(io.BytesIO(reviewer.get("/console/problems.xlsx").data))
    trail = [[c.value for c in row] for row in everything["整改台账"].iter_rows(min_row=2)]
    assert [(r[0], r[2], r[5]) for r in trail] == [(1, "开始整改", 0), (1, "提交整改", 2)]


def test_a_problem_page_shows_its_trail_photos_and_the_forms(reviewer, world, ledger):
    done = ledger["done"]
    html = page(reviewer.get(f"/console/problems/{done['id']}"))
    assert "值班表缺失" in html and "提交整改" in html and "张伟" in html
    for photo in done["trail"][1]["photos"]:
        assert f"/console/photos/{photo['id']}?variant=thumb" in html
        thumb = reviewer.get(f"/console/photos/{photo['id']}?variant=thumb")
        assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert 'id="verify-form"' in html and 'id="reopen-form"' in html
    untouched = page(reviewer.get(f"/console/problems/{ledger['late']['id']}"))
    assert "verify-form" not in untouched and "reopen-form" not in untouched
    assert "尚未开始整改" in untouched and '<span class="warn">逾期</span>' in untouched


def test_verifying_and_reopening_reach_the_database(reviewer, world, ledger):
    problem_id = ledger["done"]["id"]
    response = decide(reviewer, problem_id, "verify")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/console/problems/{problem_id}"
    assert db.session.get(Problem, problem_id).status == "verified"
    last = db.session.execute(
        db.select(Rectification).order_by(Rectification.id.desc()).limit(1)
    ).scalar_one()
    assert (last.action, last.actor_id, last.note) == (
        "verify",
        world.reviewer_a.id,
        "现场核查，整改到位。",
    )
    html = page(reviewer.get(f"/console/problems/{problem_id}"))
    assert "已验收通过。" in html and "verify-form" not in html and "reopen-form" in html
    reopened = decide(reviewer, problem_id, "reopen", "回访发现值班表又被撤下。")
    assert reopened.status_code == 302
    assert db.session.get(Problem, problem_id).status == "reopened"


def test_a_form_without_its_token_or_note_changes_nothing(reviewer, ledger):
    problem_id = ledger["done"]["id"]
    forged = reviewer.post(
        f"/console/problems/{problem_id}/verify", data={"note": "ok", "csrf_token": "x"}
    )
    assert forged.status_code == 400 and "csrf_failed" in page(forged)
    blank = decide(reviewer, problem_id, "verify", note="  ")
    assert blank.status_code == 422
    again = decide(reviewer, ledger["late"]["id"], "verify")
    assert again.status_code == 409 and "问题当前状态不允许此操作" in page(again)
    assert db.session.get(Problem, problem_id).status == "submitted"
    assert (
        db.session.execute(db.select(Rectification).where(Rectification.action == "verify")).first()
        is None
    )


def test_other_counties_problems_are_404(client, world, ledger):
    log_in(client, world.reviewer_b)
    problem_id = ledger["done"]["id"]
    assert client.get(f"/console/problems/{problem_id}").status_code == 404
    refused = decide(client, problem_id, "verify")
    assert refused.status_code == 404 and "problem_not_found" in page(refused)
    html = page(client.get("/console/problems"))
    assert "寿县的问题" in html and "值班表缺失" not in html


def test_a_reviewer_does_not_verify_what_they_submitted(client, world, make, reviewer):
    department = make.headers(world.reviewer_a)
    problem = enter(client, department, world).json
    step(client, department, problem["id"], "start")
    send(client, department, problem["id"], [picture(5)])
    refused = decide(reviewer, problem["id"], "verify")
    assert refused.status_code == 403 and "整改须由提交人以外的人员验收" in page(refused)
    assert db.session.get(Problem, problem["id"]).status == "submitted"
