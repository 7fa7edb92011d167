"""Helpers for case tests: recommendations as the rules would leave them, and the HTTP
calls of a case's life (open, answer, decide)."""

import io
from datetime import timedelta

from server.extensions import db
from server.models import Case, Recommendation
from server.services.ledger import local_today

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TEXT = "村委会会议记录：11月3日至5日在县里参加培训，有报备。\n".encode()
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def recommendation(posting, measure="recall", *, rule="false_checkin", status="open", **extra):
    row = Recommendation(
        posting=posting,
        rule=rule,
        measure=measure,
        period="2026-03",
        dedup_key=f"{rule}:{posting.id}:2026-03",
        rule_version="0" * 64,
        rule_settings={"measure": measure},
        evidence=[{"type": "ledger_month", "id": posting.id, "month": "2026-03"}],
        summary="2026年3月抽查发现不在岗，当日签到与抽查结果矛盾。",
        status=status,
        **extra,
    )
    db.session.add(row)
    db.session.commit()
    return row


def open_case(client, headers, **body):
    return client.post("/api/v1/cases", json=body, headers=headers)


def own_initiative(client, headers, posting, measure="talk", **extra):
    body = {
        "posting_id": posting.id,
        "proposed_measure": measure,
        "summary": "群众反映长期不在村。",
    }
    return open_case(client, headers, **body, **extra)


def answer(
    client, headers, case_id, *, kind="explanation", text="我当时在县里参加培训。", files=()
):
    data = {
        "kind": kind,
        "text": text,
        "attachments": [(io.BytesIO(content), name) for name, content in files],
    }
    return client.post(
        f"/api/v1/cases/{case_id}/answers",
        data=data,
        headers=headers,
        content_type="multipart/form-data",
    )


def decide(client, headers, case_id, measure, reason="经核实，情况属实。", **extra):
    return client.post(
        f"/api/v1/cases/{case_id}/decisions",
        json={"measure": measure, "reason": reason, **extra},
        headers=headers,
    )


def deadline_passed(case_id, days=1):
    """As if the case had been opened long enough ago for its answer period to end."""
    case = db.session.get(Case, case_id)
    case.answer_deadline = local_today() - timedelta(days=days)
    db.session.commit()
