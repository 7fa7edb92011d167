"""The ledger as files organization departments work with: CSV, and XLSX with a summary
sheet and one sheet per county (Chinese headers, frozen header row, readable widths),
and one cadre's month as a sheet of its own.

Written with openpyxl's write-only mode: rows stream out, so a province's month (ten
thousand postings) does not build a workbook in memory first.
"""

import csv
import io

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from server.services.ledger import summarize

STATUS_ZH = {"met": "达标", "not_met": "未达标", "open": "待定", "undetermined": "无法判定"}
ROLE_ZH = {
    "first_secretary": "第一书记",
    "team_leader": "工作队长",
    "team_member": "工作队员",
    "paired_aid": "帮扶干部",
}
CODE_ZH = {
    "P": "在岗",
    "N": "在岗未满夜",
    "T": "公务外出",
    "L": "请假",
    "R": "休息日",
    "F": "待审核",
    "A": "缺勤",
    "U": "未知",
    "-": "未派驻",
}

# (header, row key or function, column width)
LEDGER_COLUMNS = [
    ("县区", "county_name", 12),
    ("乡镇", "township_name", 12),
    ("村", "village_name", 14),
    ("村代码", "village_code", 14),
    ("姓名", "cadre_name", 10),
    ("身份", lambda r: ROLE_ZH.get(r["role"], r["role"]), 10),
    ("选派单位", "unit_name", 22),
    ("派驻天数", "days_posted", 9),
    ("应驻天数", "required_days", 9),
    ("在岗天数", "days_present", 9),
    ("公务外出", "days_duty_trip", 9),
    ("请假", "days_leave", 7),
    ("休息日", "days_rest", 7),
    ("缺勤", "days_absent", 7),
    ("待定", "days_unknown", 7),
    ("计入天数", "days_counted", 9),
    ("待审标记", "pending_flags", 9),
    ("暗访次数", "findings_total", 9),
    ("暗访缺岗", "findings_absent", 9),
    ("结对户数", "households_paired", 9),
    ("已走访户", "households_visited", 9),
    ("本年请假", "leave_days_year", 9),
    ("结果", lambda r: STATUS_ZH[r["status"]], 9),
    ("逐日", "day_codes", 34),
]
SUMMARY_COLUMNS = [
    ("县区", "name", 14),
    ("区划代码", "key", 14),
    ("人数", "postings", 8),
    ("达标", "met", 8),
    ("未达标", "not_met", 8),
    ("待定", "open", 8),
    ("无法判定", "undetermined", 9),
    ("缺勤天数", "days_absent", 9),
    ("暗访缺岗", "findings_absent", 9),
    ("待审标记", "pending_flags", 9),
    ("达标率", "compliance", 9),
]
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE7F0")


def _value(row, key):
    return key(row) if callable(key) else row.get(key)


# A text a person typed (a note, a name) must never become a live formula in the
# reviewer's spreadsheet (CSV/formula injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(sheet, value):
    """A write-only cell that keeps a text starting with '=' as text, not a formula."""
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"
    return cell


def csv_safe(value):
    """The OWASP advice for CSV: a leading quote keeps spreadsheet apps from evaluating
    a field that starts like a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _sheet(workbook, title, columns, rows):
    sheet = workbook.create_sheet(title=title[:31])
    for i, (_header, _key, width) in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    header = []
    for title_text, _key, _width in columns:
        cell = WriteOnlyCell(sheet, value=title_text)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="center")
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([text_cell(sheet, _value(row, key)) for _h, key, _w in columns])
    return sheet


def ledger_xlsx(ledger):
    """Summary sheet first, then one sheet per county, rows in ledger order."""
    workbook = Workbook(write_only=True)
    _sheet(workbook, f"汇总 {ledger.month}", SUMMARY_COLUMNS, summarize(ledger.rows, "county"))
    by_county = {}
    for row in ledger.rows:
        by_county.setdefault((row["county_code"], row["county_name"]), []).append(row)
    for (code, name), rows in sorted(by_county.items()):
        _sheet(workbook, f"{name or code}", LEDGER_COLUMNS, rows)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def ledger_csv(ledger):
    """UTF-8 with a byte-order mark, so Excel opens the Chinese headers correctly."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["月份"] + [header for header, _key, _width in LEDGER_COLUMNS])
    for row in ledger.rows:
        values = [_value(row, key) for _h, key, _w in LEDGER_COLUMNS]
        writer.writerow([ledger.month] + [csv_safe(value) for value in values])
    return "\ufeff" + out.getvalue()


DAY_COLUMNS = [
    ("日期", "day", 12),
    ("工作日", lambda d: "是" if d["working"] else "否", 8),
    ("情况", lambda d: CODE_ZH[d["code"]], 10),
    ("打卡次数", lambda d: len(d["checkins"]), 9),
    (
        "打卡时间",
        lambda d: " ".join(c.local_time.strftime("%H:%M") for c in d["checkins"]),
        24,
    ),
    (
        "距驻点(米)",
        lambda d: " ".join(
            f"{c.distance_m:.0f}" for c in d["checkins"] if c.distance_m is not None
        ),
        16,
    ),
    (
        "异常标记",
        lambda d: " ".join(f.code for c in d["checkins"] for f in c.flags),
        28,
    ),
    ("请假单", lambda d: " ".join(str(i) for i in d["leave_ids"]), 10),
    ("暗访记录", lambda d: " ".join(str(i) for i in d["finding_ids"]), 10),
]


def posting_month_xlsx(detail, month):
    """One cadre's month: who, where, the totals, then a line per day."""
    row = detail["row"]
    workbook = Workbook(write_only=True)
    sheet = _sheet(workbook, f"{row['cadre_name']} {month}", DAY_COLUMNS, detail["days"])
    sheet.append([])
    for label, key in (
        ("姓名", "cadre_name"),
        ("村", "village_name"),
        ("选派单位", "unit_name"),
        ("应驻天数", "required_days"),
        ("计入天数", "days_counted"),
        ("缺勤", "days_absent"),
    ):
        sheet.append([label, text_cell(sheet, row[key])])
    sheet.append(["结果", STATUS_ZH[row["status"]]])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
