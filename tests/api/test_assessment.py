"""The annual assessment sheet: per posting, the year's attendance, inspections, cases and
the grade the policy's mapping suggests, checked cell by cell. The year is 2025, so
every month of it is over whatever day the tests run."""

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook

from server.extensions import db
from server.models import Case, CaseDecision
from server.services.assessment import GRADE_HEADER
from tests.api.test_attendance import _finding, leave, policy, present
from tests.api.test_rules import close, workdays
from tests.test_platform import assert_error

HEADER = [
    "县区",
    "乡镇",
    "村",
    "姓名",
    "身份",
    "选派单位",
    "达标月数",
    "未达标月数",
    "待定月数",
    "在岗天数",
    "请假天数",
    "计入天数",
    "年度应驻天数",
    "年度达标",
    "暗访次数",
    "暗访缺岗",
    "本人全年缺岗",
    "案件数",
    "处理决定",
    "建议等次，供考核委员会参考",
]


def at(month, day):
    return datetime(2025, month, day, 2, tzinfo=UTC)  # 10:00 in Anhui


def case(make, world, posting, *decisions, opened=None):
    """A case on `posting`, and its decisions (measure, day), each correcting the last."""
    row = Case(
        posting_id=posting.id,
        cadre_id=posting.cadre_id,
        proposed_measure="talk",
        summary="暗访缺岗。",
        evidence=[],
        decision_level="county",
        answer_deadline=date(2025, 8, 1),
        opened_by_id=world.reviewer_a.id,
        opened_at=opened or at(7, 20),
    )
    db.session.add(row)
    db.session.flush()
    previous = None
    for measure, decided in decisions:
        previous = CaseDecision(
            case_id=row.id,
            measure=measure,
            reason="经集体研究决定。",
            decided_by_id=world.reviewer_a.id,
            decided_at=decided,
            corrects_id=previous.id if previous else None,
        )
        db.session.add(previous)
        db.session.flush()
    return row


@pytest.fixture
def year(client, make, world):
    """Five postings of 2025 (see the module's expected lines)."""
    policy(
        make,
        world.county_a,
        {"attendance": {"min_days_per_month": 3, "min_days_per_year": 30}},
        effective=date(2025, 1, 1),
    )
    policy(
        make,
        world.county_b,
        {"consequences": {"grades": {"basically_competent_from": 1}}},
        effective=date(2025, 1, 1),
    )
    people = {n: make.user("cadre", name=n) for n in ("甲", "乙", "丙", "丁", "戊")}
    full = {"start": date(2025, 1, 1), "end": date(2025, 12, 31), "status": "ended"}
    first_half = {"start": date(2025, 1, 1), "end": date(2025, 6, 30), "status": "ended"}
    second_half = {"start": date(2025, 7, 1), "end": date(2025, 12, 31), "status": "ended"}
    p = {
        "甲": make.posting(people["甲"], world.village_a1, world.unit_a, **full),
        "乙": make.posting(
            people["乙"],
            world.village_b1,
            world.unit_b,
            start=date(2025, 3, 1),
            end=date(2025, 6, 30),
            status="ended",
        ),
        "丙1": make.posting(
            people["丙"], world.village_a2, world.unit_a, role="team_member", **first_half
        ),
        "丙2": make.posting(
            people["丙"], world.village_a1, world.unit_a, role="team_member", **second_half
        ),
        "丁": make.posting(people["丁"], world.village_a2, world.unit_b, start=date(2025, 1, 1)),
        # Served only in 2024: not in the sheet.
        "戊": make.posting(
            people["戊"],
            world.village_a1,
            world.unit_a,
            start=date(2024, 1, 1),
            end=date(2024, 12, 31),
            status="ended",
        ),
    }
    for month in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12):
        present(make, p["甲"], workdays(f"2025-{month:02d}", 3))
    leave(p["甲"], date(2025, 4, 14), date(2025, 4, 15))
    _finding(make, world, p["甲"], "absent", at(6, 10))
    _finding(make, world, p["甲"], "present", at(7, 10))
    _finding(make, world, p["乙"], "absent", at(4, 8))
    for when in (at(2, 11), at(3, 11)):
        _finding(make, world, p["丙1"], "absent", when)
    _finding(make, world, p["丙2"], "absent", at(8, 12))
    _finding(make, world, p["戊"], "absent", at(3, 12).replace(year=2024))
    case(make, world, p["甲"], ("talk", at(8, 1)))
    case(make, world, p["甲"], ("reminder", at(9, 1)), ("dismissed", at(9, 5)))
    case(make, world, p["甲"], opened=at(1, 1).replace(year=2024))  # an earlier year's
    db.session.commit()
    close(client, make, world.reviewer_a, world.county_a, "2025-01")
    return p


