"""Roster import: one file of units, cadres and postings, imported whole or not at all."""

import csv
import io
import zipfile
from datetime import date, datetime

import marshmallow as ma
import openpyxl
import pytest

from schemas.imports import RosterRowSchema
from server.extensions import db
from server.models import AuditEvent, Posting, Unit, User, UserRole
from server.services import audit
from tests.test_platform import assert_error

URL = "/api/v1/imports/roster"
ZH = ["姓名", "手机号", "选派单位", "单位层级", "单位所在地代码", "村代码", "岗位", "开始日期"]
ZH += ["结束日期", "户籍地代码"]
EN = ["name", "phone", "unit_name", "unit_level", "unit_region_code", "village_code", "role"]
EN += ["start_date", "end_date", "home_region_code"]
NEW_UNIT = "凤台县农业农村局"


def xlsx(*rows, header=ZH):
    book = openpyxl.Workbook()
    for row in (header, *rows):
        book.active.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(*rows, header=EN, encoding="utf-8"):
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue().encode(encoding)


def upload(client, user_headers, data, filename="roster.xlsx"):
    return client.post(
        URL,
        data={"file": (io.BytesIO(data), filename)},
        headers=user_headers,
        content_type="multipart/form-data",
    )


def row(name, phone, unit, village, role="team_member", start="2026-03-01", end=None, **more):
    """A row in EN column order; `more` fills unit_level, unit_region_code, home_region_code."""
    return [
        name,
        phone,
        unit,
        more.get("unit_level"),
        more.get("unit_region_code"),
        village,
        role,
        start,
        end,
        more.get("home_region_code"),
    ]


def table_counts():
    models = (Unit, User, UserRole, Posting, AuditEvent)
    return {m: db.session.scalar(db.select(db.func.count()).select_from(m)) for m in models}


def posting_of(phone, village):
    return db.session.execute(
        db.select(Posting)
        .join(Posting.cadre)
        .join(Posting.village)
        .where(User.phone == phone, Posting.village.has(code=village))
    ).scalar_one()


def user_by_phone(phone):
    return db.session.execute(db.select(User).where(User.phone == phone)).scalar_one()


@pytest.fixture
def admin(world, make):
    return make.headers(world.admin)


@pytest.fixture
def roster(world):
    """An xlsx roster written the way Excel keeps it: Chinese headers and labels, date
    cells, codes and phones turned into numbers, a blank row."""
    return xlsx(
        row("陈静", "13800000001", NEW_UNIT, "340421100202", "第一书记", datetime(2026, 3, 1),
            unit_level="县级", unit_region_code="340421000000",
            home_region_code="340422100000"),
        row("刘洋", 13800000002, NEW_UNIT, 340421100202.0, "工作队员", "2026/3/1"),
        [None] * 10,
        row(world.aid_cadre_a.name, world.aid_cadre_a.phone, "凤台县财政局", "340421100202",
            "帮扶干部", "2026-02-01"),
        row("周强", "13800000003", "寿县教育局", "340422100201", "工作队员", date(2024, 1, 1),
            date(2024, 12, 31), unit_level="county", unit_region_code=340422000000),
        row(world.cadre_a.name, world.cadre_a.phone, "凤台县财政局", "340421100201",
            "first_secretary", "2026-01-01"),
    )  # fmt: skip


