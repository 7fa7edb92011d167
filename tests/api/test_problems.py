"""The problem list and its rectification ledger, end to end: entered or raised by a
final finding, started, submitted with photos (the check-in evidence pipeline and store),
verified or reopened, overdue by the local date, summarised per unit, exported."""

import hashlib
import io
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from server import storage
from server.extensions import db
from server.models import AuditEvent, Photo, Problem, Rectification
from server.services import audit
from server.services.postings import local_today
from tests import photos
from tests.api.checkin_kit import POST, device_time
from tests.api.test_findings import file_finding, visit  # noqa: F401 (a fixture)
from tests.test_platform import assert_error

ZONE = ZoneInfo("Asia/Shanghai")
SECOND = timedelta(seconds=1)  # what a spreadsheet's time keeps


def later(days=30):
    return (local_today() + timedelta(days=days)).isoformat()


def enter(client, headers, world, **overrides):
    body = {
        "village_code": world.village_a1.code,
        "posting_id": world.posting_a.id,
        "category": "驻村管理",
        "description": "村务公开栏未更新，驻村工作队值班表缺失。",
        "responsible_person": "张伟",
        "deadline": later(),
    }
    body.update(overrides)
    return client.post(
        "/api/v1/problems", json={k: v for k, v in body.items() if v is not None}, headers=headers
    )


def step(client, headers, problem_id, action, note="已按要求处理。"):
    return client.post(
        f"/api/v1/problems/{problem_id}/{action}", json={"note": note}, headers=headers
    )


def picture(seed):
    """A photo of the result, taken now in village A1."""
    taken = device_time().replace(tzinfo=None)
    return photos.jpeg(seed, lat=POST[0], lon=POST[1], taken=taken, offset="+08:00")


def send(client, headers, problem_id, files, note="值班表已上墙，公开栏已更新。"):
    return client.post(
        f"/api/v1/problems/{problem_id}/submit",
        data={
            "note": note,
            "photos": [(io.BytesIO(d), f"IMG_{i}.jpg") for i, d in enumerate(files)],
        },
        headers=headers,
        content_type="multipart/form-data",
    )


@pytest.fixture
def reviewer(world, make):
    return make.headers(world.reviewer_a)


@pytest.fixture
def cadre(world, make):
    return make.headers(world.cadre_a)


