"""The forecast in the page: before a pair of services' first Sync Now, what it will do and cost.

A small widget of its own, mounted in the Sync Now panel: a *Forecast* button shown while no
first sync has been made (no baseline), the forecast read in a background thread like the
preview (:func:`pmtools.engine.forecast.forecast_sync`: the lists and a sample of IPM cards,
nothing written anywhere), then shown as :func:`forecast_html`. The portfolio page can show
a firm's forecast with :func:`forecast_html` or :func:`forecast_text` too.
"""

from __future__ import annotations

import enum
import threading
from typing import Any

import ipywidgets as ipw

from pmtools.analysis.forecast import Forecast
from pmtools.analysis.forecast_words import (
    duration,
    forecast_text,
    rate_words,
    review_words,
    seconds_words,
)
from pmtools.core.plan import SyncPolicy
from pmtools.workbench.common import Context, button, esc, html_table, message_html

__all__ = ["ForecastBox", "ForecastState", "forecast_html", "forecast_text"]


class ForecastState(str, enum.Enum):
    """Where the forecast box is; the state alone decides what it shows."""

    HIDDEN = "hidden"  # the first sync is made: no forecast offered
    IDLE = "idle"  # the Forecast button, nothing read yet
    RUNNING = "running"  # the forecast is being read
    SHOWN = "shown"  # a forecast is shown
    FAILED = "failed"  # reading it failed: the message says why

    def __str__(self) -> str:
        return self.value


def forecast_html(forecast: Forecast) -> str:
    """The forecast as escaped HTML: the paragraph, counts by kind, requests, time, review."""
    kinds = forecast.kinds
    rows = [
        ["Records in Liscio / IPM", *(f"{k.liscio_records:,} / {k.ipm_records:,}" for k in kinds)],
        ["Will link (exact, unique name)", *(f"{k.will_link:,}" for k in kinds)],
        [
            "Ambiguous (Liscio / IPM)",
            *(f"{k.ambiguous_liscio:,} / {k.ambiguous_ipm:,}" for k in kinds),
        ],
        ["Only in Liscio (stay unmatched)", *(f"{k.unmatched_liscio:,}" for k in kinds)],
        ["Only in IPM (Create in Liscio)", *(f"{k.unmatched_ipm:,}" for k in kinds)],
        ["Fields written to IPM", *(_est(k.ipm_fields, k.addresses_unread) for k in kinds)],
        ["Empty Liscio fields filled", *(_est(k.liscio_fields, k.addresses_unread) for k in kinds)],
        ["Record errors", *(f"{k.record_errors:,}" for k in kinds)],
    ]
    if any(k.created_in_ipm for k in kinds):
        rows.insert(5, ["Created in IPM", *(f"{k.created_in_ipm:,}" for k in kinds)])
    ipm, lis = forecast.ipm, forecast.liscio
    requests = [
        ["IPM", *_purposes(ipm), _range(ipm.total, forecast.ipm_low, forecast.ipm_high)],
        ["Liscio", *_purposes(lis), _range(lis.total, forecast.liscio_low, forecast.liscio_high)],
    ]
    time = f"{duration(forecast.minutes())} {rate_words(forecast)}"
    if forecast.ipm_low != forecast.ipm_high:
        low = duration(forecast.minutes(forecast.ipm_low), about=False)
        high = duration(forecast.minutes(forecast.ipm_high), about=False)
        if low != high:
            time += f" (between {low} and {high})"
    own = (
        f"The forecast itself sent {forecast.read_ipm:,} IPM and {forecast.read_liscio:,} Liscio "
        f"requests and took {seconds_words(forecast.read_seconds)}; nothing was written."
    )
    parts = [
        f'<p class="pm-forecast-text">{esc(forecast_text(forecast))}</p>',
        html_table(["", *(f"{k.kind}" for k in kinds)], rows, css="pm-forecast-kinds"),
        html_table(
            [
                "Requests",
                "checks",
                "list pages",
                "cards to plan",
                "cards before a write",
                "writes",
                "creates",
                "total",
            ],
            requests,
            css="pm-forecast-requests",
        ),
        f'<p class="pm-forecast-time"><b>Time:</b> {esc(time)}. Liscio publishes no rate '
        "limit: its requests are not in the time.</p>",
        message_html(review_words(forecast), "info"),
        f"<p><small>{esc(own)}</small></p>",
    ]
    if forecast.unreadable:
        parts.append(
            html_table(
                ["Records that cannot be read"],
                [[m] for m in forecast.unreadable[:100]],
                css="pm-forecast-errors",
            )
        )
    if forecast.preflight:
        parts.insert(
            1,
            message_html(
                "The duplicate guard will refuse this first sync unless overridden: "
                + forecast.preflight,
                "warning",
            ),
        )
    return "".join(parts)


