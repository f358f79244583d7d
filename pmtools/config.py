"""Configuration: where the state file is and how to reach Liscio and IPM.

Settings come from flags, then the environment (``PMTOOLS_*``), then defaults. The defaults
point nowhere: with no URLs configured, ``pmtools app`` starts the bundled simulator and uses
its documented sandbox credentials (``SANDBOX_*`` below), which are not secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pmtools.errors import ConfigError

DEFAULT_STATE = "pmtools-state.sqlite"
KARBON_URL = "https://api.karbonhq.com"

# The simulator accepts these when the PMTOOLS_* credentials are unset. Not secrets.
SANDBOX_LISCIO_TOKEN = "sandbox-liscio-token"
SANDBOX_IPM_TOKEN = "00000000-0000-4000-8000-00000000c0de"
SANDBOX_IPM_ACCESS_KEY = "sandbox-ipm-access-key"

ENV = {
    "state_path": "PMTOOLS_STATE",
    "liscio_url": "PMTOOLS_LISCIO_URL",
    "liscio_token": "PMTOOLS_LISCIO_TOKEN",
    "ipm_url": "PMTOOLS_IPM_URL",
    "ipm_token": "PMTOOLS_IPM_TOKEN",
    "ipm_access_key": "PMTOOLS_IPM_ACCESS_KEY",
}
SECRETS = ("liscio_token", "ipm_token", "ipm_access_key")
LIMITS: dict[str, tuple[str, type]] = {
    "request_deadline": ("PMTOOLS_REQUEST_DEADLINE", float),
    "retry_budget": ("PMTOOLS_RETRY_BUDGET", float),
    "max_pages": ("PMTOOLS_MAX_PAGES", int),
}


def _positive(var: str, raw: str, kind: type) -> float | int:
    """``raw`` as a positive number of ``kind``; ConfigError naming ``var`` otherwise."""
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not value > 0 or value == float("inf"):
        what = "a whole number" if kind is int else "a number of seconds"
        raise ConfigError(f"{var} must be {what} above 0, not {raw[:20]!r}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Where pmtools keeps its state and which services it talks to.

    The secrets are excluded from ``repr`` so that they never reach a log or a traceback.
    """

    state_path: Path = Path(DEFAULT_STATE)
    liscio_url: str | None = None
    liscio_token: str | None = field(default=None, repr=False)
    ipm_url: str | None = None
    ipm_token: str | None = field(default=None, repr=False)
    ipm_access_key: str | None = field(default=None, repr=False)
    ipm_rate_limit: int = 120  # requests a minute, Karbon's limit per firm and application
    # the services are the bundled simulator (``pmtools app`` started it: PMTOOLS_SIMULATOR=1)
    simulator: bool = False
    # the registered firm these settings are for (its slug: see pmtools.store.firms); None:
    # the environment firm, configured by the PMTOOLS_* variables as before firms existed
    firm: str | None = None
    # bounds on what a service's replies may cost (README: "Hostile replies")
    request_deadline: float = 120.0  # seconds for one request, its whole reply included
    retry_budget: float = 900.0  # seconds of waiting for the retries of one request
    max_pages: int = 2000  # pages of one listing (100 records a page)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``environ`` (default ``os.environ``), then non-None ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, var in ENV.items():
            raw = environ.get(var, "").strip()
            if raw:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "state_path" in values:
            values["state_path"] = Path(str(values["state_path"]))
        if environ.get("PMTOOLS_SIMULATOR", "").strip() == "1":
            values.setdefault("simulator", True)
        rate = environ.get("PMTOOLS_IPM_RATE_LIMIT", "").strip()
        if rate and "ipm_rate_limit" not in values:
            try:
                values["ipm_rate_limit"] = int(rate)
            except ValueError:
                raise ConfigError(
                    f"PMTOOLS_IPM_RATE_LIMIT must be a whole number of requests a minute, "
                    f"not {rate!r}"
                ) from None
        for name, (var, kind) in LIMITS.items():
            raw = environ.get(var, "").strip()
            if raw and name not in values:
                values[name] = _positive(var, raw, kind)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def has_services(self) -> bool:
        """True when both services' URLs are configured (real tenants or a running sandbox)."""
        return bool(self.liscio_url and self.ipm_url)

    def with_sandbox(self, base_url: str) -> Settings:
        """These settings pointed at a simulator at ``base_url``, filling unset credentials."""
        base = base_url.rstrip("/")
        return replace(
            self,
            liscio_url=f"{base}/liscio",
            ipm_url=f"{base}/karbon",
            liscio_token=self.liscio_token or SANDBOX_LISCIO_TOKEN,
            ipm_token=self.ipm_token or SANDBOX_IPM_TOKEN,
            ipm_access_key=self.ipm_access_key or SANDBOX_IPM_ACCESS_KEY,
        )

    def require_services(self) -> None:
        """Raise ConfigError naming what is missing to talk to both services."""
        missing = [
            ENV[n]
            for n in ("liscio_url", "liscio_token", "ipm_url", "ipm_token", "ipm_access_key")
            if not getattr(self, n)
        ]
        if missing:
            raise ConfigError(
                "not configured: set "
                + ", ".join(missing)
                + " (or start `pmtools sandbox` and point them at it)"
            )
