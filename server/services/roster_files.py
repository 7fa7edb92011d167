"""Reading a roster file (.xlsx or .csv) into validated rows, before anything is written.

The file type is decided by content, never by name; sizes, row counts and zip ratios are
checked before a parser sees the bytes.
"""

import codecs
import csv
import io
import re
import zipfile
from itertools import islice

import marshmallow as ma
import openpyxl
from flask import current_app

from schemas.imports import RosterRowSchema
from server.errors import AppError, Invalid

_ROW = RosterRowSchema()
HEADERS = {label: name for name, f in _ROW.fields.items() for label in (name, f.metadata["zh"])}
REQUIRED = [name for name, f in _ROW.fields.items() if f.required]
# Binary files decode as GB18030 more often than not; text never holds these controls.
_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UNZIP_RATIO = 20  # real workbooks unpack to 5-10 times their size


class RosterTooLarge(AppError):
    status_code = 413
    error = "roster_too_large"


class UnsupportedRoster(AppError):
    status_code = 415
    error = "roster_unsupported_type"
    message = "Upload an .xlsx workbook or a UTF-8 or GB18030 .csv file."
    message_zh = "请上传 .xlsx 工作簿，或 UTF-8、GB18030 编码的 .csv 文件。"


def read(file):
    """(the raw bytes, [(row number, values, errors), ...]) of a roster upload."""
    data = _read_limited(file)
    header, rows = _read_table(data)
    index = _map_columns(header)
    rows = [(n, _cells(index, cells)) for n, cells in rows]
    records = [(n, *_load_row(values)) for n, values in rows if values]
    if not records:
        raise Invalid("roster_empty", "The file has no data rows.", "文件中没有数据行。")
    return data, records


def _read_limited(file):
    limit = current_app.config["MAX_ROSTER_BYTES"]
    data = file.read(limit + 1)
    if len(data) > limit:
        raise RosterTooLarge(
            message=f"The file is larger than {limit} bytes.",
            message_zh=f"文件超过 {limit} 字节。",
            errors={"max_bytes": limit},
        )
    if not data.strip():
        raise Invalid("roster_empty", "The file is empty.", "文件为空。")
    return data


def _read_table(data):
    """(header cells, [(spreadsheet row number, cells), ...]) of the first sheet."""
    limit = current_app.config["MAX_ROSTER_ROWS"]
    # An .xlsx workbook is a ZIP archive; anything else had better be CSV text.
    reader = _xlsx_rows if data.startswith(b"PK\x03\x04") else _csv_rows
    rows = reader(data, limit + 2)
    if len(rows) > limit + 1:
        raise RosterTooLarge(
            "roster_too_many_rows",
            f"The file has more than {limit} rows below the header.",
            f"文件表头以下超过 {limit} 行。",
            errors={"max_rows": limit},
        )
    if not rows:
        raise Invalid("roster_empty", "The file is empty.", "文件为空。")
    return rows[0], list(enumerate(rows[1:], start=2))


def _xlsx_rows(data, limit):
    try:
        _refuse_zip_bomb(zipfile.ZipFile(io.BytesIO(data)))
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return list(islice(book.worksheets[0].iter_rows(values_only=True), limit))
        finally:
            book.close()
    except RosterTooLarge:
        raise
    except Exception as exc:  # bad zip, bad XML, missing parts: all "unreadable" to a user
        raise Invalid(
            "roster_unreadable",
            "The workbook cannot be read; save it again as .xlsx.",
            "无法读取该工作簿，请重新另存为 .xlsx 文件。",
        ) from exc


def _refuse_zip_bomb(archive):
    # openpyxl reads the shared strings whole; a few MB can inflate to gigabytes. zipfile
    # never inflates a member past its declared size, so the declared sizes are a bound.
    limit = _UNZIP_RATIO * current_app.config["MAX_ROSTER_BYTES"]
    if sum(member.file_size for member in archive.infolist()) > limit:
        raise RosterTooLarge(
            message="The workbook unpacks to too much data.",
            message_zh="该工作簿解压后数据量过大。",
            errors={"max_unpacked_bytes": limit},
        )


def _csv_rows(data, limit):
    text = _decode(data)
    if _BINARY.search(text):
        raise UnsupportedRoster()
    try:
        return list(islice(csv.reader(io.StringIO(text, newline="")), limit))
    except csv.Error as exc:
        raise Invalid(
            "roster_unreadable", f"The CSV file is malformed: {exc}.", "CSV 文件格式错误。"
        ) from exc


def _decode(data):
    # Chinese Excel saves plain "CSV" as GB18030 (GBK) and "CSV UTF-8" with a BOM.
    encodings = ("utf-8",) if data.startswith(codecs.BOM_UTF8) else ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding).removeprefix("\ufeff")
        except UnicodeDecodeError:
            continue
    raise UnsupportedRoster()


def _map_columns(header):
    """{column: cell index}; unknown, repeated and missing columns are refused."""
    index, unknown, repeated = {}, [], []
    for i, cell in enumerate(header):
        label = "" if cell is None else str(cell).strip()
        column = HEADERS.get(label.lower())
        if not label:
            continue
        if column is None:
            unknown.append(label)
        elif column in index:
            repeated.append(label)
        else:
            index[column] = i
    missing = [column for column in REQUIRED if column not in index]
    for code, names, what, what_zh in (
        ("roster_unknown_columns", unknown, "Unknown columns", "无法识别的列"),
        ("roster_duplicate_columns", repeated, "Repeated columns", "重复的列"),
        ("roster_missing_columns", missing, "Missing columns", "缺少必填列"),
    ):
        if names:
            raise Invalid(
                code,
                f"{what}: {', '.join(names)}. The accepted columns: {', '.join(HEADERS)}.",
                f"{what_zh}：{'、'.join(names)}。可用的列：{'、'.join(HEADERS)}。",
                errors={"columns": names},
            )
    return index


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _cells(index, cells):
    """{column: value} of the non-blank cells of a row (rows may be ragged)."""
    values = {c: _strip(cells[i]) if i < len(cells) else None for c, i in index.items()}
    return {c: v for c, v in values.items() if v not in (None, "")}


def _load_row(values):
    """(the values that loaded, {column: [messages]})."""
    try:
        return _ROW.load(values), {}
    except ma.ValidationError as exc:
        return exc.valid_data or {}, exc.messages
