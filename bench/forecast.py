"""Forecast benchmark: the forecast of a first Sync Now against the real one, on the simulator.

Everything runs over real HTTP on loopback against the simulator's demo firm, with the real
connectors, engine and SQLite state file. For each run: the tenant check and the forecast
(:func:`pmtools.engine.forecast.forecast_sync`) on one pair of connectors, then a first Sync
Now on fresh ones (as each ``pmtools sync`` has); the simulator counts the requests of each.

- **Unpaced** (no rate limit on either end), at each scale: the forecast with every IPM card
  read (it must equal the sync's requests exactly) and with the default sample of 40 cards
  (its estimate against the sync's requests, and the sync's within its bounds).
- **At Karbon's limit** (120 a minute on both ends), at a small scale: the same, where the
  cards read for planning go stale before their writes (the connector reuses one for two
  minutes), and the time: the forecast's minutes against the sync's measured minutes.

Goals: exact with every card; the sample's estimate within 5%; at the limit the time within
10% (the forecast counts IPM's paced requests only: Liscio's requests and local work add).

Writes ``bench/results/forecast.json`` and ``bench/results/forecast.md``.
Run: ``python -m bench forecast [--scales 1,20] [--real-limit-scale 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pmtools.config import Settings
from pmtools.core.plan import SyncPolicy
from pmtools.engine.forecast import SAMPLE, forecast_sync
from pmtools.engine.sync import run_sync
from pmtools.engine.tenant import connect_checked
from pmtools.sandbox.server import start_sandbox
from pmtools.store import Store

RESULTS = Path(__file__).resolve().parent / "results"
ALL = 10**9  # a sample holding every card
GOAL_SAMPLE = 0.05
GOAL_TIME = 0.10


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One forecast against its first Sync Now."""

    scale: int
    rate: int  # requests a minute, both ends (0: none)
    sample: str  # "every card" or "40 cards"
    forecast_ipm: int
    low: int
    high: int
    sync_ipm: int
    forecast_liscio: int
    sync_liscio: int
    forecast_minutes: float
    sync_minutes: float
    forecast_seconds: float  # how long the forecast itself took
    forecast_requests: int  # IPM requests the forecast itself sent
    by_purpose: str  # the sync's IPM requests by purpose, forecast / sent

    @property
    def error(self) -> float:
        """The forecast's IPM estimate against the sync's count."""
        return abs(self.forecast_ipm - self.sync_ipm) / max(1, self.sync_ipm)

    @property
    def met(self) -> bool:
        """Exact with every card; otherwise within bounds and the sample's goal."""
        if self.sample == "every card":
            ok = self.forecast_ipm == self.sync_ipm and self.forecast_liscio == self.sync_liscio
        else:
            ok = self.low <= self.sync_ipm <= self.high and self.error <= GOAL_SAMPLE
        if self.rate:
            ok = ok and abs(self.forecast_minutes - self.sync_minutes) <= GOAL_TIME * max(
                self.sync_minutes, 1e-9
            )
        return ok


