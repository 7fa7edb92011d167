"""The problem list as the workbook departments file: 问题清单 (one line a problem) and
整改台账 (one line a rectification step), Chinese headers, frozen header row, widths
that fit the content. Written with openpyxl's write-only mode, like the attendance
exports, so a province's list streams out instead of being built in memory."""

import io
from zoneinfo import ZoneInfo

from flask import current_app
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, PatternFill

from server.extensions import db
from server.models import Problem
from server.services import problem_queries
from server.services.exports import HEADER_FILL, HEADER_FONT, text_cell

STATUS_ZH = {
    "draft": "草稿",
    "open": "待整改",
    "in_rectification": "整改中",
    "submitted": "待验收",
    "verified": "已验收",
    "reopened": "重新整改",
}
ACTION_ZH = {"start": "开始整改", "submit": "提交整改", "verify": "验收通过", "reopen": "退回重改"}
SOURCE_ZH = {"inspection": "暗访", "entered": "录入"}
OVERDUE_FILL = PatternFill("solid", fgColor="F8D7D3")
DAY, MINUTE = "yyyy-mm-dd", "yyyy-mm-dd hh:mm"
WRAP = Alignment(wrap_text=True, vertical="top")

# (header, width)
LIST_COLUMNS = [
    ("序号", 6),
    ("县区", 12),
    ("乡镇", 12),
    ("村", 14),
    ("问题类别", 12),
    ("问题描述", 44),
    ("责任单位", 22),
    ("责任人", 10),
    ("整改时限", 12),
    ("状态", 14),
    ("来源", 8),
    ("发现时间", 17),
]
TRAIL_COLUMNS = [
    ("问题序号", 9),
    ("时间", 17),
    ("操作", 10),
    ("说明", 50),
    ("经办人", 12),
    ("照片数", 8),
]


def problems_xlsx(views):
    """`views` (problem_queries.ProblemView with trails) in the order to number them."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    workbook = Workbook(write_only=True)
    listing = _sheet(workbook, "问题清单", LIST_COLUMNS)
    ledger = _sheet(workbook, "整改台账", TRAIL_COLUMNS)
    for number, view in enumerate(views, start=1):
        listing.append(_list_line(listing, number, view, zone))
        for step in view.trail:
            ledger.append(
                [
                    number,
                    _cell(ledger, _local(step.at, zone), MINUTE),
                    ACTION_ZH[step.action],
                    _cell(ledger, step.note, alignment=WRAP),
                    step.actor.name,
                    len(step.photos),
                ]
            )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _list_line(sheet, number, view, zone):
    status = STATUS_ZH[view.status] + ("（逾期）" if view.overdue else "")
    deadline = _cell(sheet, view.deadline, DAY)
    if view.overdue:
        deadline.fill = OVERDUE_FILL
    return [
        number,
        view.county_name,
        view.township_name,
        view.village_name,
        view.category,
        _cell(sheet, view.description, alignment=WRAP),
        view.responsible_unit_name,
        view.responsible_person,
        deadline,
        status,
        SOURCE_ZH[view.source],
        _cell(sheet, _local(view.found_at, zone), MINUTE),
    ]


def _sheet(workbook, title, columns):
    sheet = workbook.create_sheet(title=title)
    for index, (_header, width) in enumerate(columns):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    sheet.freeze_panes = "A2"
    header = []
    for text, _width in columns:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="center")
        header.append(cell)
    sheet.append(header)
    return sheet


def _cell(sheet, value, number_format=None, alignment=None):
    cell = text_cell(sheet, value)
    if number_format and value is not None:
        cell.number_format = number_format
    if alignment is not None:
        cell.alignment = alignment
    return cell


def _local(moment, zone):
    # Spreadsheet cells have no time zone: the local wall time is what people read.
    return moment.astimezone(zone).replace(tzinfo=None) if moment is not None else None


def export(*, actor, **filters):
    """The filtered list in scope, oldest first, as the workbook."""
    stmt = problem_queries.list_(actor=actor, **filters).order_by(None).order_by(Problem.id)
    problems = db.session.execute(stmt).scalars().all()
    return problems_xlsx(problem_queries.views(problems, trail=True))
