"""Redaction: URLs and log lines without user info or secret-looking query values.

dlt sanitises URLs before it logs them; so do we, also over httpx's own log lines.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

SENSITIVE = re.compile(r"token|key|secret|pass|sig|auth|session|jwt", re.IGNORECASE)
_USER_IN_PATH = re.compile(r"^[^/]*@")
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def redact_url(url: str | httpx.URL) -> str:
    """The URL without user info and with sensitive-looking query values masked."""
    try:
        parts = urlsplit(str(url))
    except ValueError:  # not even splittable (a bad IPv6 host): show nothing of it
        return "<unreadable URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    path = parts.path
    if not netloc:  # "host:password@/path", the // forgotten: no netloc, user info in path
        path = _USER_IN_PATH.sub("", path)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if SENSITIVE.search(k) else v) for k, v in pairs], safe="$'(),:@ *"
        )
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (:func:`redact_url`)."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


class _RedactingFilter(logging.Filter):
    """Rewrites a log record's message with its URLs redacted (httpx logs them whole)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is left to logging to report
            return True
        record.msg, record.args = redact_text(message), ()
        return True


_REDACTING = _RedactingFilter()


def redact_httpx_logs() -> None:
    """Make httpx's request log lines (INFO, shown under ``-v``) carry redacted URLs.

    httpx logs ``HTTP Request: GET http://user:secret@host/…?access_key=…``. Called by every
    :class:`HttpClient`, not at import: importing pmtools changes no logging.
    """
    logger = logging.getLogger("httpx")
    if _REDACTING not in logger.filters:
        logger.addFilter(_REDACTING)


def path_of(url: str | httpx.URL) -> str:
    """The path of ``url`` alone (no host, no query): how messages name an endpoint."""
    try:
        return urlsplit(str(url)).path or "/"
    except ValueError:
        return "<unreadable URL>"
