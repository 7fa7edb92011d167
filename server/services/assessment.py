"""Annual assessment support (年度考核): for a year and a jurisdiction, one line per
posting that served in it: attendance month by month (frozen where closed), inspection
results, cases and the decisions in force, and the grade the policy's mapping suggests.

The grade is a suggestion for the assessment committee, never the grade: published
county rules say an unexcused absence found by inspection rules out 优秀, and so many
give 基本称职 or 不称职 (`consequences.grades`). With none, 优秀 is merely not ruled
out. Absences are counted per cadre over all their postings in the sheet, because the
grade is the person's.
"""

import io
import math
from datetime import date

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select

from server import auth
from server.errors import Invalid
from server.extensions import db
from server.models import Case, CaseDecision
from server.services import ledger
from server.services import ledger_queries as q
from server.services.exports import HEADER_FILL, HEADER_FONT, ROLE_ZH
from server.services.lookups import region_by_code
from server.services.rule_support import Policies

GRADES = ("优秀", "称职", "基本称职", "不称职")
GRADE_HEADER = "建议等次，供考核委员会参考"
MEASURE_ZH = {
    "commendation": "表扬",
    "reminder": "提醒",
    "talk": "约谈",
    "circulated_criticism": "通报批评",
    "admonition": "诫勉谈话",
    "recall": "召回撤换",
    "dismissed": "不予处理",
}


def suggested_grade(absences, grades):
    if absences >= grades["incompetent_from"]:
        return GRADES[3]
    if absences >= grades["basically_competent_from"]:
        return GRADES[2]
    return GRADES[1] if absences else GRADES[0]


def annual_rows(*, actor, year, region_code=None):
    """(the region or None for everywhere, the lines in county, village, posting order)."""
    if not 2000 <= year <= ledger.local_today().year:
        raise Invalid(
            "invalid_year",
            "The year must be from 2000 to the current year.",
            "年份须在2000年至今年之间。",
            errors={"year": year},
        )
    region = region_by_code(region_code, "region_code") if region_code else actor.jurisdiction
    if region is not None and not actor.has_role("admin"):
        auth.ensure_manages(actor, region)
    first, last = date(year, 1, 1), date(year, 12, 31)
    stmt = ledger.postings_in_month(actor=actor, first=first, last=last, region=region)
    lines = {}
    for month in _months(year):
        m_first, m_last = ledger.month_bounds(month)
        ids = ledger.postings_in_month(actor=actor, first=m_first, last=m_last, region=region)
        rows = ledger.compute_rows(ids, m_first, m_last)
        ledger.overlay_closures(rows, month)
        for row in rows:
            _count(lines, row)
    findings = q.finding_counts(stmt, first, last)
    cases, measures = _cases(stmt, first, last)
    absences_by_cadre = {}
    for line in lines.values():
        line["findings_total"], line["findings_absent"] = findings.get(line["posting_id"], (0, 0))
        line["cases"] = cases.get(line["posting_id"], 0)
        line["measures"] = "、".join(measures.get(line["posting_id"], []))
        absences_by_cadre[line["cadre_id"]] = (
            absences_by_cadre.get(line["cadre_id"], 0) + line["findings_absent"]
        )
    policies = Policies({line["village_code"] for line in lines.values()})
    for line in lines.values():
        line["cadre_absent"] = absences_by_cadre[line["cadre_id"]]
        policy = policies.on(line["village_code"], last)[0]
        line["grade"] = suggested_grade(line["cadre_absent"], policy["consequences"]["grades"])
        year_minimum(line, policy["attendance"]["min_days_per_year"], first, last)
    ordered = sorted(
        lines.values(), key=lambda r: (r["county_code"], r["village_code"], r["posting_id"])
    )
    return region, ordered


def year_minimum(line, minimum, first, last):
    """The policy's optional yearly minimum (e.g. 200 days), prorated to the days the
    posting served in the year (months not over yet count as served)."""
    if minimum is None:
        line["year_required"] = line["year_met"] = None
        return
    days_in_year = (last - first).days + 1
    line["year_required"] = math.ceil(minimum * line["days_posted"] / days_in_year)
    line["year_met"] = "是" if line["days_counted"] >= line["year_required"] else "否"


