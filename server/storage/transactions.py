"""Staged evidence follows the database transaction that records it: installed after the
outermost commit, discarded on rollback (of that transaction, or of the savepoint it was
staged in), discarded too when the session closes with the transaction still open.

A crash between the commit and the install leaves a row without its original and the
staged copy beside it; `check(repair=True)` finishes the install."""

import logging
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

log = logging.getLogger("server.storage")

PENDING = "evidence_store.pending"  # session.info key: copies staged in this session
_HOOKED = "evidence_store.hooked"


@dataclass
class Staged:
    store: object
    handle: object  # the staged copy, as the store names it (a path, a key)
    sha: str
    transaction: object  # the SessionTransaction it was staged in


def begin(session):
    """Hook `session` and return its innermost transaction, begun now if autobegin has
    not happened yet, so that a rollback before any query still discards the copy
    instead of leaving it for the next commit."""
    session = _hook(session)
    return session.get_nested_transaction() or session.get_transaction() or session.begin()


def pending(session, store, handle, sha, transaction) -> None:
    session = _hook(session)
    session.info.setdefault(PENDING, []).append(Staged(store, handle, sha, transaction))


def _hook(session) -> Session:
    """Attach the transaction listeners to this Session object, once."""
    if isinstance(session, scoped_session):
        session = session()
    if not session.info.get(_HOOKED):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_soft_rollback", _after_soft_rollback)
        event.listen(session, "after_transaction_end", _after_transaction_end)
        session.info[_HOOKED] = True
    return session


def _after_commit(session) -> None:
    # Releasing a SAVEPOINT fires after_commit too; only the outermost commit counts.
    if session.in_nested_transaction():
        return
    for staged in session.info.pop(PENDING, []):
        try:
            staged.store.install(staged.handle, staged.sha)
        except staged.store.errors:
            # The rows are committed; raising here would tell the caller otherwise.
            # The staged copy stays for check(repair=True).
            log.exception("evidence %s committed but not moved into place", staged.sha)


def _after_transaction_end(session, transaction) -> None:
    # The outermost transaction ended without after_commit taking the copies: it was
    # rolled back, or the session was closed with it still open. Either way: discard.
    if transaction.parent is None:
        for staged in session.info.pop(PENDING, []):
            _discard(staged)


def _after_soft_rollback(session, previous_transaction) -> None:
    # A SAVEPOINT rolled back: only what was staged inside it goes.
    if not previous_transaction.nested:
        return
    keep = []
    for staged in session.info.get(PENDING, []):
        if _within(staged.transaction, previous_transaction):
            _discard(staged)
        else:
            keep.append(staged)
    session.info[PENDING] = keep


def _discard(staged) -> None:
    try:
        staged.store.discard(staged.handle)
    except staged.store.errors:
        # A rollback must not fail for this: the copy is named by no row, and
        # check(repair=True) removes it once it is stale.
        log.exception("staged evidence %s could not be discarded", staged.sha)


def _within(transaction, savepoint) -> bool:
    while transaction is not None:
        if transaction is savepoint:
            return True
        transaction = transaction.parent
    return False
