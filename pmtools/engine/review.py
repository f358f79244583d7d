"""The review's reads and writes: what it is built from, the IPM cards it needs, and applying
a bulk preview as one run.

What is decided and shown is pure (:mod:`pmtools.analysis.review`); this module is the part
that talks to the store and the services. IPM's records are the list rows the last Sync Now
cached (reading IPM's lists again would take minutes at 120 requests a minute), with the cards
it loaded where still current, and the records pmtools created in IPM since (from the audit
trail, with the fields they were created with); before any Sync Now they are listed from IPM.
Cards are read through :func:`pmtools.engine.fetch.load_details`, Sync Now's own rule for
reusing and keeping them.

A bulk preview is applied exactly as accepted, as one run (command ``review``): not-a-match
decisions are stored first (each with its audit row), then the links and creates go through
:func:`pmtools.engine.apply.apply_plan` — the intent log of every sync — so the run is
interrupt-safe, listed by ``pmtools runs`` and undone by ``pmtools undo``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from pmtools.analysis.review.bulk import (
    BulkPreview,
    BulkResult,
    PreviewItem,
    Progress,
    Refusal,
    Verdict,
)
from pmtools.analysis.review.queue import KindRecords
from pmtools.analysis.review.writes import PairWrites, pair_writes
from pmtools.connectors.base import Connector
from pmtools.core.plan import COUNT_KEYS, DecisionKind, Plan, SyncPolicy
from pmtools.core.records import Kind, Record, Side
from pmtools.core.rulebook import Rule
from pmtools.engine.fetch import keep_written, load_details
from pmtools.store import ChangeIntent, Store

log = logging.getLogger(__name__)

__all__ = [
    "apply_preview",
    "ipm_records",
    "link_preview",
    "load_card",
    "load_cards",
    "load_sources",
    "with_cards",
]


def load_sources(
    *, store: Store, liscio: Connector, ipm: Connector, kinds: Iterable[Kind] = tuple(Kind)
) -> list[KindRecords]:
    """The records of both sides and the state of each kind in ``kinds``."""
    kinds = [Kind(k) for k in kinds]
    state = store.state(kinds)
    liscio_records = {k: tuple(liscio.iter_records(k)) for k in kinds}
    accounts: dict[str, str] = {}
    if Kind.CONTACTS in kinds:
        rows = liscio_records.get(Kind.ACCOUNTS) or tuple(liscio.iter_records(Kind.ACCOUNTS))
        accounts = {r.id: r.name for r in rows}
    out = []
    for kind in kinds:
        out.append(
            KindRecords(
                kind=kind,
                liscio=liscio_records[kind],
                ipm=tuple(
                    ipm_records(kind, store=store, ipm=ipm, liscio_records=liscio_records[kind])
                ),
                state=state,
                accounts=accounts,
            )
        )
    return out


def ipm_records(
    kind: Kind, *, store: Store, ipm: Connector, liscio_records: Sequence[Record] = ()
) -> list[Record]:
    """IPM records of ``kind`` as pmtools last saw them (see the module doc)."""
    rows = list(store.cached_records(kind)) or list(ipm.iter_records(kind))
    by_id = {r.id: r for r in rows}
    for cached_key, (record, _at) in store.cached_details(kind, list(by_id)).items():
        if record.modified_at == by_id[cached_key].modified_at:
            by_id[cached_key] = record
    sources = {r.id: r for r in liscio_records}
    for c in store.changes(op="create", status="confirmed", kind=kind, side=Side.IPM):
        key = c.get("ipm_key")
        if not key or key in by_id:
            continue
        source = sources.get(c.get("liscio_id") or "")
        if source is not None:  # the created record copied its Liscio source
            by_id[key] = replace(
                source,
                side=Side.IPM,
                id=key,
                archived=False,
                account_ids=(),
                external_id=c.get("external_id"),
            )
        else:
            by_id[key] = Record(side=Side.IPM, kind=kind, id=key, name=c.get("after") or key)
    return list(by_id.values())


def with_cards(source: KindRecords, cards: Iterable[Record]) -> KindRecords:
    """``source`` with IPM records replaced by the same records with their cards loaded."""
    loaded = {r.id: r for r in cards if r.side is Side.IPM and r.kind is source.kind}
    if not loaded:
        return source
    return KindRecords(
        kind=source.kind,
        liscio=source.liscio,
        ipm=tuple(loaded.get(r.id, r) for r in source.ipm),
        state=source.state,
        accounts=source.accounts,
    )


def load_card(kind: Kind, record: Record, *, ipm: Connector, store: Store | None = None) -> Record:
    """``record`` (an IPM record) with its details loaded: one request when they are missing.

    A card Sync Now read, still current, costs no request; a card read is kept in the state
    file's details cache (``store``), as Sync Now keeps the cards it reads.
    """
    if record.details_complete:
        return record
    (fresh,) = load_details(ipm, Kind(kind), [record], store=store)
    return fresh


def load_cards(
    kind: Kind,
    records: Sequence[Record],
    *,
    ipm: Connector,
    store: Store | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Record]:
    """The IPM ``records`` lacking details, with their cards read (one request each).

    For a bulk preview whose IPM fields are "not read yet": returns key → loaded record (pass
    them to :func:`with_cards` and preview again). ``progress(done, total)`` after each batch;
    ``cancel`` stops between batches (what was read is returned).
    """
    todo = list(
        {r.id: r for r in records if r.side is Side.IPM and not r.details_complete}.values()
    )
    loaded = load_details(ipm, Kind(kind), todo, store=store, on_batch=progress, cancel=cancel)
    return {r.id: r for r in loaded if r.details_complete}


def link_preview(
    kind: Kind, liscio_id: str, ipm_key: str, *, liscio: Connector, ipm: Connector
) -> PairWrites:
    """The writes a manual link would make, from fresh reads of both records.

    Raises ConfigError when either record does not exist. Pass the result to
    ``operations.link(..., expected=...)`` to apply exactly these writes.
    """
    from pmtools.engine.operations import read_record

    kind = Kind(kind)
    left = read_record(liscio, kind, liscio_id)
    right = read_record(ipm, kind, ipm_key)
    return pair_writes(kind, left, right)


def apply_preview(
    shown: BulkPreview,
    *,
    store: Store,
    liscio: Connector,
    ipm: Connector,
    started_by: str,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    lock_timeout: float = 0.0,
) -> BulkResult:
    """Apply exactly what ``shown`` accepted, as one run (command ``review``).

    Holds the state file's lock. An item whose records were linked (or decided not a match)
    since the preview is refused, not applied. Not-a-match decisions are stored first, then the
    links and creates go through :func:`pmtools.engine.apply.apply_plan` (progress ``linking``,
    ``cancel`` checked between steps). Raises a ConnectorError when a service failed (the run is
    recorded as stopped; what was applied stays applied and is listed by ``pmtools runs``).
    """
    from pmtools.engine.apply import apply_plan, reconcile

    kinds = tuple(k for k in Kind if any(i.kind is k for i in shown.items)) or tuple(Kind)
    with store.lock(timeout=lock_timeout, by=started_by):
        store.mark_interrupted_runs()
        run_id = store.start_run(
            command="review", started_by=started_by, kinds=kinds, policy=SyncPolicy(kinds=kinds)
        )
        try:
            reconcile(liscio=liscio, ipm=ipm, store=store, run_id=run_id)
            items, late = _still_open(shown.items, store, shown.names)
            counts = dict.fromkeys(COUNT_KEYS, 0)
            counts["not_a_match"] = 0
            outcome: str = "done"
            error: Exception | None = None
            errors: tuple[str, ...] = ()
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
                    if item.verdict is Verdict.LINK and item.liscio_id and item.ipm_key:
                        for decision in DecisionKind:  # a person's link overrides a "no"
                            store.remove_decision(item.kind, item.liscio_id, item.ipm_key, decision)
                actions = tuple(a for i in items for a in i.actions)
                result = apply_plan(
                    Plan(actions=actions, policy=SyncPolicy(kinds=kinds)),
                    liscio=liscio,
                    ipm=ipm,
                    store=store,
                    run_id=run_id,
                    progress=progress,
                    cancel=cancel,
                    names=shown.names,
                )
                for key in (
                    "linked",
                    "created_in_ipm",
                    "created_in_liscio",
                    "ipm_fields_written",
                    "liscio_fields_filled",
                    "errors",
                ):
                    counts[key] = result.counts.get(key, 0)
                outcome, error, errors = result.outcome, result.error, result.errors
            keep_written(store, run_id, kinds)
            message = _message(counts, late, error)
            store.finish_run(
                run_id,
                outcome=outcome if error is None else "stopped",
                counts=counts,
                message=message,
            )
        except BaseException as exc:
            store.finish_run(run_id, outcome="stopped", message=str(exc) or type(exc).__name__)
            raise
    if error is not None:
        raise error
    log.info("review run %s %s: %s", run_id, outcome, message)
    return BulkResult(
        run_id=run_id,
        counts=counts,
        outcome=outcome,
        errors=tuple(errors),
        refused=tuple(late),
        message=message,
    )


def _still_open(
    items: Sequence[PreviewItem], store: Store, names: Mapping[tuple[Side, Kind, str], str]
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
            late.append(
                Refusal(
                    kind=item.kind,
                    side=item.side,
                    record_id=item.record_id,
                    name=item.name,
                    verdict=str(item.verdict),
                    row=item.row,
                    reason="decided since the preview (now linked): left alone",
                )
            )
        else:
            kept.append(item)
    return kept, late


def _store_not_a_match(
    store: Store, run_id: int, item: PreviewItem, names: Mapping[tuple[Side, Kind, str], str]
) -> None:
    assert item.liscio_id and item.ipm_key
    store.add_decision(
        item.kind,
        item.liscio_id,
        item.ipm_key,
        DecisionKind.NOT_A_MATCH,
        run_id=run_id,
        audit=ChangeIntent(
            kind=item.kind,
            op="not_a_match",
            liscio_id=item.liscio_id,
            ipm_key=item.ipm_key,
            liscio_name=names.get((Side.LISCIO, item.kind, item.liscio_id)),
            ipm_name=names.get((Side.IPM, item.kind, item.ipm_key)),
            rule=Rule.REVIEW_NOT_A_MATCH,
        ),
    )


def _message(counts: Mapping[str, int], late: Sequence[Refusal], error: Exception | None) -> str:
    text = (
        f"{counts['linked']:,} linked, {counts['created_in_ipm']:,} created in IPM, "
        f"{counts['created_in_liscio']:,} created in Liscio, {counts['not_a_match']:,} not "
        f"a match, {counts['ipm_fields_written'] + counts['liscio_fields_filled']:,} field "
        f"writes"
    )
    if late:
        text += f"; {len(late):,} left alone (decided since the preview)"
    if error is not None:
        text += f"; stopped: {error}"
    return text
