"""The review's bulk apply as a job: the confirmed decisions, previewed again, applied if same.

A person confirms a bulk preview in the page (or ``pmtools review import FILE --yes``); the job's
params carry the decisions and what that preview showed them (:func:`review_params`, JSON).
The job previews the decisions again on the firm's store and services and applies them only
when the preview is what the person saw — as Sync Now's ``expected=`` does; on a difference it
ends ``refused`` with the words of what changed, having written nothing. The apply itself is
:func:`pmtools.review.apply_preview`: one ``review`` run, undoable, under the intent log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pmtools.core.records import Kind, Side
from pmtools.errors import ConfigError, PlanChanged
from pmtools.review import (
    BulkPreview,
    PreviewItem,
    ReviewDecision,
    Verdict,
    build_queue,
    load_sources,
    preview,
    show_value,
)
from pmtools.store import Store

MAX_NAMED = 5  # differences named in a refusal's message (the rest are counted)


def decision_dicts(decisions: Iterable[ReviewDecision]) -> list[dict[str, Any]]:
    """The decisions as JSON-able dicts (a job's params)."""
    return [
        {
            "kind": str(Kind(d.kind).value),
            "side": str(Side(d.side).value),
            "record_id": str(d.record_id),
            "verdict": str(Verdict(d.verdict).value),
            "link_to": d.link_to,
            "anyway": bool(d.anyway),
            "row": d.row,
        }
        for d in decisions
    ]


def decisions_from(rows: Sequence[dict[str, Any]]) -> list[ReviewDecision]:
    """The decisions back from :func:`decision_dicts`."""
    return [
        ReviewDecision(
            kind=Kind(r["kind"]),
            side=Side(r["side"]),
            record_id=str(r["record_id"]),
            verdict=Verdict(r["verdict"]),
            link_to=r.get("link_to"),
            anyway=bool(r.get("anyway")),
            row=r.get("row"),
        )
        for r in rows
    ]


def item_seen(item: PreviewItem) -> dict[str, Any]:
    """What a person saw of one preview item: the decision, the pair and every write in words."""
    writes = item.writes.writes if item.writes else ()
    return {
        "key": [item.kind.value, item.side.value, item.record_id],
        "name": item.name,
        "verdict": item.verdict.value,
        "liscio_id": item.liscio_id,
        "ipm_key": item.ipm_key,
        "writes": [
            f"{w.side.value} {w.field}: {show_value(w.before)} → {show_value(w.after)}"
            for w in writes
        ],
        "unread": list(item.writes.unread) if item.writes else [],
        "created": [f"{w.field}: {show_value(w.after)}" for w in item.created],
    }


def review_params(decisions: Iterable[ReviewDecision], shown: BulkPreview) -> dict[str, Any]:
    """A ``review`` job's params: the decisions and the preview the person confirmed."""
    return {
        "decisions": decision_dicts(decisions),
        "expected": [item_seen(i) for i in shown.items],
    }


def differences(expected: Sequence[dict[str, Any]], shown: BulkPreview) -> list[str]:
    """What differs between the confirmed preview and ``shown`` (now), record by record."""
    now = {tuple(s["key"]): s for s in (item_seen(i) for i in shown.items)}
    refused = {(r.kind.value, r.side.value, r.record_id): r for r in shown.refused}
    out: list[str] = []
    for seen in expected:
        key = tuple(seen["key"])
        current = now.pop(key, None)
        name = seen["name"]
        if current is None:
            why = refused[key].reason if key in refused else "it is no longer to be decided"
            out.append(f"{name!r}: {why}")
        elif current != seen:
            out.append(f"{name!r}: what it writes changed")
    out += [f"{s['name']!r}: now part of the decisions" for s in now.values()]
    return out


def preview_again(params: dict[str, Any], *, store: Store, liscio: Any, ipm: Any) -> BulkPreview:
    """The job's decisions previewed now; PlanChanged (nothing written) when it is not the one
    the person confirmed."""
    rows = params.get("decisions")
    if not isinstance(rows, list) or not isinstance(params.get("expected"), list):
        raise ConfigError("this review job carries no decisions; preview them again")
    decisions = decisions_from(rows)
    kinds = sorted({d.kind for d in decisions}, key=list(Kind).index) or list(Kind)
    sources = load_sources(store=store, liscio=liscio, ipm=ipm, kinds=kinds)
    shown = preview(decisions, queue=build_queue(sources), sources=sources)
    diff = differences(params["expected"], shown)
    if diff:
        named = "; ".join(diff[:MAX_NAMED])
        more = f" and {len(diff) - MAX_NAMED:,} more" if len(diff) > MAX_NAMED else ""
        raise PlanChanged(
            f"the review changed since the preview was confirmed ({named}{more}); nothing was "
            "written: preview the decisions again",
            plan=shown,
        )
    return shown