def test_admin_imports_an_excel_roster(client, world, admin, roster):
    response = upload(client, admin, roster)
    assert response.status_code == 201, response.json
    assert response.json == {
        "rows": 5,
        "units_created": 1,
        "cadres_created": 3,
        "postings_created": 4,
        "unchanged": 1,
    }
    unit = db.session.execute(db.select(Unit).where(Unit.name == NEW_UNIT)).scalar_one()
    assert (unit.level, unit.region) == ("county", world.county_a)
    chen = user_by_phone("13800000001")
    assert chen.roles == ["cadre"] and not chen.has_password
    assert (chen.unit, chen.home_region) == (unit, world.township_b)
    first = posting_of("13800000001", "340421100202")
    assert (first.role, first.start_date, first.status) == (
        "first_secretary",
        date(2026, 3, 1),
        "active",
    )
    assert posting_of("13800000002", "340421100202").role == "team_member"
    aid = posting_of(world.aid_cadre_a.phone, "340421100202")
    assert (aid.role, aid.unit) == ("paired_aid", world.unit_a)
    ended = posting_of("13800000003", "340422100201")
    assert (ended.end_date, ended.status) == (date(2024, 12, 31), "ended")
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "roster.import")
    ).scalar_one()
    assert event.actor_id == world.admin.id and event.object_type == "roster"
    assert event.summary["postings_created"] == 4 and len(event.summary["sha256"]) == 64
    assert audit.verification()["ok"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_with_english_headers_in_any_encoding(client, world, admin, encoding):
    header = [f"  {column.upper()} " for column in EN]  # case and spaces do not matter
    data = csv_bytes(
        row("陈静", "13800000001", NEW_UNIT, "340421100202", "first_secretary", "2026-03-01",
            unit_level="county", unit_region_code="340421000000"),
        header=header, encoding=encoding,
    )  # fmt: skip
    response = upload(client, admin, data, "roster.csv")
    assert response.status_code == 201, response.json
    assert response.json["postings_created"] == 1
    assert user_by_phone("13800000001").name == "陈静"
    assert db.session.execute(db.select(Unit).where(Unit.name == NEW_UNIT)).scalar_one()


def test_importing_the_same_file_again_changes_nothing(client, admin, roster):
    assert upload(client, admin, roster).status_code == 201
    before = table_counts()
    response = upload(client, admin, roster)
    assert response.status_code == 201
    assert response.json == {
        "rows": 5,
        "units_created": 0,
        "cadres_created": 0,
        "postings_created": 0,
        "unchanged": 5,
    }
    assert table_counts() == before | {AuditEvent: before[AuditEvent] + 1}


def test_one_bad_row_rejects_the_whole_file(client, admin, roster, world):
    good = row(
        "陈静",
        "13800000001",
        NEW_UNIT,
        "340421100202",
        "first_secretary",
        unit_level="county",
        unit_region_code="340421000000",
    )
    bad = row("刘洋", "1380000", "凤台县财政局", "340421100202", "team_member")
    before = table_counts()
    response = upload(client, admin, xlsx(good, [None] * 10, bad))  # fmt: skip
    assert_error(response, 422, "roster_invalid")
    assert response.json["errors"] == {
        "rows": [{"row": 4, "errors": {"phone": ["Must be an 11-digit mobile number."]}}]
    }
    assert table_counts() == before


@pytest.mark.parametrize(
    "changes, errors",
    [
        ({5: "340421100299"}, {"village_code": ["No region with code 340421100299."]}),
        ({5: "340421100000"}, {"village_code": ["340421100000 is a township, not a village."]}),
        ({5: "34042110020"}, {"village_code": ["Must be 12 digits."]}),
        ({6: "队长"}, {"role"}),
        ({7: "3/1/2026"}, {"start_date": ["Must be a date such as 2026-03-01 or 2026/3/1."]}),
        ({7: "2026-02-30"}, {"start_date"}),
        ({8: "2026-02-01"}, {"end_date": ["Must not be before start_date."]}),
        ({0: None}, {"name": ["Missing data for required field."]}),
        ({0: "王五"}, {"name"}),
        ({3: "市级"}, {"unit_level": ["The unit 凤台县财政局 has county."]}),
        ({4: "340422000000"}, {"unit_region_code": ["The unit 凤台县财政局 has 340421000000."]}),
        ({2: "新单位"}, {"unit_name": ["A new unit needs unit_level and unit_region_code."]}),
        ({9: "340499000000"}, {"home_region_code": ["No region with code 340499000000."]}),
    ],
)
def test_row_errors_name_the_column(client, world, admin, changes, errors):
    cells = row(world.aid_cadre_a.name, world.aid_cadre_a.phone, "凤台县财政局", "340421100202",
                "paired_aid")  # fmt: skip
    for i, value in changes.items():
        cells[i] = value
    before = table_counts()
    response = upload(client, admin, csv_bytes(cells), "roster.csv")
    assert_error(response, 422, "roster_invalid")
    [report] = response.json["errors"]["rows"]
    assert report["row"] == 2
    if isinstance(errors, dict):
        assert report["errors"] == errors
    else:
        assert set(report["errors"]) == errors
    assert table_counts() == before


def test_overlap_with_a_posting_in_the_database(client, world, admin):
    # cadre_a is first secretary in A1 from 2026-01-01 with no end.
    cells = row(world.cadre_a.name, world.cadre_a.phone, "凤台县财政局", "340421100202",
                "team_member", "2026-06-01")  # fmt: skip
    before = table_counts()
    response = upload(client, admin, xlsx(cells))
    assert_error(response, 422, "roster_invalid")
    [report] = response.json["errors"]["rows"]
    assert "already has resident posting" in report["errors"]["start_date"][0]
    assert table_counts() == before


def test_paired_aid_beside_a_resident_posting_is_fine(client, world, admin):
    cells = row(world.cadre_a.name, world.cadre_a.phone, "凤台县财政局", "340421100202",
                "paired_aid", "2026-06-01")  # fmt: skip
    assert upload(client, admin, xlsx(cells)).status_code == 201


@pytest.mark.parametrize(
    "second, message",
    [
        (("340421100202", "2025-06-01", "2026-05-31"), "already has resident posting"),
        (("340421100202", "2100-01-01", None), "already has resident posting"),  # two active
        (("340421100201", "2025-01-01", "2099-12-31"), "The same posting as row 2."),
    ],
)
def test_overlap_within_the_file(client, world, admin, second, message):
    unit = "凤台县财政局"
    first = row(
        "陈静", "13800000001", unit, "340421100201", "team_member", "2025-01-01", "2099-12-31"
    )
    village, start, end = second
    response = upload(
        client, admin, xlsx(first, row("陈静", "13800000001", unit, village, start=start, end=end))
    )  # fmt: skip
    assert_error(response, 422, "roster_invalid")
    [report] = response.json["errors"]["rows"]
    assert report["row"] == 3 and message in report["errors"]["start_date"][0]
    assert db.session.execute(db.select(User).where(User.phone == "13800000001")).first() is None


def test_consecutive_postings_in_one_file_are_fine(client, world, admin):
    unit = "凤台县财政局"
    earlier = row("陈静", "13800000001", unit, "340421100201", start="2024-01-01", end="2024-12-31")
    later = row("陈静", "13800000001", unit, "340421100202", start="2025-01-01")
    response = upload(client, admin, xlsx(earlier, later))
    assert response.status_code == 201
    assert response.json["postings_created"] == 2 and response.json["cadres_created"] == 1


def test_reviewer_imports_inside_the_jurisdiction_only(client, world, make):
    headers = make.headers(world.reviewer_a)
    inside = row(
        "陈静",
        "13800000001",
        NEW_UNIT,
        "340421100202",
        unit_level="county",
        unit_region_code="340421000000",
    )
    outside = row("刘洋", "13800000002", "寿县教育局", "340422100201")
    foreign_unit = row(
        "周强",
        "13800000003",
        "寿县农业农村局",
        "340421100201",
        unit_level="county",
        unit_region_code="340422000000",
    )
    response = upload(client, headers, xlsx(inside, outside, foreign_unit))  # fmt: skip
    assert_error(response, 422, "roster_invalid")
    assert response.json["errors"]["rows"] == [
        {"row": 3, "errors": {"village_code": ["This is outside your jurisdiction."]}},
        {"row": 4, "errors": {"unit_region_code": ["This is outside your jurisdiction."]}},
    ]
    assert upload(client, headers, xlsx(inside)).status_code == 201


def test_existing_people_get_the_cadre_role(client, world, admin, make):
    inspector = world.inspector_a
    cells = row(inspector.name, inspector.phone, "凤台县财政局", "340421100202")
    assert upload(client, admin, xlsx(cells)).status_code == 201
    assert user_by_phone(inspector.phone).roles == ["cadre", "inspector"]
    # A reviewer may not change another reviewer's roles, here as in the users API.
    boss = world.city_reviewer
    cells = row(boss.name, boss.phone, "凤台县财政局", "340421100202")
    response = upload(client, make.headers(world.reviewer_a), xlsx(cells))
    assert_error(response, 422, "roster_invalid")
    assert set(response.json["errors"]["rows"][0]["errors"]) == {"phone"}


def test_cadres_may_not_import(client, world, make, roster):
    assert_error(upload(client, make.headers(world.cadre_a), roster), 403, "role_required")


def test_importing_needs_a_token(client, world, roster):
    assert_error(upload(client, {}, roster), 401, "unauthorized")


def test_a_picture_is_not_a_roster(client, admin):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
    assert_error(upload(client, admin, png, "roster.xlsx"), 415, "roster_unsupported_type")


def test_a_zip_that_is_no_workbook_is_unreadable(client, admin):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert_error(upload(client, admin, out.getvalue()), 422, "roster_unreadable")


@pytest.mark.parametrize("data", [b"", b"  \r\n", xlsx(), csv_bytes()])
def test_empty_files_are_refused(client, admin, data):
    assert_error(upload(client, admin, data), 422, "roster_empty")


def test_the_file_field_is_required(client, admin):
    response = client.post(URL, data={}, headers=admin, content_type="multipart/form-data")
    assert_error(response, 422, "validation_error")
    assert set(response.json["errors"]) == {"file"}


def test_too_many_rows(client, world, admin, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_ROSTER_ROWS", 2)
    cells = row("陈静", "13800000001", "凤台县财政局", "340421100202")
    assert upload(client, admin, xlsx(cells, cells)).status_code == 422  # at the limit: checked
    response = upload(client, admin, xlsx(cells, cells, cells))
    assert_error(response, 413, "roster_too_many_rows")
    assert response.json["errors"] == {"max_rows": 2}


def test_too_many_bytes(client, admin, app, monkeypatch, roster):
    monkeypatch.setitem(app.config, "MAX_ROSTER_BYTES", len(roster) - 1)
    assert_error(upload(client, admin, roster), 413, "roster_too_large")


def test_a_zip_bomb_is_refused_before_unpacking(client, admin, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_ROSTER_BYTES", 1000)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"0" * 20001)
    assert len(out.getvalue()) < 1000
    response = upload(client, admin, out.getvalue())
    assert_error(response, 413, "roster_too_large")
    assert response.json["errors"] == {"max_unpacked_bytes": 20000}


@pytest.mark.parametrize(
    "header, error, columns",
    [
        ([c for c in EN if c != "phone"], "roster_missing_columns", ["phone"]),
        ([*EN, "备注"], "roster_unknown_columns", ["备注"]),
        ([*EN, "姓名"], "roster_duplicate_columns", ["姓名"]),
    ],
)
def test_bad_headers_are_refused(client, admin, header, error, columns):
    response = upload(client, admin, csv_bytes(header=header), "roster.csv")
    assert_error(response, 422, error)
    assert response.json["errors"] == {"columns": columns}


@pytest.mark.parametrize(
    "cells, loaded",
    [
        ({"village_code": 340421100202}, {"village_code": "340421100202"}),
        ({"village_code": 340421100202.0}, {"village_code": "340421100202"}),
        ({"phone": 13800000001}, {"phone": "13800000001"}),
        ({"start_date": datetime(2026, 3, 1, 8, 30)}, {"start_date": date(2026, 3, 1)}),
        ({"start_date": "2026年3月1日"}, {"start_date": date(2026, 3, 1)}),
        ({"start_date": "2026.3.1"}, {"start_date": date(2026, 3, 1)}),
        ({"role": "First_Secretary", "unit_level": "乡镇级"}, {"role": "first_secretary"}),
    ],
)
def test_excel_cell_values_load(cells, loaded):
    base = {"name": "陈静", "phone": "13800000001", "unit_name": "x", "village_code": "1" * 12}
    base |= {"role": "paired_aid", "start_date": "2026-03-01"}
    assert RosterRowSchema().load(base | cells).items() >= loaded.items()


@pytest.mark.parametrize("cell", [3.40421e11 + 0.5, "3.40421E+11", 34042110020, True])
def test_numbers_that_lost_digits_are_refused(cell):
    with pytest.raises(ma.ValidationError) as caught:
        RosterRowSchema().load({"village_code": cell}, partial=True)
    assert set(caught.value.messages) == {"village_code"}
