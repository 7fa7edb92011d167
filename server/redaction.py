"""Masking of personal data and secrets in text bound for the logs.

Logs travel further than the database (log shippers, tickets, screenshots), so what they
hold is cut down to what an operator needs: a phone number keeps its first three and last
four digits (138****0001, enough to tell two numbers apart in an incident), and tokens,
passwords, password hashes and Authorization headers lose their values entirely.

One precompiled pattern, one pass per string: the access log runs it on every request.
Standard library only.
"""

import functools
import logging
import re

MASK = "***"

# Names whose values are secrets: password, new_password, password_hash, refresh_token,
# SECRET_KEY, Authorization, api_key, Cookie... but a first_secretary is a person.
_SECRET_NAME = r"passw(?:or)?d|pwd|secret(?!ar)|token|authorization|api[_-]?key|cookie|credential"

# Case is ignored only where it must be, and a branch that needs a certain first character
# says so up front (?=[...]): both make the scan about twice as fast.
_PATTERN = re.compile(
    # A URL's password: postgresql://user:pw@host
    r"(?P<url>://[^\s/:@]+:)[^\s/@]+@"
    # key=value, key: value, "key": "value", 'key': 'value' (also JSON escaped inside
    # a string). The match starts at the telling word (in new_password=x, at password),
    # and its suffix is bounded: the scan stays linear on long words.
    rf"|(?=[pPsStTaAcC])(?P<key>(?i:{_SECRET_NAME})[\w-]{{0,30}})"
    r"(?P<sep>\\?[\"']?[ \t]*[:=][ \t]*)"
    r"(?P<value>\\\"(?:[^\"\\]|\\[^\"])*\\\""
    r"|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
    r"|(?i:bearer|basic|token)[ \t]+[^\s,;&'\"})\]]+"
    r"|[^\s,;&'\"})\]]+)"
    # A bearer token on its own, and a JWT wherever it is (its header is JSON: eyJ...).
    r"|(?=[bB])(?P<bearer>\b(?i:bearer)[ \t]+)[\w.~+/=-]+"
    r"|(?P<jwt>\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*)"
    r"|(?P<argon2>\$argon2(?:id|i|d)\$)[\w$=,+/.-]+"
    # A mainland mobile number, with or without +86/0086 and separators; not a run of
    # digits inside a longer number or a hex string (ids, sha256s), but after an escape
    # (\u624b, \xe6) as in JSON or bytes written out by a library, or a URL's (%2B86...).
    r"|(?=[+018])(?:(?<![0-9A-Za-z])|(?<=\\u[0-9a-fA-F]{4})|(?<=\\x[0-9a-fA-F]{2})"
    r"|(?<=%[0-9a-fA-F]{2}))"
    r"(?P<cc>(?:\+|00)?86[- ]?)?(?P<head>1[3-9]\d)[- ]?\d{4}[- ]?(?P<tail>\d{4})"
    r"(?![0-9A-Za-z])"
)
_SECRET_KEY = re.compile(_SECRET_NAME, re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def _is_secret_name(key):
    # A handful of field names, asked about on every record.
    return _SECRET_KEY.search(key) is not None


def mask_phone(phone):
    """138****0001 for 13800000001; anything too short to keep digits of is masked whole."""
    phone = str(phone)
    if len(phone) < 8:
        return MASK
    return phone[:3] + "****" + phone[-4:]


def _replace(match):
    if match.group("url"):
        return match.group("url") + MASK + "@"
    if match.group("key"):
        value = match.group("value")
        quote = value[: 2 if value.startswith("\\") else 1] if value[0] in "\"'\\" else ""
        return match.group("key") + match.group("sep") + quote + MASK + quote
    if match.group("bearer"):
        return match.group("bearer") + MASK
    if match.group("jwt"):
        return "eyJ" + MASK
    if match.group("argon2"):
        return match.group("argon2") + MASK
    return (match.group("cc") or "") + match.group("head") + "****" + match.group("tail")


def redact(text):
    """`text` with phone numbers masked and secrets removed."""
    return _PATTERN.sub(_replace, text)


def redact_value(value, key=None):
    """A log record's extra field, masked; a field named like a secret loses its value."""
    if key is not None and _is_secret_name(key):
        return MASK
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    return redact(str(value))


class RedactingFilter(logging.Filter):
    """Masks a record in place, for loggers whose formatters are not ours (gunicorn's)."""

    def filter(self, record):
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
