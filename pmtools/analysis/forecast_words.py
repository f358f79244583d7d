"""A :class:`~pmtools.analysis.forecast.Forecast` in words a specialist reads. Pure.

:func:`forecast_text` is one paragraph (the app, the portfolio page); :func:`forecast_lines` the
CLI's lines (``pmtools sync --forecast``): counts by kind, the requests of each service, the
time at the firm's IPM rate limit, and what to review before syncing. No record text appears
here (only counts), so nothing needs escaping but what callers add.
"""

from __future__ import annotations

from pmtools.analysis.forecast import Forecast, KindForecast
from pmtools.core.records import Kind

_LISCIO_WORD = {Kind.ACCOUNTS: "Liscio accounts", Kind.CONTACTS: "Liscio contacts"}
_IPM_WORD = {Kind.ACCOUNTS: "IPM organizations", Kind.CONTACTS: "IPM people"}


def duration(minutes: float, *, about: bool = True) -> str:
    """``minutes`` as "about 2 h 15 min", "about 45 min" or "under a minute"."""
    if minutes < 1:
        return "under a minute"
    hours, mins = divmod(round(minutes), 60)
    text = (f"{hours} h {mins} min" if mins else f"{hours} h") if hours else f"{mins} min"
    return f"about {text}" if about else text


def seconds_words(seconds: float) -> str:
    """A short duration: "12 s", "3 min 5 s"."""
    whole = max(0, round(seconds))
    mins, secs = divmod(whole, 60)
    return f"{mins} min {secs} s" if mins else f"{secs} s"


def _about(value: int, low: int, high: int) -> str:
    """``value`` with its bounds when they differ: "about 16,200 (15,900 to 16,500)"."""
    if low == high:
        return f"{value:,}"
    return f"about {value:,} ({low:,} to {high:,})"


def rate_words(forecast: Forecast) -> str:
    """The rate the time is told at, in words."""
    if forecast.rate_limit:
        return f"at {forecast.rate_limit:,} IPM requests a minute"
    return (
        f"at Karbon's {forecast.rate:,} requests a minute (no IPM rate limit is set for this "
        "firm: it may run faster)"
    )


def _kind_line(k: KindForecast) -> str:
    ambiguous = k.ambiguous_liscio + k.ambiguous_ipm
    parts = [
        f"{k.liscio_records:,} {_LISCIO_WORD[k.kind]} and {k.ipm_records:,} {_IPM_WORD[k.kind]}",
        f"{k.will_link:,} pairs will link (exact, unique name)",
        f"{ambiguous:,} ambiguous"
        + (f" ({k.ambiguous_liscio:,} in Liscio, {k.ambiguous_ipm:,} in IPM)" if ambiguous else ""),
        f"{k.unmatched_liscio:,} {_LISCIO_WORD[k.kind]} and {k.unmatched_ipm:,} "
        f"{_IPM_WORD[k.kind]} unmatched",
    ]
    if k.created_in_ipm:
        parts.append(f"{k.created_in_ipm:,} created in IPM")
    fields = (
        f"{'about ' if k.addresses_unread else ''}{k.ipm_fields:,} fields written to IPM and "
        f"{k.liscio_fields:,} filled in Liscio"
    )
    if k.addresses_unread:
        fields += (
            f" ({k.addresses_unread:,} organizations' addresses estimated from a sample of "
            "their IPM cards)"
        )
    parts.append(fields)
    if k.record_errors:
        parts.append(f"{k.record_errors:,} record errors")
    return f"{k.kind}: " + "; ".join(parts) + "."


def review_words(forecast: Forecast) -> str:
    """What a person should review before syncing, in one sentence."""
    ambiguous = sum(k.ambiguous_liscio + k.ambiguous_ipm for k in forecast.kinds)
    liscio_only = sum(k.unmatched_liscio for k in forecast.kinds)
    ipm_only = sum(k.unmatched_ipm for k in forecast.kinds)
    errors = sum(k.record_errors for k in forecast.kinds)
    items = []
    if ambiguous:
        items.append(f"{ambiguous:,} ambiguous records (a name shared by several: link by hand)")
    if liscio_only:
        then = (
            "they stay unlinked: link them by hand or Create in IPM"
            if forecast.first_sync
            else "new ones are created in IPM"
        )
        items.append(f"{liscio_only:,} Liscio records with no IPM match ({then})")
    if ipm_only:
        items.append(f"{ipm_only:,} IPM records with no Liscio match (Create in Liscio)")
    if errors:
        items.append(f"{errors:,} records that cannot be synced as they are (record errors)")
    if not items:
        return "Nothing needs review before syncing."
    return "Review before syncing: " + "; ".join(items) + "."