def one(scale: int, rate: int, sample: int) -> Row:
    """A forecast and a first Sync Now of the demo firm at ``scale``, ``rate`` on both ends."""
    with (
        start_sandbox(scale=scale, rate_limit=rate) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        settings = Settings(state_path=Path(tmp) / "state.sqlite", ipm_rate_limit=rate)
        settings = settings.with_sandbox(server.url)
        with Store.open(settings.state_path) as store:
            before = server.stats.snapshot()
            liscio, ipm = connect_checked(settings, store)
            forecast = forecast_sync(
                liscio=liscio,
                ipm=ipm,
                store=store,
                policy=SyncPolicy(),
                rate_limit=rate,
                sample=sample,
            )
            liscio.close(), ipm.close()
            mid = server.stats.snapshot()
            liscio, ipm = connect_checked(settings, store)
            started = time.monotonic()
            run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy())
            minutes = (time.monotonic() - started) / 60
            after = server.stats.snapshot()
            sent = dict(ipm.stats().by_kind)
            liscio.close(), ipm.close()
    told = forecast.ipm.as_dict()
    purposes = ", ".join(
        f"{k} {told[k]:,}/{sent.get(k, 0):,}" for k in ("list", "details", "card", "write")
    )
    return Row(
        scale=scale,
        rate=rate,
        sample="every card" if sample >= ALL else f"{sample} cards",
        forecast_ipm=forecast.ipm.total,
        low=forecast.ipm_low,
        high=forecast.ipm_high,
        sync_ipm=after.get("ipm", 0) - mid.get("ipm", 0),
        forecast_liscio=forecast.liscio.total,
        sync_liscio=after.get("liscio", 0) - mid.get("liscio", 0),
        forecast_minutes=round(forecast.minutes(), 2) if rate else 0.0,
        sync_minutes=round(minutes, 2),
        forecast_seconds=round(forecast.read_seconds, 1),
        forecast_requests=mid.get("ipm", 0) - before.get("ipm", 0),
        by_purpose=purposes,
    )


def to_markdown(rows: list[Row], when: str) -> str:
    """The results as a Markdown page."""
    lines = [
        f"Forecast benchmark ({when}, Python {sys.version.split()[0]}), the simulator's demo "
        "firm over HTTP on loopback.",
        "",
        f"Goals: with every IPM card read the forecast equals the sync's requests; with a sample "
        f"of {SAMPLE} cards the sync's IPM requests lie within the bounds and within "
        f"{GOAL_SAMPLE:.0%} of the estimate; at a rate limit the forecast's minutes within "
        f"{GOAL_TIME:.0%} of the sync's.",
        "",
        "| scale | limit a minute | cards read | IPM forecast (bounds) | IPM sent | error | "
        "Liscio forecast / sent | minutes forecast / measured | IPM by purpose, forecast/sent "
        "| the forecast itself | goal |",
        "|---:|---:|:---|---:|---:|---:|---:|---:|:---|---:|:---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.scale} | {r.rate or 'none'} | {r.sample} | {r.forecast_ipm:,} "
            f"({r.low:,}–{r.high:,}) | {r.sync_ipm:,} | {r.error:.1%} | "
            f"{r.forecast_liscio:,} / {r.sync_liscio:,} | "
            + (f"{r.forecast_minutes} / {r.sync_minutes}" if r.rate else "—")
            + f" | {r.by_purpose} | {r.forecast_requests:,} IPM requests, "
            f"{r.forecast_seconds} s | {'met' if r.met else 'MISSED'} |"
        )
    lines += [
        "",
        "What a forecast cannot see, and so where a run may differ from it: a request sent again "
        "(a 429, a 5xx, a timeout), and a card read for planning that went stale before its "
        "write because the machine was slower than the model (unpaced, the forecast takes every "
        "card as fresh; a sync slowed by a loaded machine reads again those older than two "
        "minutes). The load average during the run is in the JSON file.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 1 when a goal is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench forecast")
    parser.add_argument("--scales", default="1,20")
    parser.add_argument("--real-limit-scale", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for scale in (int(s) for s in args.scales.split(",") if s.strip()):
        rows += [one(scale, 0, ALL), one(scale, 0, SAMPLE)]
    if args.real_limit_scale:
        rows += [one(args.real_limit_scale, 120, ALL), one(args.real_limit_scale, 120, SAMPLE)]
    when = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.mkdir(parents=True, exist_ok=True)
    payload: list[dict[str, Any]] = [asdict(r) | {"error": r.error, "met": r.met} for r in rows]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    (args.out / "forecast.json").write_text(
        json.dumps({"when": when, "load_average": load, "cpus": os.cpu_count(), "rows": payload})
    )
    (args.out / "forecast.md").write_text(to_markdown(rows, when))
    print(to_markdown(rows, when))
    return 0 if all(r.met for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
