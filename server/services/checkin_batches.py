"""A phone's offline queue, synced in one request (POST /api/v1/checkins/batch): each
queued check-in is submitted as on its own (checkins.submit: idempotent, verified, its
own transaction) and answered on its own, so one bad item never holds back the rest and
the phone knows which to send again."""

import logging
from http import HTTPStatus

from server.errors import AppError, Invalid
from server.extensions import db
from server.services import checkins

log = logging.getLogger(__name__)


def submit(*, actor, items, photo_files):
    """Each item on its own: one bad item does not hold back the others."""
    results = []
    for item in items:
        indexes = item.pop("photo_indexes", [])
        try:
            files = [photo_files[i] for i in indexes]
        except IndexError:
            results.append(
                _error_result(
                    item,
                    Invalid(
                        "photo_index_out_of_range",
                        "An item names a photo that was not sent.",
                        "条目引用了未上传的照片。",
                        errors={"photo_indexes": indexes},
                    ),
                )
            )
            continue
        try:
            outcome = checkins.submit(actor=actor, photo_files=files, **item)
            # The next item reads afresh (locks, postings, leave), as after any commit.
            db.session.expire_all()
        except AppError as exc:
            db.session.rollback()
            results.append(_error_result(item, exc))
            continue
        except Exception:
            # One item must never wedge a phone's whole queue: answer it as an error and
            # go on; the next sync retries it.
            db.session.rollback()
            log.exception("batch item %s failed", item.get("client_id"))
            results.append(
                _error_result(
                    item,
                    AppError(
                        "internal_error", "This item could not be processed.", "该条目处理失败。"
                    ),
                    status=500,
                )
            )
            continue
        results.append(
            {
                "client_id": item["client_id"],
                "status": 201 if outcome.created else 200,
                "checkin": outcome.checkin,
            }
        )
    return {"results": results}


def _error_result(item, exc, status=None):
    status = status or exc.status_code
    return {
        "client_id": item.get("client_id"),
        "status": status,
        "error": {
            "code": status,
            "status": HTTPStatus(status).phrase,
            "error": exc.error,
            "message": exc.message,
            "message_zh": exc.message_zh,
            "errors": exc.errors,
        },
    }