def forecast_lines(forecast: Forecast) -> list[str]:
    """The forecast as the CLI prints it, one line a topic."""
    what = "the first Sync Now" if forecast.first_sync else "the next Sync Now"
    lines = [f"Forecast of {what} (nothing was written):"]
    lines += [_kind_line(k) for k in forecast.kinds]
    ipm, lis = forecast.ipm, forecast.liscio
    lines.append(
        "IPM requests: "
        + _about(ipm.total, forecast.ipm_low, forecast.ipm_high)
        + f" — {ipm.check} tenant check, {ipm.list:,} list pages, {ipm.details:,} cards read "
        f"to plan, {ipm.card:,} cards read before a write, {ipm.write:,} writes, "
        f"{ipm.create:,} creates."
    )
    lines.append(
        "Liscio requests: "
        + _about(lis.total, forecast.liscio_low, forecast.liscio_high)
        + f" — {lis.check} firm check, {lis.list:,} list pages, {lis.write:,} writes, "
        f"{lis.create:,} creates. Liscio publishes no rate limit: its requests are not in the "
        "time below."
    )
    time = f"Time: {duration(forecast.minutes())} {rate_words(forecast)}"
    if forecast.ipm_low != forecast.ipm_high:
        low = duration(forecast.minutes(forecast.ipm_low), about=False)
        high = duration(forecast.minutes(forecast.ipm_high), about=False)
        time += f" (between {low} and {high})" if low != high else ""
    lines.append(time + ".")
    lines.append(
        f"The forecast itself sent {forecast.read_ipm:,} IPM and {forecast.read_liscio:,} "
        f"Liscio requests ({duration(forecast.minutes(forecast.read_ipm))} of IPM's limit) "
        f"and took {seconds_words(forecast.read_seconds)}"
        + (f", reading {forecast.sampled:,} IPM cards as a sample" if forecast.sampled else "")
        + "."
    )
    lines.append(review_words(forecast))
    if forecast.preflight:
        lines.append(
            "The duplicate guard will refuse this first sync unless forced: " + forecast.preflight
        )
    return lines


def forecast_text(forecast: Forecast) -> str:
    """The forecast in one paragraph: links, what needs review, requests and time."""
    what = "The first Sync Now" if forecast.first_sync else "The next Sync Now"
    links = ", ".join(f"{k.will_link:,} {k.kind}" for k in forecast.kinds)
    ambiguous = sum(k.ambiguous_liscio + k.ambiguous_ipm for k in forecast.kinds)
    unmatched_l = sum(k.unmatched_liscio for k in forecast.kinds)
    unmatched_i = sum(k.unmatched_ipm for k in forecast.kinds)
    linked = sum(k.will_link for k in forecast.kinds)
    text = (
        f"{what} will link {linked:,} pairs ({links}); {ambiguous:,} records are ambiguous and "
        f"{unmatched_l + unmatched_i:,} unmatched ({unmatched_l:,} in Liscio, "
        f"{unmatched_i:,} in IPM) for a person to review. It needs "
        f"{_about(forecast.ipm.total, forecast.ipm_low, forecast.ipm_high)} IPM requests — "
        f"{duration(forecast.minutes())} {rate_words(forecast)} — and "
        f"{_about(forecast.liscio.total, forecast.liscio_low, forecast.liscio_high)} Liscio "
        "requests (Liscio publishes no rate limit)."
    )
    if forecast.preflight:
        text += (
            " The duplicate guard will refuse it unless forced: Liscio holds far fewer "
            "records than IPM."
        )
    return text


__all__ = [
    "duration",
    "forecast_lines",
    "forecast_text",
    "rate_words",
    "review_words",
    "seconds_words",
]
