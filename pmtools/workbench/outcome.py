"""What the linking panel says: its targets, a link's writes before it is confirmed, outcomes.

Kept apart from :mod:`pmtools.workbench.linking` (its widgets) so that each stays small; the
review panel shows a queue row's writes with the same :func:`writes_html`.
"""

from __future__ import annotations

from typing import Any

from pmtools.core.plan import DecisionKind
from pmtools.core.records import Record, Side, has_value
from pmtools.workbench.common import esc, html_table, message_html

SIDE_WORDS = {"liscio": "Liscio", "ipm": "IPM"}
NO_TARGET = ""


def _why_html(question: str, text: str, *, open_: bool = False) -> str:
    return (
        f"<details{' open' if open_ else ''}><summary>{esc(question)}</summary>"
        f'<pre style="white-space:pre-wrap">{esc(text)}</pre></details>'
    )


def target_options(suggestions: list[Any]) -> list[tuple[str, str]]:
    """Dropdown options for suggestions: "name — reason (score N)" → id.

    A search hit says only that its name contains the search: its score means nothing to a
    reader.
    """
    from pmtools.analysis.suggest import Reason

    out = []
    for s in suggestions:
        tie = ", tied with another" if getattr(s, "tie", False) else ""
        score = "" if s.reason is Reason.CONTAINS else f" (score {s.score:.0f}{tie})"
        detail = record_detail(getattr(s, "record", None))
        out.append((f"{s.name}{detail} — {s.reason}{score}", s.id))
    return out


def record_detail(record: Record | None) -> str:
    """A few words telling apart records of the same name: " · email · title" or " · phone"."""
    if record is None:
        return ""
    values = [record.email, record.title, record.phone, record.website]
    return "".join(f" · {v}" for v in [str(v) for v in values if has_value(v)][:2])


def preselect(suggestions: list[Any], *, searched: bool = False) -> str:
    """The target to choose for the user, or NO_TARGET when a person must choose.

    Only a sure suggestion is chosen in advance: the best one, not tied, with a reason short
    of a fuzzy likeness (same name but for case, word order, LLC/Inc., same email); or the
    only record a search found. A weak guess left selected is one click from a wrong link.
    """
    from pmtools.analysis.suggest import LEVEL_SCORES

    if not suggestions:
        return NO_TARGET
    best = suggestions[0]
    if searched and len(suggestions) == 1:
        return best.id
    if best.reason in LEVEL_SCORES and not getattr(best, "tie", False):
        return best.id
    return NO_TARGET


def choose_label(count: int, *, searched: bool = False) -> str:
    """The dropdown's first option when nothing is chosen in advance."""
    if count == 0:
        return (
            "(no record found: try another search)"
            if searched
            else "(no suggestions: search for a record below)"
        )
    if count == 1:
        return "(choose a record to link to: 1 suggestion)"
    return f"(choose a record to link to: {count} suggestions, best first)"


def writes_html(writes: Any, doing: str = "Linking", changed: str = "") -> str:
    """A link's writes for a confirmation: each field, side, before → after (escaped)."""
    from pmtools.review import show_value

    head = f"{doing} {writes.liscio_name!r} (Liscio) with {writes.ipm_name!r} (IPM) will " + (
        "write the values below."
        if writes.writes or writes.unread
        else "write nothing: the fields already agree."
    )
    rows = [
        [
            "Liscio" if w.side is Side.LISCIO else "IPM",
            w.field,
            show_value(w.before),
            show_value(w.after),
        ]
        for w in writes.writes
    ]
    rows += [["IPM", f, "(not read yet)", "left to the next Sync Now"] for f in writes.unread]
    note = message_html(changed, "warning") if changed else ""
    return (
        note
        + message_html(head + " Nothing is written until you confirm.")
        + (
            html_table(["Side written", "Field", "Before", "After"], rows, css="pm-link-writes")
            if rows
            else ""
        )
    )


def describe_outcome(outcome: Any, *, headline: bool = True) -> str:
    """What an operation wrote, in words: its message, each field written, its errors.

    ``headline=False`` leaves the operation's own message out (the caller words it).
    """
    parts = [str(getattr(outcome, "message", "") or outcome)] if headline else []
    writes = []
    for c in getattr(outcome, "writes", ()):  # the operation's confirmed field writes
        before = "(empty)" if c.get("before") in (None, "") else f"{c['before']}"
        side = SIDE_WORDS.get(str(c.get("side")), str(c.get("side")))
        writes.append(f"{side} {c.get('field')}: {before} → {c.get('after')}")
    if writes:
        parts.append("Wrote " + "; ".join(writes))
    errors = list(getattr(outcome, "errors", ()) or ())
    if errors:
        parts.append("Errors: " + "; ".join(map(str, errors)))
    elif not writes and getattr(outcome, "command", "") == "link":
        parts.append("No field needed writing")
    return ". ".join(parts) + "." if parts else ""


def _rejected(state: Any, side: Side, record_id: str) -> set[str]:
    """Ids on the other side a person marked "not a match" for the record ``record_id``."""
    out = set()
    for d in getattr(state, "decisions", ()) or ():
        if d.decision is not DecisionKind.NOT_A_MATCH:
            continue
        if side is Side.LISCIO and d.liscio_id == record_id:
            out.add(d.ipm_key)
        elif side is Side.IPM and d.ipm_key == record_id:
            out.add(d.liscio_id)
    return out


def _linked_ids(state: Any, side: Side) -> set[str]:
    links = getattr(state, "links", ()) or ()
    return {(link.liscio_id if side is Side.LISCIO else link.ipm_key) for link in links}