A1, A2, B1 = "东湖村委会", "西湖村委会", "南关村委会"
LINES = {
    # 10 months with 3 days present, 2 without; 1 absence found: rules out 优秀 only.
    # County A asks 30 days a year (prorated to the days served); county B nothing.
    "甲": ["凤台县", "城关镇", A1, "甲", "第一书记", "凤台县财政局",
          10, 2, 0, 30, 2, 30, 30, "是", 2, 1, 1, 2,
           "约谈、不予处理", "称职"],
    # Two postings of one cadre: the grade counts the person's 3 absences on both lines.
    "丙2": ["凤台县", "城关镇", A1, "丙", "工作队员", "凤台县财政局",
           0, 6, 0, 0, 0, 0, 16, "否", 1, 1, 3, 0,
            "", "不称职"],
    "丙1": ["凤台县", "城关镇", A2, "丙", "工作队员", "凤台县财政局",
           0, 6, 0, 0, 0, 0, 15, "否", 2, 2, 3, 0,
            "", "不称职"],
    # No absence found: 优秀 is not ruled out (whatever else the committee weighs).
    "丁": ["凤台县", "城关镇", A2, "丁", "第一书记", "寿县教育局",
          0, 12, 0, 0, 0, 0, 30, "否", 0, 0, 0, 0,
           "", "优秀"],
    # County B's policy: one absence already gives 基本称职.
    "乙": ["寿县", "寿春镇", B1, "乙", "第一书记", "寿县教育局",
          0, 4, 0, 0, 0, 0, "", "", 1, 1, 1, 0, "",
           "基本称职"],
}  # fmt: skip


def sheet(client, make, user, year=2025, **params):
    response = client.get(
        f"/api/v1/assessments/{year}.xlsx", query_string=params, headers=make.headers(user)
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "assessment-2025.xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["2025年度考核参考"]
    return book.active


def test_the_sheet_matches_the_years_records_cell_by_cell(client, make, world, year):
    ws = sheet(client, make, world.city_reviewer)
    assert ws["A1"].value == (
        "2025年度驻村干部考核参考（淮南市）：建议等次依据暗访发现的无故缺岗次数"
        "按政策对应规则生成，供考核委员会参考，不是考核结论。"
    )
    assert [c.value for c in ws[2]] == HEADER and HEADER[-1] == GRADE_HEADER
    assert ws.freeze_panes == "A3"
    assert ws.column_dimensions["T"].width == 26
    got = [[c.value for c in row] for row in ws.iter_rows(min_row=3)]
    expected = [LINES[k] for k in ("甲", "丙2", "丙1", "丁", "乙")]
    assert got == [[None if v == "" else v for v in line] for line in expected]


def test_a_department_gets_its_own_jurisdiction(client, make, world, year):
    ws = sheet(client, make, world.reviewer_a)
    assert "（凤台县）" in ws["A1"].value
    assert [row[3].value for row in ws.iter_rows(min_row=3)] == ["甲", "丙", "丙", "丁"]
    ws = sheet(client, make, world.city_reviewer, region_code=world.county_b.code)
    assert [row[3].value for row in ws.iter_rows(min_row=3)] == ["乙"]
    ws = sheet(client, make, world.admin)
    assert "（全部）" in ws["A1"].value and ws.max_row == 7


def test_the_grade_follows_the_policy_mapping(client, make, world, year):
    policy(
        make,
        world.county_a,
        {
            "attendance": {"min_days_per_month": 3},
            "consequences": {"grades": {"basically_competent_from": 1, "incompetent_from": 2}},
        },
        effective=date(2025, 12, 31),
    )
    db.session.commit()
    ws = sheet(client, make, world.reviewer_a)
    assert [row[19].value for row in ws.iter_rows(min_row=3)] == [
        "基本称职",
        "不称职",
        "不称职",
        "优秀",
    ]


@pytest.mark.parametrize(
    "who, year, params, status, error",
    [
        ("cadre_a", 2025, {}, 403, "role_required"),
        ("inspector_a", 2025, {}, 403, "role_required"),
        ("reviewer_a", 2025, {"region_code": "340422000000"}, 403, "out_of_jurisdiction"),
        ("reviewer_a", 2025, {"region_code": "340499000000"}, 422, "region_not_found"),
        ("reviewer_a", 2025, {"region_code": "1"}, 422, "validation_error"),
        ("reviewer_a", 1999, {}, 422, "invalid_year"),
        ("reviewer_a", 2100, {}, 422, "invalid_year"),
    ],
)
def test_refusals(client, make, world, who, year, params, status, error):
    response = client.get(
        f"/api/v1/assessments/{year}.xlsx",
        query_string=params,
        headers=make.headers(getattr(world, who)),
    )
    assert_error(response, status, error)
