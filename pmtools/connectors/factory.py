"""Build both connectors from :class:`~pmtools.config.Settings`."""

from __future__ import annotations

import httpx

from pmtools.config import Settings
from pmtools.connectors.http import RetryPolicy
from pmtools.connectors.karbon import IpmConnector
from pmtools.connectors.liscio import LiscioConnector


def connect(
    settings: Settings, *, transport: httpx.BaseTransport | None = None, timeout: float = 30.0
) -> tuple[LiscioConnector, IpmConnector]:
    """The Liscio and IPM connectors for ``settings``; ConfigError when something is unset.

    ``transport`` (tests) is used by both; ``timeout`` is seconds per read. The IPM
    connector paces itself to ``settings.ipm_rate_limit`` requests a minute (0 = off). Both
    are bounded by the settings' request deadline, retry budget and page ceiling.
    """
    settings.require_services()
    assert settings.liscio_url and settings.liscio_token  # for type checkers: checked above
    assert settings.ipm_url and settings.ipm_token and settings.ipm_access_key
    bounds = {
        "retry": RetryPolicy(budget=settings.retry_budget),
        "deadline": settings.request_deadline,
        "max_pages": settings.max_pages,
    }
    liscio = LiscioConnector(
        settings.liscio_url, settings.liscio_token, transport=transport, timeout=timeout, **bounds
    )
    ipm = IpmConnector(
        settings.ipm_url,
        settings.ipm_token,
        settings.ipm_access_key,
        transport=transport,
        rate_limit=settings.ipm_rate_limit,
        timeout=timeout,
        **bounds,
    )
    return liscio, ipm
