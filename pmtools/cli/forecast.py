"""CLI: ``pmtools sync --forecast`` — what the sync will do and cost, before it runs.

Reads like a dry run (no lock, nothing written anywhere, no run recorded) but without the IPM
cards a dry run reads; exits 0 (the duplicate guard's refusal is told, not raised).
"""

from __future__ import annotations

import json
from typing import Any

from pmtools.config import Settings
from pmtools.core.plan import SyncPolicy
from pmtools.core.text import for_terminal


def print_forecast(settings: Settings, policy: SyncPolicy, *, as_json: bool) -> int:
    """Forecast a Sync Now with ``policy`` and print it (``as_json``: one JSON object last)."""
    from pmtools.analysis.forecast_words import forecast_lines
    from pmtools.cli.sync import guarded
    from pmtools.engine.forecast import forecast_sync

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
    if as_json:
        print(json.dumps(forecast.as_dict()))
    return 0
