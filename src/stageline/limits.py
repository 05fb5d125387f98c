"""How much text stageline takes from a person, in one place.

A note or reason is stored in the audit log for good and shown on every page and report
that lists it, so each is capped where it comes in (the CLI, the dashboard's form, the
API, the pipeline file), before anything is stored: :func:`check_length` raises
:class:`~stageline.errors.TooLong`, naming the cap. The dashboard also refuses any
request body over :data:`REQUEST_BODY_LIMIT` before reading it whole.
"""

from __future__ import annotations

from stageline.errors import TooLong

#: an approval note or a rejection reason (``approve --note``, ``reject --reason``, the
#: dashboard's form, the API)
NOTE_LIMIT = 2_000
#: a reason written in the pipeline file (a freeze window's, a waiver's)
REASON_LIMIT = 500
#: the largest request body the dashboard reads (a sign-off form with the longest note,
#: percent-encoded, fits many times over)
REQUEST_BODY_LIMIT = 64 * 1024


def check_length(what: str, text: str, limit: int = NOTE_LIMIT) -> str:
    """``text`` unchanged if it is at most ``limit`` characters; else :class:`TooLong`."""
    if len(text) > limit:
        raise TooLong(what, len(text), limit)
    return text
