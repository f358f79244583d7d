"""The forecast of a Sync Now: read what a dry run reads, but not the IPM cards; count the rest.

A dry run reads one IPM business card per organization it will link (their addresses are not
in the list rows): at scale 20 that is thousands of rate-limited requests, most of the
sync's reading. The forecast reads the lists only (what Sync Now's fetch reads anyway, through
the same :func:`pmtools.engine.sync._fetch`), plans with the same planner, reads the cards of an
evenly spread sample of the organizations whose address the sync compares, and counts the rest
(:mod:`pmtools.analysis.forecast`).

Like a dry run it takes no lock and writes nothing: no run row, no baseline, no cache, nothing
to Liscio or IPM.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from pmtools.analysis.forecast import CARD_TTL, KARBON_RATE, Forecast, count_forecast, pages
from pmtools.analysis.forecast import undecided_keys as _undecided_keys
from pmtools.connectors.base import Connector
from pmtools.core.plan import SyncPolicy
from pmtools.core.records import Record, Side
from pmtools.engine.apply import Progress
from pmtools.engine.fetch import load_details
from pmtools.engine.sync import _fetch, _plan
from pmtools.store import Store

log = logging.getLogger(__name__)

SAMPLE = 40  # cards read to estimate the others: 20 seconds at Karbon's 120 a minute


def forecast_sync(
    *,
    liscio: Connector,
    ipm: Connector,
    store: Store,
    policy: SyncPolicy,
    rate_limit: int = KARBON_RATE,
    sample: int = SAMPLE,
    card_ttl: float = CARD_TTL,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Forecast:
    """The :class:`Forecast` of a Sync Now with ``policy`` (see the module docstring).

    ``rate_limit``: the firm's IPM requests a minute (the time is told at it); ``sample``:
    IPM cards read at most to estimate the addresses of the others (0: none, bounds only);
    ``card_ttl``: the IPM connector's card reuse window. Its duplicate guard is told in the
    forecast, never raised.
    """
    report: Progress = progress or (lambda *_: None)
    started = time.monotonic()
    told = dataclasses.replace(policy, force=True)  # the forecast tells the guard's refusal
    inputs = _fetch(
        liscio=liscio,
        ipm=ipm,
        store=store,
        policy=told,
        run_id=None,
        progress=report,
        cancel=cancel,
        full=False,
        details=False,
    )
    plan = _plan(inputs, policy=told, progress=report, expected=None)
    keys = _undecided_keys(plan)
    # evenly spread over the plan's order (the names'), the same every time
    picked = keys if len(keys) <= sample else [keys[i * len(keys) // sample] for i in range(sample)]
    sampled: dict[str, Record] = {}
    if picked:
        report("linking", 0, len(picked), f"reading a sample of {len(picked)} IPM cards")
        wanted = set(picked)
        for kind in policy.kinds:
            rows = [r for r in inputs.ipm.get(kind, []) if r.id in wanted]
            loaded = load_details(ipm, kind, rows, store=None, save=False, cancel=cancel)
            sampled.update((r.id, r) for r in loaded if r.details_complete)
    forecast = count_forecast(
        plan,
        inputs.records(),
        listed=inputs.listed,
        policy=policy,
        sampled=sampled,
        rate_limit=rate_limit,
        card_ttl=card_ttl,
        unreadable=[(u.kind, u.message()) for u in inputs.unreadable],
    )
    read_ipm = (
        1
        + len(picked)
        + sum(pages(n) for (side, _k), n in inputs.listed.items() if side is Side.IPM)
    )
    read_liscio = 1 + sum(
        pages(n) for (side, _k), n in inputs.listed.items() if side is Side.LISCIO
    )
    report("linking", 1, 1, "forecast ready: nothing written")
    seconds = time.monotonic() - started
    log.info(
        "forecast: %d IPM and %d Liscio requests for the sync; it read %d and %d in %.1f s",
        forecast.ipm.total,
        forecast.liscio.total,
        read_ipm,
        read_liscio,
        seconds,
    )
    return dataclasses.replace(
        forecast, read_ipm=read_ipm, read_liscio=read_liscio, read_seconds=seconds
    )


__all__ = ["SAMPLE", "forecast_sync"]
