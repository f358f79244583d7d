"""Record errors in words for firm staff: which record (by name), what went wrong, what to do.

A connector's error text is for logs ("Liscio PATCH <url> → 400 [email_in_use]: …"); the run's
error list, ``pmtools report --errors`` and the app show :func:`record_error_text` instead: no
ids, methods, URLs or status codes. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pmtools.records import FieldValue, Kind, Side

__all__ = ["api_reason", "record_error_text", "record_words"]

_API_PART = re.compile(r"→ \d{3}(?: \[[^\]]*\])?: (.*)$", re.S)
_URL = re.compile(r"\bhttps?://\S+")
_USED_BY = re.compile(r"already used by (\S+)")  # the simulator's and Liscio's email_in_use text
_VERBS = {"write": "write", "create": "create", "link": "link", "orphan": "mark as orphaned"}


def record_words(side: Side | None, kind: Kind, name: str | None) -> str:
    """"Liscio contact 'Ann Lee'" / "IPM organization 'Acme LLC'"."""
    if side is Side.IPM:
        noun = "organization" if kind is Kind.ACCOUNTS else "person"
        system = "IPM"
    else:
        noun = "account" if kind is Kind.ACCOUNTS else "contact"
        system = "Liscio"
    return f"{system} {noun} {name!r}" if name else f"a {system} {noun}"


def api_reason(text: str) -> str:
    """The service's own reason from a connector error text, without method, URL or status."""
    found = _API_PART.search(text)
    reason = found.group(1) if found else text
    reason = _URL.sub("", reason).strip().rstrip(".")
    return reason or "the service refused it"


def record_error_text(message: str, *, code: str | None, kind: Kind, op: str,
                      side: Side | None, liscio_name: str | None, ipm_name: str | None,
                      values: Mapping[str, FieldValue] | None = None,
                      names: Mapping[tuple[Side, Kind, str], str] | None = None) -> str:
    """One sentence for people: the record by name, what went wrong, and what to do."""
    names = names or {}
    name = ipm_name if side is Side.IPM else (liscio_name or ipm_name)
    target = record_words(side or Side.LISCIO, kind, name)
    partner = ""
    if liscio_name and ipm_name:
        other = Side.LISCIO if side is Side.IPM else Side.IPM
        other_name = ipm_name if other is Side.IPM else liscio_name
        partner = f" (linked with {record_words(other, kind, other_name)})"
    if code == "email_in_use" or "already used by" in message and "email" in message:
        owner_id = (_USED_BY.search(message) or [None, ""])[1].rstrip(".,;")
        owner = names.get((side or Side.LISCIO, kind, owner_id))
        email = (values or {}).get("email")
        whom = record_words(side or Side.LISCIO, kind, owner) if owner else \
            f"another {record_words(side or Side.LISCIO, kind, None)[2:]}"
        what = f"the email {email}" if email else "this email"
        return (f"Could not write {what} to {target}{partner}: it is already used by {whom}. "
                f"Decide which of the two it belongs to, give the other one its own email (in "
                f"Liscio, or in IPM if IPM's is wrong), then run Sync Now again.")
    if op == "link" and liscio_name and ipm_name:
        target = (f"{record_words(Side.LISCIO, kind, liscio_name)} with "
                  f"{record_words(Side.IPM, kind, ipm_name)}")
        partner = ""
    verb = _VERBS.get(op, op)
    fields = f" ({', '.join(values)})" if values else ""
    system = "IPM" if side is Side.IPM else "Liscio"
    return (f"Could not {verb} {target}{partner}{fields}: {api_reason(message)}. Check the "
            f"record in {system}, then run Sync Now again: it retries what failed.")