def _est(value: int, unread: int) -> str:
    return f"about {value:,}" if unread else f"{value:,}"


def _range(value: int, low: int, high: int) -> str:
    return f"{value:,}" if low == high else f"about {value:,} ({low:,} to {high:,})"


def _purposes(r: Any) -> list[str]:
    return [f"{n:,}" for n in (r.check, r.list, r.details, r.card, r.write, r.create)]


class ForecastBox(ipw.VBox):
    """The *Forecast* button and its result, offered until the first Sync Now is made."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.button = button(
            "Forecast",
            "pm-forecast",
            icon="line-chart",
            tooltip="What the first sync will link, leave for review and send, and how long "
            "it takes; nothing is written",
        )
        self.status = ipw.HTML()
        self.status.add_class("pm-forecast-status")
        self.output = ipw.HTML()
        self.output.add_class("pm-forecast-output")
        self.button.on_click(lambda _b: self.start())
        ctx.freezable(self.button)
        ctx.on_change(lambda _what: self.refresh())
        self.state = ForecastState.IDLE
        self.forecast: Forecast | None = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        super().__init__([self.button, self.status, self.output])
        self.add_class("pm-forecast-box")
        self.refresh()

    def first_sync_due(self) -> bool:
        """True while no first Sync Now was made (the store holds no baseline)."""
        return self.ctx.session.store.baseline() is None

    def refresh(self) -> None:
        """Offer the forecast only before the first sync (a sync may just have made it)."""
        if not self.first_sync_due():
            self._enter(ForecastState.HIDDEN)
        elif self.state is ForecastState.HIDDEN:  # a disconnect: offered again
            self._enter(ForecastState.IDLE)

    def _enter(self, state: ForecastState) -> None:
        self.state = state
        self.layout.display = "none" if state is ForecastState.HIDDEN else ""
        if state is ForecastState.HIDDEN:
            self.output.value = self.status.value = ""

    def start(self) -> bool:
        """Read the forecast in the background; False when another action runs."""
        if not self.ctx.acquire():
            self.status.value = message_html(
                "Another action is running; wait for it to finish.", "warning"
            )
            return False
        self._enter(ForecastState.RUNNING)
        self.forecast, self.error = None, None
        self.output.value = ""
        self.status.value = message_html(
            "Forecasting: reading both lists and a few IPM cards (nothing is written)…", "info"
        )
        self.ctx.log.add("Forecast started")
        self.thread = threading.Thread(target=self._run, name="pmtools-forecast", daemon=True)
        self.thread.start()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running forecast to end; True when it has ended."""
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return True

    def _run(self) -> None:
        from pmtools.engine.forecast import forecast_sync

        s = self.ctx.session
        try:
            with s.lock:  # the tenant guard: both services are this state file's firm
                self.forecast = forecast_sync(
                    liscio=s.liscio,
                    ipm=s.ipm,
                    store=s.store,
                    policy=SyncPolicy(),
                    rate_limit=s.settings.ipm_rate_limit,
                )
            self.output.value = forecast_html(self.forecast)
            self.status.value = ""
            self._enter(ForecastState.SHOWN)
            self.ctx.log.add("Forecast: " + forecast_text(self.forecast))
        except Exception as exc:  # a thread must report everything it meets
            self.error = exc
            self._enter(ForecastState.FAILED)
            self.ctx.report(exc, "the forecast", self.status)
        finally:
            self.ctx.release()
