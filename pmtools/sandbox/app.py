"""The simulator as one ASGI app: Karbon v3 under ``/karbon``, Liscio under ``/liscio``."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.routing import Mount

from pmtools import config
from pmtools.sandbox.faults import FaultSpec, RateLimiter, ServiceGuard, Stats
from pmtools.sandbox.karbon import build_karbon_app
from pmtools.sandbox.liscio import build_liscio_app
from pmtools.sandbox.state import SandboxState
from pmtools.sandbox.variants import KarbonVariants


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """The credentials the simulator accepts; anything else is answered 401."""

    liscio_token: str = field(default=config.SANDBOX_LISCIO_TOKEN, repr=False)
    ipm_token: str = field(default=config.SANDBOX_IPM_TOKEN, repr=False)
    ipm_access_key: str = field(default=config.SANDBOX_IPM_ACCESS_KEY, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """``PMTOOLS_LISCIO_TOKEN``, ``PMTOOLS_IPM_TOKEN``, ``PMTOOLS_IPM_ACCESS_KEY``, or the
        documented ``pmtools.config.SANDBOX_*`` defaults where unset."""
        env = os.environ if environ is None else environ
        return cls(
            liscio_token=env.get("PMTOOLS_LISCIO_TOKEN", "").strip() or config.SANDBOX_LISCIO_TOKEN,
            ipm_token=env.get("PMTOOLS_IPM_TOKEN", "").strip() or config.SANDBOX_IPM_TOKEN,
            ipm_access_key=env.get("PMTOOLS_IPM_ACCESS_KEY", "").strip()
            or config.SANDBOX_IPM_ACCESS_KEY,
        )


def build_app(
    state: SandboxState,
    *,
    credentials: Credentials | None = None,
    rate_limit: int = 120,
    latency_ms: int = 0,
    faults: FaultSpec | None = None,
    seed: int = 1,
    hang_seconds: float = 35.0,
    stats: Stats | None = None,
    variants: KarbonVariants | None = None,
) -> Starlette:
    """The whole simulator over ``state``; ``rate_limit`` is IPM requests a minute (0 = off);
    ``variants`` play undocumented Karbon behaviours the other way."""
    creds = credentials or Credentials.from_env()
    faults = faults or FaultSpec()
    stats = stats or Stats()
    rng = random.Random(f"pmtools-sandbox-faults-{seed}")
    ipm = ServiceGuard(
        build_karbon_app(state, variants),
        side="ipm",
        credentials={
            "authorization": f"Bearer {creds.ipm_token}",
            "accesskey": creds.ipm_access_key,
        },
        limiter=RateLimiter(rate_limit) if rate_limit > 0 else None,
        faults=faults,
        rng=rng,
        latency_ms=latency_ms,
        hang_seconds=hang_seconds,
        stats=stats,
    )
    liscio = ServiceGuard(
        build_liscio_app(state),
        side="liscio",
        credentials={"authorization": f"Bearer {creds.liscio_token}"},
        limiter=None,
        faults=faults,
        rng=rng,
        latency_ms=latency_ms,
        hang_seconds=hang_seconds,
        stats=stats,
    )
    app = Starlette(routes=[Mount("/karbon", app=ipm), Mount("/liscio", app=liscio)])
    app.state.guards = (ipm, liscio)
    return app
