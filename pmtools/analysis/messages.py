"""Record errors in words for firm staff: which record (by name), what went wrong, what to do.

A connector's error text is for logs ("Liscio PATCH <url> → 400 [email_in_use]: …"); the run's
error list, ``pmtools report --errors`` and the app show :func:`record_error_text` instead: no
ids, methods, URLs or status codes. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pmtools.core.records import FieldValue, Kind, Side
from pmtools.errors import AuthError, ConnectorError, MalformedReply, ServiceError

__all__ = ["api_reason", "record_error_text", "record_words", "service_error_text"]

_API_PART = re.compile(r"→ \d{3}(?: \[[^\]]*\])?: (.*)$", re.S)
_URL = re.compile(r"\bhttps?://\S+")
_USED_BY = re.compile(r"already used by (\S+)")  # the simulator's and Liscio's email_in_use text
_VERBS = {"write": "write", "create": "create", "link": "link", "orphan": "mark as orphaned"}


def record_words(side: Side | None, kind: Kind, name: str | None) -> str:
    """ "Liscio contact 'Ann Lee'" / "IPM organization 'Acme LLC'"."""
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


def record_error_text(
    message: str,
    *,
    code: str | None,
    kind: Kind,
    op: str,
    side: Side | None,
    liscio_name: str | None,
    ipm_name: str | None,
    values: Mapping[str, FieldValue] | None = None,
    names: Mapping[tuple[Side, Kind, str], str] | None = None,
) -> str:
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
        whom = (
            record_words(side or Side.LISCIO, kind, owner)
            if owner
            else f"another {record_words(side or Side.LISCIO, kind, None)[2:]}"
        )
        what = f"the email {email}" if email else "this email"
        return (
            f"Could not write {what} to {target}{partner}: it is already used by {whom}. "
            f"Decide which of the two it belongs to, give the other one its own email (in "
            f"Liscio, or in IPM if IPM's is wrong), then run Sync Now again."
        )
    if op == "link" and liscio_name and ipm_name:
        target = (
            f"{record_words(Side.LISCIO, kind, liscio_name)} with "
            f"{record_words(Side.IPM, kind, ipm_name)}"
        )
        partner = ""
    verb = _VERBS.get(op, op)
    fields = f" ({', '.join(values)})" if values else ""
    system = "IPM" if side is Side.IPM else "Liscio"
    return (
        f"Could not {verb} {target}{partner}{fields}: {api_reason(message)}. Check the "
        f"record in {system}, then run Sync Now again: it retries what failed."
    )


_SETTINGS = {
    "liscio": ("PMTOOLS_LISCIO_URL", "PMTOOLS_LISCIO_TOKEN"),
    "ipm": ("PMTOOLS_IPM_URL", "PMTOOLS_IPM_TOKEN and PMTOOLS_IPM_ACCESS_KEY"),
}
_TRANSPORT = re.compile(r"failed \((\w+): ")
_TRANSPORT_WORDS = {
    "ConnectError": "the connection was refused or the address is unknown",
    "ConnectTimeout": "it did not answer in time",
    "ReadTimeout": "it did not answer in time",
    "WriteTimeout": "it did not answer in time",
    "PoolTimeout": "it did not answer in time",
    "RemoteProtocolError": "it closed the connection",
}


def service_error_text(exc: ConnectorError, *, firm: str | None = None) -> str:
    """A failure that stopped a command, for a person: which service, what happened in words,
    what to do — no URL, method or retry count (those are in the log with ``-v``).

    ``firm``: the registered firm the command ran for (its settings are in the registry, not
    the ``PMTOOLS_*`` variables)."""
    system = {"liscio": "Liscio", "ipm": "IPM"}.get(exc.side, "A service")
    url_var, secret_vars = _SETTINGS.get(exc.side, ("the service URL", "the credentials"))
    if firm is not None:
        url_var = f"the {system} URL of the firm {firm!r} (`pmtools firm show`)"
        secret_vars = f"the keys of the firm {firm!r} (`pmtools firm add --update`)"
    if isinstance(exc, AuthError):
        why = f"{exc.status}: {api_reason(str(exc))}" if exc.status else api_reason(str(exc))
        return (
            f"{system} refused pmtools' credentials ({why}) — check the credentials in "
            f"{secret_vars}, then run the command again"
        )
    if isinstance(exc, MalformedReply) or not isinstance(exc, ServiceError):
        return str(exc)
    found = _TRANSPORT.search(str(exc))
    if exc.status is None and found:
        what = _TRANSPORT_WORDS.get(found.group(1), "the connection failed")
        return (
            f"could not reach {system}: {what} — check {url_var} and that {system} is "
            f"up, then run the same command again: it goes on where it stopped"
        )
    if exc.status == 429:
        return (
            f"{system} still limits pmtools' requests after waiting — run the same "
            f"command again later: it goes on where it stopped"
        )
    if exc.status is not None and exc.status >= 500:
        return (
            f"{system} is failing ({exc.status}: {api_reason(str(exc))}) even after "
            f"retries — run the same command again later: it goes on where it stopped"
        )
    return str(exc)
