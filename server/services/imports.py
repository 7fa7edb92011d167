"""Roster import: units, cadres and postings from one .xlsx or .csv file, all or nothing.

Rows are validated by doing: they are written in file order inside a savepoint, so the
posting rules of services/postings.py judge each row against the database *and* the
earlier rows of the same file, with no second copy of those rules here. Any row error
rolls the savepoint back, and the caller gets every row's errors at once.
"""

import codecs
import csv
import hashlib
import io
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice

import marshmallow as ma
import openpyxl
from flask import current_app
from sqlalchemy.orm import selectinload

from schemas.imports import RosterRowSchema
from server import auth
from server.errors import AppError, Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import Posting, Region, Unit, User
from server.services import audit, postings

_ROW = RosterRowSchema()
HEADERS = {label: name for name, f in _ROW.fields.items() for label in (name, f.metadata["zh"])}
REQUIRED = [name for name, f in _ROW.fields.items() if f.required]
COUNTS = ("units_created", "cadres_created", "postings_created", "unchanged")
# Binary files decode as GB18030 more often than not; text never holds these controls.
_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UNZIP_RATIO = 20  # real workbooks unpack to 5-10 times their size
_CHUNK = 500  # keys per IN (...) list, well under every driver's parameter limit


class RosterTooLarge(AppError):
    status_code = 413
    error = "roster_too_large"


class UnsupportedRoster(AppError):
    status_code = 415
    error = "roster_unsupported_type"
    message = "Upload an .xlsx workbook or a UTF-8 or GB18030 .csv file."
    message_zh = "请上传 .xlsx 工作簿，或 UTF-8、GB18030 编码的 .csv 文件。"


def import_roster(*, actor, file):
    data = _read_limited(file)
    header, rows = _read_table(data)
    index = _map_columns(header)
    rows = [(n, _cells(index, cells)) for n, cells in rows]
    records = [(n, *_load_row(values)) for n, values in rows if values]
    if not records:
        raise Invalid("roster_empty", "The file has no data rows.", "文件中没有数据行。")
    result = {"rows": len(records), **_all_or_nothing(actor, records)}
    digest = hashlib.sha256(data).hexdigest()
    summary = result | {"sha256": digest, "filename": getattr(file, "filename", None)}
    audit.record(
        "roster.import", actor=actor, object_type="roster", object_id=digest, summary=summary
    )
    db.session.commit()
    return result


def _all_or_nothing(actor, records):
    # A savepoint, not session.rollback(): whatever the session held before stays.
    savepoint = db.session.begin_nested()
    try:
        counts, report = _apply(actor, records)
    except BaseException:
        savepoint.rollback()
        raise
    if report:
        savepoint.rollback()
        raise Invalid(
            "roster_invalid",
            f"Rows with errors: {len(report)}. Nothing was imported.",
            f"有 {len(report)} 行存在错误，未导入任何数据。",
            errors={"rows": report},
        )
    savepoint.commit()
    return counts


# ---------------------------------------------------------------- reading the file


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


# ---------------------------------------------------------------- writing the rows


@dataclass
class _Known:
    """What the database and the earlier rows hold, under the keys a roster uses."""

    regions: dict
    units: dict
    users: dict
    postings: dict  # (phone, village code, role, start date) -> (posting, row or None)
    residents: set  # phones with a resident posting, stored or in an earlier row
    unit_specs: dict  # unit name -> (level, region code) from its first row giving both
    counts: Counter = field(default_factory=Counter)


def _apply(actor, records):
    known = _load(records)
    report = []
    for row, values, errors in records:
        village = _village(actor, values, errors, known)
        unit = _unit(actor, values, errors, known)
        cadre = _cadre(actor, values, errors, known, unit)
        if not errors:
            _posting(row, values, errors, known, village, unit, cadre)
        if errors:
            report.append({"row": row, "errors": errors})
    db.session.flush()  # inside the caller's try: a failing insert must undo the savepoint
    return {key: known.counts[key] for key in COUNTS}, report


