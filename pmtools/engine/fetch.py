"""Fetch: complete records of both sides for the planner, the reports and the workbench.

One job: pull Liscio's and IPM's records of a kind and load the IPM details the caller needs
(an organization's address is on its business card, one rate-limited request each), reusing
what the state store kept where it is still good.

IPM pulls are incremental after the first sync: records modified since the last pull's
high-water mark (minus :data:`OVERLAP`, for clock skew and same-second edits) are merged into
the cached IPM records. Loaded details are kept too, and reused while the record's
LastModifiedDateTime is unchanged. Both rest on an undocumented Karbon behaviour (a card edit
moves its owner's modification time), and an incremental pull cannot see a record deleted in
IPM's web app (the API has no delete): so every kind gets a full pull, and its details are
loaded afresh, at least every :data:`FULL_PULL_EVERY`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable
from datetime import timedelta

from pmtools.connectors.base import Connector
from pmtools.core.records import FieldValue, Kind, Record, Side
from pmtools.core.timestamps import is_before, minus, now_iso, parse
from pmtools.store import Store

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)
# Incremental pulls and cached details rest on an undocumented Karbon behaviour (a business
# card edit moves its owner's LastModifiedDateTime) and cannot see a record deleted in IPM's web
# app: a full pull at least this often bounds both.
FULL_PULL_EVERY = timedelta(days=1)
DETAILS_BATCH = 25  # IPM details loaded (and kept) between two cancel checks / progress reports

BatchDone = Callable[[int, int], None]  # after each batch: (read so far, to read)


def pull_ipm(
    ipm: Connector, store: Store, kind: Kind, *, full: bool, save: bool
) -> tuple[list[Record], bool]:
    """IPM records of ``kind``: a full pull, or the cache merged with what changed since.

    Returns the records and whether every record was pulled. ``save`` keeps the pull in the
    store (records, high-water mark, time of the last full pull); a dry run does not.
    """
    mark = store.high_water(kind)
    last_full = store.last_full_pull(kind)
    full = full or not last_full or is_before(last_full, minus(now_iso(), FULL_PULL_EVERY))
    cached = store.cached_records(kind) if not full and mark else []
    everything = full or not mark or not cached
    if everything:
        fresh = list(ipm.iter_records(kind))
        merged = {r.id: r for r in fresh}
    else:
        assert mark is not None  # not everything: there is a mark
        fresh = list(ipm.iter_records(kind, modified_since=minus(mark, OVERLAP)))
        merged = {r.id: r for r in cached}
        merged.update((r.id, r) for r in fresh)
    if save:
        store.cache_records(kind, fresh, replace_all=everything)
        if everything:
            store.set_full_pull(kind, now_iso())
        newest = max((r.modified_at for r in fresh if r.modified_at), default=None, key=parse)
        if newest and (not mark or is_before(mark, newest)):
            store.set_high_water(kind, newest)
    return list(merged.values()), everything


def cached_details(
    store: Store, kind: Kind, rows: list[Record], fresh_after: str | None
) -> dict[str, Record]:
    """Details loaded earlier for ``rows`` that are still good: the record was not modified
    since (same LastModifiedDateTime) and they were loaded after ``fresh_after`` (None: none
    are good, as on a full pull)."""
    if fresh_after is None or not rows:
        return {}
    cached = store.cached_details(kind, (r.id for r in rows))
    good = {}
    for row in rows:
        hit = cached.get(row.id)
        if (
            hit
            and row.modified_at
            and hit[0].modified_at == row.modified_at
            and not is_before(hit[1], fresh_after)
        ):
            good[row.id] = hit[0]
    return good


def load_details(
    ipm: Connector,
    kind: Kind,
    records: list[Record],
    *,
    store: Store | None,
    wanted: Collection[str] | None = None,
    reuse: bool = True,
    save: bool = True,
    on_batch: BatchDone | None = None,
    cancel: threading.Event | None = None,
) -> list[Record]:
    """``records`` with the IPM details of those in ``wanted`` (None: all) loaded.

    Details the store kept are reused when ``reuse`` and still good (loaded within
    :data:`FULL_PULL_EVERY`, record unchanged since); the others are read in batches of
    :data:`DETAILS_BATCH`, each kept in the store as soon as it is read when ``save`` (so a
    cut-off run keeps its reads). A set ``cancel`` stops between batches: the records not read
    are returned as they were.
    """
    todo = [r for r in records if not r.details_complete and (wanted is None or r.id in wanted)]
    loaded: dict[str, Record] = {}
    if store is not None and reuse and todo:
        loaded = cached_details(store, kind, todo, fresh_after=minus(now_iso(), FULL_PULL_EVERY))
        todo = [r for r in todo if r.id not in loaded]
    log.info("IPM %s: %d details reused, %d to load", kind.ipm_name, len(loaded), len(todo))
    for start in range(0, len(todo), DETAILS_BATCH):  # each is a rate-limited request
        if cancel is not None and cancel.is_set():
            break
        batch = ipm.load_details(kind, todo[start : start + DETAILS_BATCH])
        loaded.update((r.id, r) for r in batch)
        if store is not None and save:
            store.cache_details(kind, [r for r in batch if r.details_complete])
        if on_batch is not None:
            on_batch(min(start + DETAILS_BATCH, len(todo)), len(todo))
    return [loaded.get(r.id, r) for r in records]


def keep_written(store: Store, run_id: int, kinds: Iterable[Kind]) -> None:
    """After run ``run_id``: the IPM records it wrote have their details loaded afresh next
    time, and the cached list rows hold the values it wrote.

    An incremental pull refreshes a record only when its LastModifiedDateTime moves, which
    Karbon does not document for a card edit; were it not to move, the next run would plan the
    same write again.
    """
    for kind in kinds:
        writes = store.changes(run_id=run_id, op="write", kind=kind, side=Side.IPM)
        store.forget_details(kind, {c["ipm_key"] for c in writes})
        values: dict[str, dict[str, FieldValue]] = {}
        for c in writes:
            if c["status"] == "confirmed":
                values.setdefault(c["ipm_key"], {})[c["field"]] = c["after"]
        if values:
            store.cache_records(
                kind,
                [r.with_fields(values[r.id]) for r in store.cached_records(kind) if r.id in values],
            )


def fetch_records(
    kind: Kind | str,
    *,
    liscio: Connector,
    ipm: Connector,
    store: Store | None = None,
    fresh: bool = False,
    progress: BatchDone | None = None,
    cancel: threading.Event | None = None,
) -> tuple[list[Record], list[Record]]:
    """Both sides' current records of ``kind``, every IPM detail (address) loaded.

    For the reports. With a ``store`` and not ``fresh``, a card the last sync (or report)
    loaded is reused by the sync's own rule (see :func:`load_details`); the cards read are
    kept for the next sync or report. ``fresh`` (or no store) reads every card.
    ``progress(done, total)`` after each batch of cards; a set ``cancel`` stops reading them
    (the rest stay unloaded).
    """
    kind = Kind(kind)
    lis = list(liscio.iter_records(kind))
    ipm_recs = list(ipm.iter_records(kind))
    return lis, load_details(
        ipm, kind, ipm_recs, store=store, reuse=not fresh, on_batch=progress, cancel=cancel
    )


__all__ = [
    "DETAILS_BATCH",
    "FULL_PULL_EVERY",
    "OVERLAP",
    "cached_details",
    "fetch_records",
    "keep_written",
    "load_details",
    "pull_ipm",
]