def _months(year):
    today = ledger.local_today()
    until = 12 if year < today.year else today.month
    return [f"{year:04d}-{m:02d}" for m in range(1, until + 1)]


def _count(lines, row):
    line = lines.get(row["posting_id"])
    if line is None:
        line = lines[row["posting_id"]] = {
            key: row[key]
            for key in (
                "posting_id",
                "cadre_id",
                "cadre_name",
                "role",
                "unit_name",
                "village_code",
                "village_name",
                "township_name",
                "county_code",
                "county_name",
            )
        } | dict.fromkeys(("met", "not_met", "open", "days_present", "days_leave"), 0)
        line |= {"days_counted": 0, "days_posted": 0}
    status = row["status"]
    line["open" if status in ("open", "undetermined") else status] += 1
    for key in ("days_present", "days_leave", "days_counted", "days_posted"):
        line[key] += row[key]


def _cases(postings, first, last):
    """Cases opened in the year per posting, and the measures of the decisions in force
    made in the year, in the order decided."""
    start, end = q.local_bounds(first, last)
    opened = dict(
        db.session.execute(
            select(Case.posting_id, func.count(Case.id))
            .where(Case.posting_id.in_(postings), Case.opened_at >= start, Case.opened_at < end)
            .group_by(Case.posting_id)
        ).all()
    )
    corrected = select(CaseDecision.corrects_id).where(CaseDecision.corrects_id.is_not(None))
    decided = db.session.execute(
        select(Case.posting_id, CaseDecision.measure)
        .join(Case, Case.id == CaseDecision.case_id)
        .where(
            Case.posting_id.in_(postings),
            CaseDecision.id.not_in(corrected),
            CaseDecision.decided_at >= start,
            CaseDecision.decided_at < end,
        )
        .order_by(CaseDecision.decided_at, CaseDecision.id)
    ).all()
    measures = {}
    for posting_id, measure in decided:
        measures.setdefault(posting_id, []).append(MEASURE_ZH[measure])
    return opened, measures


# (header, line key or function, column width)
COLUMNS = [
    ("县区", "county_name", 12),
    ("乡镇", "township_name", 12),
    ("村", "village_name", 14),
    ("姓名", "cadre_name", 10),
    ("身份", lambda r: ROLE_ZH.get(r["role"], r["role"]), 10),
    ("选派单位", "unit_name", 22),
    ("达标月数", "met", 9),
    ("未达标月数", "not_met", 10),
    ("待定月数", "open", 9),
    ("在岗天数", "days_present", 9),
    ("请假天数", "days_leave", 9),
    ("计入天数", "days_counted", 9),
    ("年度应驻天数", "year_required", 11),
    ("年度达标", "year_met", 9),
    ("暗访次数", "findings_total", 9),
    ("暗访缺岗", "findings_absent", 9),
    ("本人全年缺岗", "cadre_absent", 12),
    ("案件数", "cases", 8),
    ("处理决定", "measures", 22),
    (GRADE_HEADER, "grade", 26),
]


def title(year, region):
    place = region.name if region is not None else "全部"
    return (
        f"{year}年度驻村干部考核参考（{place}）：建议等次依据暗访发现的无故缺岗次数"
        "按政策对应规则生成，供考核委员会参考，不是考核结论。"
    )


def annual_xlsx(*, actor, year, region_code=None):
    """A title row saying what the sheet is, the header row, then a line per posting."""
    region, lines = annual_rows(actor=actor, year=year, region_code=region_code)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=f"{year}年度考核参考")
    for i, (_header, _key, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A3"
    heading = WriteOnlyCell(sheet, value=title(year, region))
    heading.font = Font(bold=True, size=12)
    sheet.append([heading])
    header = []
    for text, _key, _width in COLUMNS:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        header.append(cell)
    sheet.append(header)
    for line in lines:
        sheet.append([key(line) if callable(key) else line[key] for _h, key, _w in COLUMNS])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
