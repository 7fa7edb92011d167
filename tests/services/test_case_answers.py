"""Attachments to a cadre's answer: the type comes from the bytes, the name is made safe
to store and to hand back as a download."""

import pytest

from server.services.case_answers import (
    AttachmentUnsupportedType,
    clean_filename,
    sniff,
)
from tests.api.case_kit import PDF, PNG, TEXT
from tests.photos import jpeg

TXT = "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("content", "mime_type"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (jpeg(3, size=(16, 16)), "image/jpeg"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic"),
        (TEXT, TXT),
        ("\ufeff情况说明\r\n\t第二行\f".encode(), TXT),  # BOM, CRLF, tab, form feed
    ],
)
def test_the_type_comes_from_the_bytes(content, mime_type):
    assert sniff(content) == mime_type


@pytest.mark.parametrize(
    "content",
    [
        b"MZ\x90\x00\x03",  # a Windows program
        b"\x7fELF\x02\x01\x01",
        b"PK\x03\x04\x14\x00",  # zip, docx
        b"\x00\x00\x00\x1cftypavif",
        "说明".encode("gb18030"),  # not UTF-8
        b"text with an escape \x1b[2J",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # old Office documents
    ],
)
def test_anything_else_is_refused(content):
    with pytest.raises(AttachmentUnsupportedType):
        sniff(content)


@pytest.mark.parametrize(
    ("sent", "mime_type", "kept"),
    [
        ("会议通知.pdf", "application/pdf", "会议通知.pdf"),
        ("SCAN.PDF", "application/pdf", "SCAN.PDF"),
        ("photo.jpeg", "image/jpeg", "photo.jpeg"),
        ("photo.png", "image/jpeg", "photo.png.jpg"),
        ("../../etc/passwd", TXT, "passwd.txt"),
        ("C:\\Users\\zw\\说明.txt", TXT, "说明.txt"),
        ("..", TXT, "attachment.txt"),
        ("", "application/pdf", "attachment.pdf"),
        (None, "application/pdf", "attachment.pdf"),
        (".bashrc", TXT, "bashrc.txt"),
        ("a\x1b[31mb\r\nc\x00.txt", TXT, "a[31mbc.txt"),
        ("report\u202etxt.exe", TXT, "reporttxt.exe.txt"),
        ("zero\u200bwidth.txt", TXT, "zerowidth.txt"),
        ('what?<>:"|*.txt', TXT, "what_______.txt"),
        ("x" * 300 + ".txt", TXT, "x" * 196 + ".txt"),
        ("e\u0301.txt", TXT, "\u00e9.txt"),  # one normal form
    ],
)
def test_names_are_made_safe(sent, mime_type, kept):
    assert clean_filename(sent, mime_type) == kept
