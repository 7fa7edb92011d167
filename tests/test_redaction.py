"""Masking of text bound for the logs: phone numbers keep their first three and last four
digits, secrets lose their values, and ordinary ids, dates and hashes stay as they are."""

import hashlib
import json
import logging
import uuid

import pytest

from server.logging import JsonFormatter
from server.redaction import RedactingFilter, mask_phone, redact, redact_value

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiI0MiIsInNpZCI6ImFiYyIsInR5cCI6ImFjY2VzcyJ9"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)


def test_mask_phone_keeps_the_first_three_and_last_four_digits():
    assert mask_phone("13800000001") == "138****0001"
    assert mask_phone("123") == "***"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("13800000001", "138****0001"),
        ("用户13912345678登录失败", "用户139****5678登录失败"),
        ("手机号：13912345678，请核实", "手机号：139****5678，请核实"),
        ("+8613912345678", "+86139****5678"),
        ("+86 139 1234 5678", "+86 139****5678"),
        ("0086-139-1234-5678", "0086-139****5678"),
        ("phone=13912345678&x=1", "phone=139****5678&x=1"),
        # URL-encoded, as gunicorn quotes a raw request line it cannot parse
        ("GET /x?phone=%2B8613912345678 HTTP/1.1", "GET /x?phone=%2B86139****5678 HTTP/1.1"),
        ("q%3D13912345678%26", "q%3D139****5678%26"),
        ("('13912345678', 'x')", "('139****5678', 'x')"),
        # As json.dumps and bytes reprs write Chinese text: 手机13912345678
        ('"\\u624b\\u673a13912345678"', '"\\u624b\\u673a139****5678"'),
        ("b'\\xe6\\x9c\\xba13912345678'", "b'\\xe6\\x9c\\xba139****5678'"),
    ],
)
def test_phone_numbers_are_masked_wherever_they_are(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"token {JWT} expired", "token eyJ*** expired"),
        (f"Authorization: Bearer {JWT}", "Authorization: ***"),
        (f"{{'Authorization': 'Bearer {JWT}'}}", "{'Authorization': '***'}"),
        ("authorization=Basic dXNlcjpwYXNz", "authorization=***"),
        ("sent Bearer opaque-token-123", "sent Bearer ***"),
        ("password=hunter2 user=5", "password=*** user=5"),
        ("new_password: hunter2, next", "new_password: ***, next"),
        ('{"password": "p\\"w\'d", "phone": "x"}', '{"password": "***", "phone": "x"}'),
        (f'{{"refresh_token": "{JWT}"}}', '{"refresh_token": "***"}'),
        ("{'access_token': 'abc'}", "{'access_token': '***'}"),
        ('{\\"password\\": \\"hunter2\\"}', '{\\"password\\": \\"***\\"}'),
        ("SECRET_KEY=abcdef0123", "SECRET_KEY=***"),
        ("PASSWORD=x Password: y", "PASSWORD=*** Password: ***"),
        (f"AUTHORIZATION: bearer {JWT}", "AUTHORIZATION: ***"),
        (f"BEARER {JWT}", "BEARER ***"),
        ("api_key=k1&Cookie: console_session=abc", "api_key=***&Cookie: ***"),
        ("postgresql://app:s3cret@db:5432/cadre", "postgresql://app:***@db:5432/cadre"),
        ("hash $argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA end", "hash $argon2id$*** end"),
    ],
)
def test_secrets_lose_their_values(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        hashlib.sha256(b"photo").hexdigest(),
        "a13800000001b and 0x13800000001 and user13800000001",  # inside hex and words
        "f" + "13800000001" * 5,
        str(uuid.UUID("13800000-0001-4000-8000-013800000001")),
        "138000000012 and 1380000000 and 213800000001",  # 12, 10 and 12 digits
        "2026-03-02T09:00:00+08:00 id=12345 region 340421100201",
        "GET /api/v1/checkins/123/photos/4567 200 12.5 ms",
        "The token is invalid.",
        "server.services.checkins line 367",
        "{'first_secretary': 3, 'role': 'first_secretary'}",
    ],
)
def test_ordinary_ids_dates_and_hashes_are_left_alone(text):
    assert redact(text) == text


def test_extra_fields_are_masked_by_value_and_by_name():
    assert redact_value("13800000001") == "138****0001"
    assert redact_value("hunter2", "password") == "***"
    assert redact_value({"phone": "13800000001", "refresh_token": JWT, "n": 3}) == {
        "phone": "138****0001",
        "refresh_token": "***",
        "n": 3,
    }
    assert redact_value([13800000001, "13800000001"]) == [13800000001, "138****0001"]
    assert redact_value(None) is None and redact_value(2.5) == 2.5
    assert redact_value(3, "first_secretary") == 3


def record(message, *args, exc_info=None, **extra):
    made = logging.LogRecord("test", logging.WARNING, __file__, 1, message, args, exc_info)
    made.__dict__.update(extra)
    return made


def test_the_json_formatter_masks_message_exception_and_extra_fields():
    try:
        raise RuntimeError(f"row ('13800000001', 'Bearer {JWT}')")
    except RuntimeError as exc:
        line = JsonFormatter().format(
            record(
                "login %s failed",
                "13900000002",
                exc_info=(RuntimeError, exc, None),
                phone="13700000003",
                authorization=f"Bearer {JWT}",
                user_id=7,
            )
        )
    entry = json.loads(line)
    assert entry["message"] == "login 139****0002 failed"
    assert "138****0001" in entry["exception"] and "Bearer ***" in entry["exception"]
    assert entry["phone"] == "137****0003"
    assert entry["authorization"] == "***"
    assert entry["user_id"] == 7
    for secret in ("13800000001", "13900000002", "13700000003", JWT.split(".")[2]):
        assert secret not in line


def test_the_filter_masks_records_for_formatters_that_are_not_ours():
    try:
        raise ValueError(f"token={JWT}")
    except ValueError as exc:
        made = record("bad line 'GET /x?phone=%s'", "13800000001", exc_info=(ValueError, exc, None))
    assert RedactingFilter().filter(made)
    text = logging.Formatter().format(made)
    assert "phone=138****0001" in text and "token=***" in text
    assert "13800000001" not in text and JWT not in text


def test_a_message_whose_arguments_do_not_fit_is_still_logged_masked():
    # logging's own fallback would print the raw arguments to stderr.
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "log-in %s from %s failed", ("13800000001",), None
    )
    entry = json.loads(JsonFormatter().format(record))
    assert "13800000001" not in entry["message"] and "138****0001" in entry["message"]
