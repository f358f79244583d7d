"""CLI: ``pmtools sync --forecast`` — what the sync will do and cost, before it runs.

Reads like a dry run (no lock, nothing written anywhere, no run recorded) but without the IPM
cards a dry run reads; exits 0 (the duplicate guard's refusal is told, not raised).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from pmtools.core.plan import SyncPolicy
from pmtools.core.records import Kind
from pmtools.core.text import for_terminal
from pmtools.errors import ConfigError


def cmd_forecast(args: argparse.Namespace) -> int:
    """``pmtools sync --forecast [--kind K] [--min-share R] [--json]``: print the forecast."""
    from pmtools.analysis.forecast_words import forecast_lines
    from pmtools.cli.sync import guarded, settings_from
    from pmtools.engine.forecast import forecast_sync

    if args.dry_run:
        raise ConfigError("--forecast and --dry-run are two different previews: choose one")
    settings = settings_from(args)
    kinds = tuple(Kind) if args.kind == "all" else (Kind(args.kind),)
    policy = SyncPolicy(kinds=kinds, force=args.force)
    if args.min_share is not None:
        policy = dataclasses.replace(policy, preflight_min_ratio=args.min_share)
    store: Any
    with guarded(settings, lock=False) as (store, liscio, ipm):
        forecast = forecast_sync(
            liscio=liscio,
            ipm=ipm,
            store=store,
            policy=policy,
            rate_limit=settings.ipm_rate_limit,
        )
    print(for_terminal("\n".join(forecast_lines(forecast))))
    for message in forecast.unreadable:
        print(for_terminal(f"error: {message}"))
    if args.json:
        print(json.dumps(forecast.as_dict()))
    return 0