def _load(records):
    def wanted(*columns):
        return sorted({v[c] for _, v, _ in records for c in columns if c in v})

    def fetch(stmt, column, keys):
        for start in range(0, len(keys), _CHUNK):
            yield from db.session.execute(stmt.where(column.in_(keys[start : start + _CHUNK])))

    codes = wanted("village_code", "unit_region_code", "home_region_code")
    phones = wanted("phone")
    users = db.select(User).options(selectinload(User.role_rows))
    existing = db.select(Posting, User.phone, Region.code).join(Posting.cadre).join(Posting.village)
    specs = {}
    for _, v, _ in records:
        if {"unit_name", "unit_level", "unit_region_code"} <= v.keys():
            specs.setdefault(v["unit_name"], (v["unit_level"], v["unit_region_code"]))
    stored = list(fetch(existing, User.phone, phones))
    return _Known(
        regions={r.code: r for (r,) in fetch(db.select(Region), Region.code, codes)},
        units={u.name: u for (u,) in fetch(db.select(Unit), Unit.name, wanted("unit_name"))},
        users={u.phone: u for (u,) in fetch(users, User.phone, phones)},
        postings={(phone, code, p.role, p.start_date): (p, None) for p, phone, code in stored},
        residents={phone for p, phone, _ in stored if p.is_resident},
        unit_specs=specs,
    )


def _region(code, column, errors, known, level=None):
    region = known.regions.get(code)
    if code is not None and region is None:
        _fail(errors, column, f"No region with code {code}.")
    elif region is not None and level and region.level != level:
        _fail(errors, column, f"{code} is a {region.level}, not a {level}.")
        return None
    return region


def _manages(actor, region, column, errors):
    """auth.ensure_manages, reported against the row instead of failing the request."""
    try:
        auth.ensure_manages(actor, region)
    except Forbidden as exc:
        _fail(errors, column, exc.message)
        return False
    return True


def _village(actor, values, errors, known):
    village = _region(values.get("village_code"), "village_code", errors, known, "village")
    return village if village and _manages(actor, village, "village_code", errors) else None


def _unit(actor, values, errors, known):
    name = values.get("unit_name")
    unit = known.units.get(name) or _new_unit(actor, name, errors, known)
    if unit is None:
        return None
    for column, actual in (("unit_level", unit.level), ("unit_region_code", unit.region.code)):
        if values.get(column) not in (None, actual):
            _fail(errors, column, f"The unit {name} has {actual}.")
    return unit


def _new_unit(actor, name, errors, known):
    if name is None:
        return None
    if name not in known.unit_specs:
        _fail(errors, "unit_name", "A new unit needs unit_level and unit_region_code.")
        return None
    level, code = known.unit_specs[name]
    region = _region(code, "unit_region_code", errors, known)
    if region is None or not _manages(actor, region, "unit_region_code", errors):
        return None
    unit = Unit(name=name, level=level, region=region)
    db.session.add(unit)
    known.units[name] = unit
    known.counts["units_created"] += 1
    return unit


def _cadre(actor, values, errors, known, unit):
    phone, name = values.get("phone"), values.get("name")
    home = _region(values.get("home_region_code"), "home_region_code", errors, known)
    user = known.users.get(phone)
    if phone is None or name is None:
        return None
    if user is None:
        user = User(name=name, phone=phone, roles=["cadre"], unit=unit, home_region=home)
        db.session.add(user)
        known.users[phone] = user
        known.counts["cadres_created"] += 1
    elif user.name != name:
        _fail(errors, "name", "This phone number is registered, or used above, for another name.")
        return None
    elif not user.has_role("cadre"):
        # As in services/users.py: reviewers may not change a reviewer's or admin's roles.
        if user.has_role("reviewer", "admin") and not actor.has_role("admin"):
            _fail(errors, "phone", "Only an administrator can post a reviewer or administrator.")
            return None
        user.roles = [*user.roles, "cadre"]
    return user


def _posting(row, values, errors, known, village, unit, cadre):
    key = (cadre.phone, village.code, values["role"], values["start_date"])
    if key in known.postings:
        earlier_row = known.postings[key][1]
        if earlier_row is not None:
            _fail(errors, "start_date", f"The same posting as row {earlier_row}.")
        else:
            known.counts["unchanged"] += 1
        return
    end = values.get("end_date")
    posting = Posting(
        cadre=cadre,
        village=village,
        unit=unit,
        role=values["role"],
        start_date=values["start_date"],
        end_date=end,
        status="ended" if end is not None and end < postings.local_today() else "active",
    )
    # Only a cadre with resident postings can clash; skipping the others keeps a large
    # import to one bulk flush instead of a flush and two queries per row.
    if cadre.phone in known.residents:
        db.session.flush()  # the rules query the database, so earlier rows must be in it
        posting.cadre_id = cadre.id
        try:
            postings.check_resident_rules(posting)
        except Conflict as exc:
            _fail(errors, "start_date", exc.message)
            return
    db.session.add(posting)
    if posting.is_resident:
        known.residents.add(cadre.phone)
    known.postings[key] = (posting, row)
    known.counts["postings_created"] += 1


def _fail(errors, column, message):
    errors.setdefault(column, []).append(message)
