"""Rows into tables in bulk, ids included: COPY on PostgreSQL, executemany on SQLite,
inside the session's transaction, counting rows per table.

Values are held by column (NumPy arrays, or lists of Python values) and turned into
COPY text a whole column at a time: row by row, psycopg's `write_row` cost about 20 µs
for a check-in, by column it costs a few. `background()` sends the COPY data from a
thread, so PostgreSQL stores one batch while Python makes the next.

NumPy arrays: integers; floats (NaN is NULL); datetime64 (NaT is NULL): UTC instants
for timezone-aware columns, wall-clock times otherwise. Lists: None, str, bool, int,
float, date, time, aware datetime, or anything JSON for JSON columns.
"""

import contextlib
import functools
import json
import queue
import threading
from collections import Counter
from datetime import UTC, date, datetime, time

import numpy as np
from sqlalchemy import JSON, Date

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class Writer:
    def __init__(self, session):
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.counts = Counter()
        self.queue = self.failed = None

    def write(self, model, names, rows):
        """Rows: tuples in the order of `names`."""
        rows = list(rows)
        values = zip(*rows, strict=True) if rows else ([] for _ in names)
        self.write_columns(model, dict(zip(names, map(list, values), strict=True)))

    def write_columns(self, model, columns):
        """Columns {name: values}, all of one length."""
        table = _table(model, columns)
        n = len(next(iter(columns.values())))
        self.counts[table.name] += n
        if n == 0:
            return
        dialect = self.session.get_bind().dialect
        names = ", ".join(map(dialect.identifier_preparer.quote, columns))
        into = dialect.identifier_preparer.quote(table.name)
        if not self.postgres:
            # The column types' own conversions, a column at a time, then plain executemany:
            # a third of the cost of handing SQLAlchemy a dict per row.
            values = [_stored(table.c[name], v, dialect) for name, v in columns.items()]
            sql = f"INSERT INTO {into} ({names}) VALUES ({', '.join('?' * len(columns))})"
            self.session.connection().exec_driver_sql(sql, list(zip(*values, strict=True)))
            return
        fields = [copy_text(table.c[name], values) for name, values in columns.items()]
        payload = ("\n".join(map("\t".join, zip(*fields, strict=True))) + "\n").encode()
        sql = f"COPY {into} ({names}) FROM STDIN"
        if self.queue is None:
            _copy(self.session.connection().connection.driver_connection, sql, payload)
        elif self.failed is None:
            self.queue.put((sql, payload))

    @contextlib.contextmanager
    def background(self):
        """PostgreSQL: send the COPY data from a thread while the caller goes on (the
        session must not be used meanwhile: it is the same connection)."""
        if not self.postgres:
            yield
            return
        raw = self.session.connection().connection.driver_connection
        self.queue = queue.Queue(maxsize=2)

        def send():
            while (item := self.queue.get()) is not None:
                if self.failed is None:
                    try:
                        _copy(raw, *item)
                    except Exception as exc:  # noqa: BLE001  (raised in the caller's thread)
                        self.failed = exc

        thread = threading.Thread(target=send, name="copy")
        thread.start()
        try:
            yield
        finally:
            self.queue.put(None)
            thread.join()
            self.queue = None
        if self.failed is not None:
            raise self.failed


def _copy(raw, sql, payload):
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        copy.write(payload)


def _table(model, columns):
    table = getattr(model, "__table__", model)
    # COPY knows nothing of the models' Python defaults: say every required value.
    missing = [
        c.name
        for c in table.columns
        if c.name not in columns and not c.nullable and c.server_default is None
    ]
    if missing:
        raise ValueError(f"{table.name}: no values for {', '.join(missing)}")
    return table


def _timezone_aware(column):
    return getattr(getattr(column.type, "impl", column.type), "timezone", False)


def _escape(text):
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_ESCAPES)
    return text


_FORMAT = {
    type(None): lambda v: NULL,
    str: _escape,
    bool: lambda v: "t" if v else "f",
    int: str,
    float: repr,
    date: date.isoformat,
    time: time.isoformat,
    datetime: datetime.isoformat,
}


def copy_text(column, values):
    """One column's values as COPY text fields."""
    if isinstance(values, np.ndarray):
        return _array_text(column, values)
    if isinstance(column.type, JSON):
        return [NULL if v is None else _escape(json.dumps(v, ensure_ascii=False)) for v in values]
    types = set(map(type, values))
    if types <= {str, type(None)}:  # most lists: one scan of them all for what needs escaping
        texts = [v for v in values if v is not None] if type(None) in types else values
        joined = "\x00".join(texts)
        if any(special in joined for special in "\\\t\n\r"):
            return [NULL if v is None else _escape(v) for v in values]
        return [NULL if v is None else v for v in values] if texts is not values else values
    try:
        return [_FORMAT[type(v)](v) for v in values]
    except KeyError as exc:
        raise TypeError(f"{column.name}: no COPY text for {exc}") from None


def _array_text(column, values):
    kind = values.dtype.kind
    if kind == "M":
        return _moments(column, values)
    if kind == "b":
        return ["t" if v else "f" for v in values.tolist()]
    if kind == "f":
        if np.isnan(values).any():
            return [NULL if v != v else repr(v) for v in values.tolist()]
        return list(map(repr, values.tolist()))
    return list(map(str, values.tolist()))


def _moments(column, values):
    if isinstance(column.type, Date):
        text = np.datetime_as_string(values.astype("datetime64[D]"))
        return [NULL if t == "NaT" else t for t in text.tolist()]
    suffix = "+00" if _timezone_aware(column) else ""
    micro = values.astype("datetime64[us]")
    seconds = micro.astype(np.int64) // 1_000_000
    if np.isnat(micro).any() or (micro.astype(np.int64) % 1_000_000).any():
        text = np.datetime_as_string(micro, unit="us")
        return [NULL if t == "NaT" else t + suffix for t in text.tolist()]
    # Whole seconds (most of ours): the day's text and the time's, looked up.
    days, clock = np.divmod(seconds, 86400)
    day_text = {d: str(np.datetime64(d, "D")) + " " for d in np.unique(days).tolist()}
    times = _clock_text(suffix)
    return [day_text[d] + times[t] for d, t in zip(days.tolist(), clock.tolist(), strict=True)]


@functools.cache
def _clock_text(suffix):
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{suffix}" for s in range(86400)]


def _stored(column, values, dialect):
    convert = column.type.dialect_impl(dialect).bind_processor(dialect)
    values = python_values(column, values)
    return [None if v is None else convert(v) for v in values] if convert else values


def python_values(column, values):
    """One column's values as SQLAlchemy takes them."""
    if not isinstance(values, np.ndarray):
        return list(values)
    kind = values.dtype.kind
    if kind == "M":
        if isinstance(column.type, Date):
            return values.astype("datetime64[D]").tolist()
        moments = values.astype("datetime64[us]").tolist()
        if _timezone_aware(column):
            return [None if m is None else m.replace(tzinfo=UTC) for m in moments]
        return moments
    if kind == "f":
        return [None if v != v else v for v in values.tolist()]  # NaN: not equal to itself
    return values.tolist()
