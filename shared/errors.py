"""Which failures are worth another try."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError, OperationalError

# PostgreSQL SQLSTATE classes and codes that go away on their own: connection trouble,
# serialization failures and deadlocks, and a unique key two replicas raced for.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "40", "53", "57P")
_TRANSIENT_SQLSTATES = {"23505", "55P03"}


class TransientError(Exception):
    """Raised by a third party's adapter when the same call may succeed later."""


class Unavailable(TransientError):
    """Raised by after-commit work whose third party cannot be reached at all (the mail server
    is down, the maildir cannot be written): the worker is unready, and the work paused with
    backoff, until a pass gets through (``shared.after_commit``)."""


class PermanentError(Exception):
    """Raised when a message can never succeed as it is; it goes to the parking lot."""


class IllegalTransition(PermanentError):
    """A state machine was asked for a move its table does not allow: a bug, not a message to
    retry (a duplicate or late event is turned away by a guard before it asks)."""


def is_transient(error: BaseException) -> bool:
    if isinstance(error, TransientError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        state = getattr(error.orig, "sqlstate", None)
        if state:
            return state in _TRANSIENT_SQLSTATES or state.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
        if isinstance(error, OperationalError):
            if isinstance(error.orig, sqlite3.Error):
                return "locked" in str(error.orig) or "unable to open" in str(error.orig)
            return True  # no SQLSTATE from a database server: the connection itself failed
        return "UNIQUE constraint failed" in str(error.orig)
    return False
