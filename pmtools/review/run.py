"""Applying a bulk preview: exactly what it accepted, as one run (command ``review``).

Not-a-match decisions are stored first (each with its audit row), then the links and creates
go through :func:`pmtools.apply.apply_plan` — the intent log of every sync — so the run is
interrupt-safe, listed by ``pmtools runs`` and undone by ``pmtools undo``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

from pmtools.plan import COUNT_KEYS, DecisionKind, Plan, SyncPolicy
from pmtools.records import Kind, Side
from pmtools.review.bulk import (
    RULE,
    BulkPreview,
    BulkResult,
    PreviewItem,
    Progress,
    Refusal,
    Verdict,
)

log = logging.getLogger(__name__)

__all__ = ["apply_preview"]


def apply_preview(shown: BulkPreview, *, store, liscio, ipm, started_by: str,
                  progress: Progress | None = None, cancel: threading.Event | None = None,
                  lock_timeout: float = 0.0) -> BulkResult:
    """Apply exactly what ``shown`` accepted, as one run (command ``review``).

    Holds the state file's lock. An item whose records were linked (or decided not a match)
    since the preview is refused, not applied. Not-a-match decisions are stored first, then the
    links and creates go through :func:`pmtools.apply.apply_plan` (progress ``linking``,
    ``cancel`` checked between steps). Raises a ConnectorError when a service failed (the run is
    recorded as stopped; what was applied stays applied and is listed by ``pmtools runs``).
    """
    from pmtools.apply import apply_plan, reconcile

    kinds = tuple(k for k in Kind if any(i.kind is k for i in shown.items)) or tuple(Kind)
    with store.lock(timeout=lock_timeout, by=started_by):
        store.mark_interrupted_runs()
        run_id = store.start_run(command="review", started_by=started_by, kinds=kinds,
                                 policy=SyncPolicy(kinds=kinds))
        try:
            reconcile(liscio=liscio, ipm=ipm, store=store, run_id=run_id)
            items, late = _still_open(shown.items, store, shown.names)
            counts = dict.fromkeys(COUNT_KEYS, 0)
            counts["not_a_match"] = 0
            outcome, error, errors = "done", None, ()
            marks = [i for i in items if i.verdict is Verdict.NOT_A_MATCH]
            for n, item in enumerate(marks):
                if cancel is not None and cancel.is_set():
                    outcome = "cancelled"
                    break
                _store_not_a_match(store, run_id, item, shown.names)
                counts["not_a_match"] += 1
                if progress is not None:
                    progress("linking", n + 1, len(marks), "not a match")
            if outcome != "cancelled":
                for item in items:
                    if item.verdict is Verdict.LINK:  # a person's link overrides an earlier "no"
                        for decision in DecisionKind:
                            store.remove_decision(item.kind, item.liscio_id, item.ipm_key,
                                                  decision)
                actions = tuple(a for i in items for a in i.actions)
                result = apply_plan(Plan(actions=actions, policy=SyncPolicy(kinds=kinds)),
                                    liscio=liscio, ipm=ipm, store=store, run_id=run_id,
                                    progress=progress, cancel=cancel, names=shown.names)
                for key in ("linked", "created_in_ipm", "created_in_liscio",
                            "ipm_fields_written", "liscio_fields_filled", "errors"):
                    counts[key] = result.counts.get(key, 0)
                outcome, error, errors = result.outcome, result.error, result.errors
            for kind in kinds:  # written IPM records are read afresh next time
                written = {c["ipm_key"] for c in store.changes(run_id=run_id, op="write")
                           if c["side"] == str(Side.IPM) and c["kind"] == str(kind)}
                store.forget_details(kind, written)
            message = _message(counts, late, error)
            store.finish_run(run_id, outcome=outcome if error is None else "stopped",
                             counts=counts, message=message)
        except BaseException as exc:
            store.finish_run(run_id, outcome="stopped", message=str(exc) or type(exc).__name__)
            raise
    if error is not None:
        raise error
    log.info("review run %s %s: %s", run_id, outcome, message)
    return BulkResult(run_id=run_id, counts=counts, outcome=outcome, errors=tuple(errors),
                      refused=tuple(late), message=message)


def _still_open(items: Sequence[PreviewItem], store,
                names: Mapping[tuple[Side, Kind, str], str]
                ) -> tuple[list[PreviewItem], list[Refusal]]:
    """The items whose records are still undecided; the others as refusals."""
    kept, late = [], []
    links = {(link.kind, Side.LISCIO, link.liscio_id) for link in store.links()}
    links |= {(link.kind, Side.IPM, link.ipm_key) for link in store.links()}
    for item in items:
        touched = [(item.kind, Side.LISCIO, item.liscio_id), (item.kind, Side.IPM, item.ipm_key)]
        if item.verdict is Verdict.NOT_A_MATCH:
            touched = []  # a decision about a pair, whatever else happened
        if any(t[2] and t in links for t in touched):
            late.append(Refusal(kind=item.kind, side=item.side, record_id=item.record_id,
                                name=item.name, verdict=str(item.verdict), row=item.row,
                                reason="decided since the preview (now linked): left alone"))
        else:
            kept.append(item)
    return kept, late


def _store_not_a_match(store, run_id: int, item: PreviewItem,
                       names: Mapping[tuple[Side, Kind, str], str]) -> None:
    from pmtools.store import ChangeIntent

    assert item.liscio_id and item.ipm_key
    store.add_decision(item.kind, item.liscio_id, item.ipm_key, DecisionKind.NOT_A_MATCH,
                       run_id=run_id, audit=ChangeIntent(
                           kind=item.kind, op="not_a_match", liscio_id=item.liscio_id,
                           ipm_key=item.ipm_key,
                           liscio_name=names.get((Side.LISCIO, item.kind, item.liscio_id)),
                           ipm_name=names.get((Side.IPM, item.kind, item.ipm_key)),
                           rule=f"{RULE}: not a match"))


def _message(counts: Mapping[str, int], late: Sequence[Refusal], error) -> str:
    text = (f"{counts['linked']:,} linked, {counts['created_in_ipm']:,} created in IPM, "
            f"{counts['created_in_liscio']:,} created in Liscio, {counts['not_a_match']:,} not "
            f"a match, {counts['ipm_fields_written'] + counts['liscio_fields_filled']:,} field "
            f"writes")
    if late:
        text += f"; {len(late):,} left alone (decided since the preview)"
    if error is not None:
        text += f"; stopped: {error}"
    return text