@pytest.fixture
def problem(client, world, reviewer):
    response = enter(client, reviewer, world)
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def store(app, tmp_path, monkeypatch):
    """An evidence store of its own: other tests leave their files in the shared one."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "store"))
    return tmp_path / "store"


def files_in(root: Path, part):
    return sorted(p.name for p in (root / part).rglob("*") if p.is_file())


def count(model, *where):
    return db.session.execute(db.select(db.func.count()).select_from(model).where(*where)).scalar()


def submitted(client, world, reviewer, cadre, problem, seeds=(1,)):
    assert step(client, cadre, problem["id"], "start").status_code == 200
    response = send(client, cadre, problem["id"], [picture(s) for s in seeds])
    assert response.status_code == 200, response.json
    return response.json


# ---------------------------------------------------------------- the whole cycle


def test_entered_started_submitted_with_photos_and_verified(
    client, world, make, reviewer, cadre, problem, store
):
    assert problem["status"] == "open" and problem["source"] == "entered"
    assert problem["village_code"] == world.village_a1.code
    assert problem["village_name"] == "东湖村委会"
    assert (problem["township_name"], problem["county_name"]) == ("城关镇", "凤台县")
    # The dispatching unit answers for its cadre unless the reviewer names another.
    assert problem["responsible_unit_id"] == world.unit_a.id
    assert problem["responsible_unit_name"] == "凤台县财政局"
    assert problem["overdue"] is False and problem["trail"] == []

    started = step(client, cadre, problem["id"], "start", "已召开整改会议。")
    assert started.status_code == 200 and started.json["status"] == "in_rectification"

    originals = [picture(1), picture(2)]
    done = send(client, cadre, problem["id"], originals)
    assert done.status_code == 200, done.json
    assert done.json["status"] == "submitted"
    start_step, submit_step = done.json["trail"]
    assert start_step["action"] == "start" and start_step["note"] == "已召开整改会议。"
    assert start_step["actor_name"] == "张伟" and start_step["photos"] == []
    assert submit_step["action"] == "submit" and submit_step["actor_id"] == world.cadre_a.id
    shown = submit_step["photos"]
    assert [p["position"] for p in shown] == [0, 1]
    assert [p["sha256"] for p in shown] == [hashlib.sha256(d).hexdigest() for d in originals]
    assert shown[0]["exif_latitude"] == pytest.approx(POST[0], abs=1e-4)
    assert shown[0]["make"] == "TestPhone" and len(shown[0]["phash"]) == 16
    # Rows with their files: the same store, content-addressed, and nothing left staged.
    rows = db.session.execute(db.select(Photo).order_by(Photo.position)).scalars().all()
    assert [p.rectification_id for p in rows] == [submit_step["id"]] * 2
    assert all(p.checkin_id is None for p in rows)
    for row, data in zip(rows, originals, strict=True):
        assert storage.get_store().original_path(row.sha256).read_bytes() == data
    assert files_in(store, "tmp") == []

    # Served by the photo endpoint to whoever sees the problem, and to nobody else.
    photo_id = shown[0]["id"]
    for headers in (cadre, reviewer, make.headers(world.city_reviewer)):
        got = client.get(f"/api/v1/photos/{photo_id}?variant=original", headers=headers)
        assert got.status_code == 200 and got.data == originals[0]
    for outsider in (world.reviewer_b, world.cadre_b, world.inspector_a):
        got = client.get(f"/api/v1/photos/{photo_id}", headers=make.headers(outsider))
        assert_error(got, 404, "photo_not_found")

    assert_error(step(client, cadre, problem["id"], "verify"), 403, "role_required")
    verified = step(client, reviewer, problem["id"], "verify", "现场核查，整改到位。")
    assert verified.status_code == 200 and verified.json["status"] == "verified"
    assert [s["action"] for s in verified.json["trail"]] == ["start", "submit", "verify"]
    assert verified.json["trail"][2]["actor_name"] == "凤台县委组织部"
    assert client.get(f"/api/v1/problems/{problem['id']}", headers=cadre).json == verified.json

    events = db.session.execute(
        db.select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.summary)
        .where(AuditEvent.object_type == "problem")
        .order_by(AuditEvent.seq)
    ).all()
    assert [e.action for e in events] == [
        "problem.create",
        "problem.start",
        "problem.submit",
        "problem.verify",
    ]
    assert events[2].actor_id == world.cadre_a.id
    assert events[2].summary["photos"] == [p["sha256"] for p in shown]
    assert (events[3].summary["from"], events[3].summary["to"]) == ("submitted", "verified")
    assert audit.verify_chain()[1] is None


def test_reopened_after_verification_and_rectified_again(
    client, world, make, reviewer, cadre, problem
):
    submitted(client, world, reviewer, cadre, problem)
    assert step(client, reviewer, problem["id"], "verify").status_code == 200
    assert_error(step(client, reviewer, problem["id"], "reopen", " "), 422, "validation_error")
    reopened = step(client, reviewer, problem["id"], "reopen", "回访发现值班表又被撤下。")
    assert reopened.status_code == 200 and reopened.json["status"] == "reopened"
    assert reopened.json["trail"][-1]["note"] == "回访发现值班表又被撤下。"
    assert step(client, cadre, problem["id"], "start").status_code == 200
    again = send(client, cadre, problem["id"], [picture(3)])
    assert again.json["status"] == "submitted"
    # A submission can also be sent back before it is verified.
    assert step(client, reviewer, problem["id"], "reopen", "照片看不清。").status_code == 200
    actions = [
        s["action"]
        for s in client.get(f"/api/v1/problems/{problem['id']}", headers=reviewer).json["trail"]
    ]
    assert actions == ["start", "submit", "verify", "reopen", "start", "submit", "reopen"]
    assert count(Rectification, Rectification.problem_id == problem["id"]) == 7


def test_the_submitter_does_not_verify_their_own_work(client, world, make, reviewer, problem):
    submitted(client, world, reviewer, reviewer, problem)
    assert_error(step(client, reviewer, problem["id"], "verify"), 403, "own_submission")
    assert db.session.get(Problem, problem["id"]).status == "submitted"
    city = make.headers(world.city_reviewer)
    assert step(client, city, problem["id"], "verify").json["status"] == "verified"


@pytest.mark.parametrize(
    "done, action",
    [
        ((), "submit"),
        ((), "verify"),
        ((), "reopen"),
        (("start",), "start"),
        (("start",), "verify"),
        (("start", "submit"), "start"),
        (("start", "submit", "verify"), "verify"),
        (("start", "submit", "verify"), "start"),
    ],
)
def test_a_step_from_the_wrong_state_is_409(
    client, world, make, reviewer, cadre, problem, done, action
):
    for earlier in done:
        if earlier == "submit":
            assert send(client, cadre, problem["id"], [picture(1)]).status_code == 200
        else:
            who = reviewer if earlier == "verify" else cadre
            assert step(client, who, problem["id"], earlier).status_code == 200
    status = db.session.get(Problem, problem["id"]).status
    who = make.headers(world.city_reviewer)
    if action == "submit":
        # Refused before any photo is decoded: a broken one makes no difference.
        response = send(client, cadre, problem["id"], [b"not a photo"])
    else:
        response = step(client, who, problem["id"], action)
    assert_error(response, 409, "problem_transition_invalid")
    assert response.json["errors"]["status"] == status
    assert db.session.get(Problem, problem["id"]).status == status


def test_who_may_take_the_steps(client, world, make, reviewer, problem):
    # Out of scope: exactly like a problem that does not exist.
    for outsider in (world.reviewer_b, world.cadre_b, world.aid_cadre_a, world.inspector_a):
        assert_error(
            step(client, make.headers(outsider), problem["id"], "start"), 404, "problem_not_found"
        )
    assert_error(step(client, reviewer, 999999, "start"), 404, "problem_not_found")
    # The department may start it too, on the cadre's behalf.
    assert (
        step(client, make.headers(world.city_reviewer), problem["id"], "start").status_code == 200
    )
    # Without a posting, the cadre of the village has nothing to do with it.
    no_posting = enter(client, reviewer, world, posting_id=None).json
    assert no_posting["responsible_unit_id"] is None
    assert_error(
        step(client, make.headers(world.cadre_a), no_posting["id"], "start"),
        404,
        "problem_not_found",
    )


def test_the_inspectors_who_raised_it_see_it_but_do_not_rectify(
    client,
    world,
    make,
    visit,  # noqa: F811
):
    assignment, (first, second), _ = visit
    draft = file_finding(client, assignment, first).json
    (raised,) = draft["problems"]
    assert raised["status"] == "draft"
    cadre = make.headers(world.cadre_a)
    reviewer = make.headers(world.reviewer_a)
    # Not on the list while the finding awaits signatures, and hidden from the cadre.
    assert client.get("/api/v1/problems", headers=reviewer).json == []
    drafts = client.get("/api/v1/problems?status=draft", headers=reviewer).json
    assert [p["id"] for p in drafts] == [raised["id"]]
    assert_error(
        client.get(f"/api/v1/problems/{raised['id']}", headers=cadre), 404, "problem_not_found"
    )
    assert_error(step(client, reviewer, raised["id"], "start"), 409, "problem_transition_invalid")

    client.post(f"/api/v1/findings/{draft['id']}/signatures", headers=second)
    listed = client.get(f"/api/v1/problems?finding_id={draft['id']}", headers=cadre).json
    assert [p["id"] for p in listed] == [raised["id"]]
    (line,) = listed
    assert line["status"] == "open" and line["source"] == "inspection"
    assert line["found_at"] == draft["observed_at"]
    assert line["posting_id"] == world.posting_a.id and line["responsible_person"] == "张伟"
    assert client.get(f"/api/v1/problems/{raised['id']}", headers=first).status_code == 200
    assert_error(step(client, first, raised["id"], "start"), 403, "not_responsible")
    assert step(client, cadre, raised["id"], "start").status_code == 200


# ---------------------------------------------------------------- entering


@pytest.mark.parametrize(
    "overrides, status, error, field",
    [
        ({"village_code": "340421100000"}, 422, "not_a_village", "village_code"),
        ({"village_code": "340421100299"}, 422, "region_not_found", "village_code"),
        ({"posting_id": 999999}, 422, "posting_not_in_village", "posting_id"),
        ({"responsible_unit_id": 999999}, 422, "unit_not_found", "responsible_unit_id"),
        ({"deadline": "2020-01-01"}, 422, "validation_error", "deadline"),
        ({"deadline": None}, 422, "validation_error", "deadline"),
        ({"category": ""}, 422, "validation_error", "category"),
        ({"severity": "high"}, 422, "validation_error", "severity"),
    ],
)
def test_entering_refuses_bad_values(client, world, reviewer, overrides, status, error, field):
    response = enter(client, reviewer, world, **overrides)
    assert_error(response, status, error)
    assert field in response.json["errors"]
    assert count(Problem) == 0


def test_a_posting_elsewhere_is_refused(client, world, reviewer, make):
    other = make.posting(make.user("cadre"), world.village_a2, world.unit_a)
    db.session.commit()
    response = enter(client, reviewer, world, posting_id=other.id)
    assert_error(response, 422, "posting_not_in_village")


def test_only_the_department_over_the_village_enters_problems(client, world, make):
    assert_error(enter(client, make.headers(world.reviewer_b), world), 403, "out_of_jurisdiction")
    assert_error(enter(client, make.headers(world.cadre_a), world), 403, "role_required")
    named = enter(client, make.headers(world.admin), world, responsible_unit_id=world.unit_b.id)
    assert named.status_code == 201 and named.json["responsible_unit_id"] == world.unit_b.id
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "problem.create")
    ).scalar_one()
    assert event.actor_id == world.admin.id and event.object_id == str(named.json["id"])


# ---------------------------------------------------------------- evidence


def test_a_submission_needs_one_to_five_photos(client, world, reviewer, cadre, problem):
    step(client, cadre, problem["id"], "start")
    assert_error(send(client, cadre, problem["id"], []), 422, "photo_required")
    response = send(client, cadre, problem["id"], [picture(s) for s in range(6)])
    assert_error(response, 422, "too_many_photos")
    assert_error(
        client.post(f"/api/v1/problems/{problem['id']}/submit", data={"photos": []}, headers=cadre),
        422,
        "validation_error",
    )
    five = send(client, cadre, problem["id"], [picture(s) for s in range(5)])
    assert five.status_code == 200 and len(five.json["trail"][-1]["photos"]) == 5


def test_a_photo_sent_twice_is_kept_once(client, world, reviewer, cadre, problem):
    step(client, cadre, problem["id"], "start")
    same = picture(7)
    response = send(client, cadre, problem["id"], [same, same])
    assert [p["position"] for p in response.json["trail"][-1]["photos"]] == [0]


def test_a_bad_photo_in_the_middle_leaves_nothing(client, world, reviewer, cadre, problem, store):
    step(client, cadre, problem["id"], "start")
    good = picture(1)
    response = send(client, cadre, problem["id"], [good, good[: len(good) // 2], picture(2)])
    assert_error(response, 422, "photo_undecodable")
    assert response.json["errors"]["photo_index"] == 1
    assert db.session.get(Problem, problem["id"]).status == "in_rectification"
    assert count(Rectification, Rectification.action == "submit") == 0
    assert count(Photo) == 0
    assert files_in(store, "tmp") == [] and files_in(store, "originals") == []


def test_a_failure_after_the_files_are_staged_leaves_no_file_and_no_row(
    client, world, reviewer, cadre, problem, store, monkeypatch
):
    step(client, cadre, problem["id"], "start")
    record, staged = audit.record, []

    def failing(action, *args, **kwargs):
        if action == "problem.submit":
            # The rows are flushed and both files staged by now.
            staged.append((len(files_in(store, "tmp")), count(Photo)))
            raise RuntimeError("the disk is full")
        return record(action, *args, **kwargs)

    monkeypatch.setattr(audit, "record", failing)
    response = send(client, cadre, problem["id"], [picture(1), picture(2)])
    assert_error(response, 500, "internal_error")
    assert staged == [(2, 2)]
    assert count(Photo) == 0 and count(Rectification, Rectification.action == "submit") == 0
    assert db.session.get(Problem, problem["id"]).status == "in_rectification"
    assert files_in(store, "tmp") == [] and files_in(store, "originals") == []


def test_photo_limits_are_the_check_in_limits(client, world, cadre, problem, app, monkeypatch):
    step(client, cadre, problem["id"], "start")
    monkeypatch.setitem(app.config, "MAX_PHOTO_BYTES", 10_000)
    assert_error(send(client, cadre, problem["id"], [picture(1)]), 413, "photo_too_large")
    assert_error(
        send(client, cadre, problem["id"], [b"GIF89a" + b"\0" * 50]),
        415,
        "photo_unsupported_format",
    )


def test_storage_check_counts_rectification_photos(
    client, world, reviewer, cadre, problem, store, app
):
    done = submitted(client, world, reviewer, cadre, problem, seeds=(1, 2))
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["storage", "check"])
    assert ok.exit_code == 0 and "storage check: OK" in ok.output, ok.output
    sha = done["trail"][-1]["photos"][1]["sha256"]
    path = storage.get_store().original_path(sha)
    path.chmod(0o600)
    path.unlink()
    broken = runner.invoke(args=["storage", "check"])
    assert broken.exit_code == 1
    assert f"missing file (row without its file): {sha}" in broken.output


# ---------------------------------------------------------------- overdue, lists, summary


def overdue_by(problem_id, days):
    """Time passes: the deadline is now `days` behind today (local date)."""
    db.session.get(Problem, problem_id).deadline = local_today() - timedelta(days=days)
    db.session.commit()


def ids(response):
    assert response.status_code == 200, response.json
    return [p["id"] for p in response.json]


def test_an_overdue_problem_is_listed_until_verified(client, world, make, reviewer, cadre):
    late = enter(client, reviewer, world, description="逾期未整改").json
    due_today = enter(client, reviewer, world, deadline=local_today().isoformat()).json
    overdue_by(late["id"], 3)
    assert ids(client.get("/api/v1/problems?overdue=true", headers=reviewer)) == [late["id"]]
    assert ids(client.get("/api/v1/problems?overdue=false", headers=reviewer)) == [due_today["id"]]
    assert client.get(f"/api/v1/problems/{late['id']}", headers=cadre).json["overdue"] is True
    # Late work still counts as overdue until someone has verified it.
    submitted(client, world, reviewer, cadre, late)
    assert ids(client.get("/api/v1/problems?overdue=true", headers=cadre)) == [late["id"]]
    step(client, make.headers(world.city_reviewer), late["id"], "verify")
    assert ids(client.get("/api/v1/problems?overdue=true", headers=reviewer)) == []
    assert client.get(f"/api/v1/problems/{late['id']}", headers=cadre).json["overdue"] is False


def test_list_filters(client, world, make, reviewer, cadre):
    a = enter(client, reviewer, world).json
    b = enter(
        client, reviewer, world, category="群众反映", responsible_unit_id=world.unit_b.id
    ).json
    other = enter(
        client,
        make.headers(world.reviewer_b),
        world,
        village_code=world.village_b1.code,
        posting_id=world.posting_b.id,
    ).json
    step(client, cadre, a["id"], "start")
    city = make.headers(world.city_reviewer)
    assert ids(client.get("/api/v1/problems", headers=city)) == [other["id"], b["id"], a["id"]]
    assert ids(client.get("/api/v1/problems?status=in_rectification", headers=city)) == [a["id"]]
    assert ids(client.get(f"/api/v1/problems?region_code={world.county_b.code}", headers=city)) == [
        other["id"]
    ]
    assert ids(client.get(f"/api/v1/problems?unit_id={world.unit_b.id}", headers=city)) == [
        other["id"],
        b["id"],
    ]
    assert ids(client.get("/api/v1/problems?category=群众反映", headers=city)) == [b["id"]]
    assert ids(client.get(f"/api/v1/problems?posting_id={world.posting_b.id}", headers=city)) == [
        other["id"]
    ]
    assert ids(client.get("/api/v1/problems", headers=reviewer)) == [b["id"], a["id"]]
    assert ids(client.get("/api/v1/problems", headers=make.headers(world.cadre_b))) == [other["id"]]
    assert ids(client.get("/api/v1/problems", headers=make.headers(world.inspector_a))) == []
    response = client.get("/api/v1/problems?region_code=340421999999", headers=city)
    assert_error(response, 422, "region_not_found")
    assert_error(
        client.get("/api/v1/problems?status=closed", headers=city), 422, "validation_error"
    )


def test_summary_per_unit_and_per_county(client, world, make, reviewer, cadre):
    city = make.headers(world.city_reviewer)
    on_time = enter(client, reviewer, world).json
    late = enter(client, reviewer, world).json
    waiting = enter(client, reviewer, world).json
    elsewhere = enter(
        client,
        make.headers(world.reviewer_b),
        world,
        village_code=world.village_b1.code,
        posting_id=None,
    ).json
    for item in (on_time, late):
        submitted(client, world, reviewer, cadre, item)
        step(client, reviewer, item["id"], "verify")
    # `late` was submitted after its deadline: verified, but not on time.
    row = db.session.execute(
        db.select(Rectification).where(
            Rectification.problem_id == late["id"], Rectification.action == "submit"
        )
    ).scalar_one()
    db.session.get(Problem, late["id"]).deadline = row.at.date() - timedelta(days=2)
    overdue_by(waiting["id"], 1)

    by_unit = client.get("/api/v1/problems/summary", headers=city)
    assert by_unit.status_code == 200
    assert by_unit.json == [
        {
            "key": world.unit_a.id,
            "name": "凤台县财政局",
            "total": 3,
            "open": 1,
            "in_rectification": 0,
            "submitted": 0,
            "verified": 2,
            "reopened": 0,
            "overdue": 1,
            "verified_on_time": 1,
        },
        {
            "key": None,
            "name": None,
            "total": 1,
            "open": 1,
            "in_rectification": 0,
            "submitted": 0,
            "verified": 0,
            "reopened": 0,
            "overdue": 0,
            "verified_on_time": 0,
        },
    ]
    assert elsewhere["responsible_unit_id"] is None
    by_county = client.get("/api/v1/problems/summary?by=county", headers=city).json
    assert [(r["key"], r["name"], r["total"]) for r in by_county] == [
        (world.county_a.code, "凤台县", 3),
        (world.county_b.code, "寿县", 1),
    ]
    mine = client.get(f"/api/v1/problems/summary?region_code={world.county_b.code}", headers=city)
    assert [r["total"] for r in mine.json] == [1]
    assert [r["total"] for r in client.get("/api/v1/problems/summary", headers=reviewer).json] == [
        3
    ]
    assert_error(client.get("/api/v1/problems/summary", headers=cadre), 403, "role_required")


# ---------------------------------------------------------------- export


def test_export_is_the_list_and_the_ledger_cell_by_cell(client, world, make, reviewer, cadre):
    first = enter(client, reviewer, world, description="值班表缺失").json
    second = enter(
        client,
        reviewer,
        world,
        category="群众反映",
        description="群众反映驻村干部走读",
        posting_id=None,
        responsible_person=None,
    ).json
    enter(
        client,
        make.headers(world.reviewer_b),
        world,
        village_code=world.village_b1.code,
        posting_id=None,
    )
    submitted(client, world, reviewer, cadre, first, seeds=(1, 2))
    overdue_by(second["id"], 5)

    response = client.get("/api/v1/problems/export", headers=reviewer)
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["问题清单", "整改台账"]

    listing = book["问题清单"]
    assert listing.freeze_panes == "A2"
    assert [c.value for c in listing[1]] == [
        "序号",
        "县区",
        "乡镇",
        "村",
        "问题类别",
        "问题描述",
        "责任单位",
        "责任人",
        "整改时限",
        "状态",
        "来源",
        "发现时间",
    ]
    assert listing.column_dimensions["F"].width == 44
    assert listing.max_row == 3  # county B's problem is not county A's to export
    stored = {p.id: p for p in db.session.execute(db.select(Problem)).scalars()}
    row1 = [c.value for c in listing[2]]
    assert row1[:8] == [
        1,
        "凤台县",
        "城关镇",
        "东湖村委会",
        "驻村管理",
        "值班表缺失",
        "凤台县财政局",
        "张伟",
    ]
    assert row1[8] == datetime.combine(date.fromisoformat(first["deadline"]), datetime.min.time())
    assert row1[9:11] == ["待验收", "录入"]
    created_local = stored[first["id"]].created_at.astimezone(ZONE).replace(tzinfo=None)
    assert abs(row1[11] - created_local) < SECOND
    assert listing["I2"].number_format == "yyyy-mm-dd"
    row2 = [c.value for c in listing[3]]
    assert row2[:8] == [
        2,
        "凤台县",
        "城关镇",
        "东湖村委会",
        "群众反映",
        "群众反映驻村干部走读",
        None,
        None,
    ]
    assert row2[9:11] == ["待整改（逾期）", "录入"]
    assert listing["I3"].fill.fgColor.rgb.endswith("F8D7D3")

    ledger = book["整改台账"]
    assert ledger.freeze_panes == "A2"
    assert [c.value for c in ledger[1]] == ["问题序号", "时间", "操作", "说明", "经办人", "照片数"]
    lines = [[c.value for c in row] for row in ledger.iter_rows(min_row=2)]
    assert [(n, action, note, who, count_) for n, _at, action, note, who, count_ in lines] == [
        (1, "开始整改", "已按要求处理。", "张伟", 0),
        (1, "提交整改", "值班表已上墙，公开栏已更新。", "张伟", 2),
    ]
    steps = db.session.execute(db.select(Rectification).order_by(Rectification.id)).scalars()
    for line, stored_step in zip(lines, steps, strict=True):
        assert abs(line[1] - stored_step.at.astimezone(ZONE).replace(tzinfo=None)) < SECOND

    only_overdue = client.get("/api/v1/problems/export?overdue=true", headers=reviewer)
    listing = load_workbook(io.BytesIO(only_overdue.data))["问题清单"]
    assert [c.value for c in listing["E"]] == ["问题类别", "群众反映"]
    assert_error(client.get("/api/v1/problems/export", headers=cadre), 403, "role_required")
