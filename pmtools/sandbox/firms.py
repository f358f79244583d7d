"""Many simulated firms on one port: ``pmtools sandbox --firms N``.

Firm 0 is served where a one-firm simulator serves (``/karbon``, ``/liscio``) and also under
``/firms/0/``; firm *i* under ``/firms/<i>/karbon`` and ``/firms/<i>/liscio``. Each firm is a
whole simulator of its own: its own records and identity (IPM ``TenantKey``, Liscio firm), its
own request counters, faults generator and IPM rate-limit window (Karbon limits per tenant and
application, so one busy firm never slows another). A firm is built on its first request, in a
worker thread so that the other firms keep being served meanwhile: a thousand small firms cost
only what is asked of them.

Firm *i* uses seed ``seed + i``; a dataset that is not generated from the seed (``empty``, a
JSON file or a dict) is copied to every firm, each with an identity of its own.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from pmtools.sandbox.app import Credentials, build_app
from pmtools.sandbox.dataset import identity, load_dataset, populate
from pmtools.sandbox.faults import FaultSpec, Receive, Scope, Send, ServiceGuard, Stats
from pmtools.sandbox.state import SandboxState
from pmtools.sandbox.variants import KarbonVariants

SEEDED = frozenset({"demo", "small"})  # datasets generated from the seed: distinct per firm


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmSettings:
    """What every simulated firm of one simulator shares (firm *i* adds ``i`` to the seed)."""

    dataset: str | dict[str, Any] = "demo"
    seed: int = 1
    scale: int = 1
    rate_limit: int = 120
    latency_ms: int = 0
    hang_seconds: float = 35.0
    db: Path | None = None
    credentials: Credentials | None = None
    variants: KarbonVariants = field(default_factory=KarbonVariants)


@dataclass(slots=True, kw_only=True)
class SimulatedFirm:
    """One firm of the simulator: its records, its counters, its ASGI app and guards."""

    index: int
    seed: int
    state: SandboxState
    stats: Stats
    app: Starlette
    guards: tuple[ServiceGuard, ...]


def firm_db(db: Path | None, index: int) -> Path | None:
    """Firm ``index``'s database file next to ``db`` (firm 0 keeps ``db`` itself)."""
    if db is None or index == 0:
        return db
    return db.with_name(f"{db.stem}.firm{index}{db.suffix}")


def firm_dataset(settings: FirmSettings, index: int) -> dict[str, Any]:
    """Firm ``index``'s dataset: generated from ``seed + index``, or a copy with its own
    identity when the dataset does not come from the seed."""
    seed = settings.seed + index
    spec = settings.dataset
    if isinstance(spec, dict):
        data: dict[str, Any] = json.loads(json.dumps(spec))
    else:
        data = load_dataset(spec, seed=seed, scale=settings.scale)
    if index and not (isinstance(spec, str) and spec in SEEDED):
        base = (data.get("tenant") or {}).get("TenantKey") or "dataset"
        tenant, firm = identity(f"{base}/firm-{index}")
        data["tenant"] = {**(data.get("tenant") or {}), "TenantKey": tenant["TenantKey"]}
        data["firm"] = firm
    return data


def make_firm(settings: FirmSettings, index: int, faults: FaultSpec) -> SimulatedFirm:
    """Build firm ``index``: its state (loaded with its dataset when new), counters and app."""
    seed = settings.seed + index
    state = SandboxState(db=firm_db(settings.db, index), seed=seed)
    try:
        if state.is_empty():
            populate(state, firm_dataset(settings, index))
        stats = Stats()
        app = build_app(
            state,
            credentials=settings.credentials,
            rate_limit=settings.rate_limit,
            latency_ms=settings.latency_ms,
            faults=faults,
            seed=seed,
            hang_seconds=settings.hang_seconds,
            stats=stats,
            variants=settings.variants,
        )
    except BaseException:
        state.close()
        raise
    return SimulatedFirm(
        index=index, seed=seed, state=state, stats=stats, app=app, guards=app.state.guards
    )


class SimulatedFirms:
    """The ``count`` firms of one simulator, each built on first use (thread-safe)."""

    def __init__(
        self,
        count: int,
        *,
        first: SimulatedFirm,
        build: Callable[[int, FaultSpec], SimulatedFirm],
        faults: FaultSpec,
    ) -> None:
        if count < 1:
            raise ValueError("a simulator serves at least one firm")
        self.count = count
        self.faults = faults
        self._build = build
        self._firms: dict[int, SimulatedFirm] = {0: first}
        self._lock = threading.Lock()

    def get(self, index: int) -> SimulatedFirm:
        """Firm ``index``, built now if this is its first use."""
        if not 0 <= index < self.count:
            raise IndexError(f"firm {index}: this simulator serves firms 0 to {self.count - 1}")
        found = self._firms.get(index)
        if found is not None:
            return found
        with self._lock:
            found = self._firms.get(index)
            if found is None:
                found = self._build(index, self.faults)
                self._firms[index] = found
            return found

    def built_firm(self, index: int) -> SimulatedFirm | None:
        """Firm ``index`` if it is built, else None (never builds)."""
        return self._firms.get(index)

    def built(self) -> list[SimulatedFirm]:
        """The firms built so far, by index."""
        with self._lock:
            return [self._firms[i] for i in sorted(self._firms)]

    def set_faults(self, faults: FaultSpec) -> None:
        """Inject ``faults`` from now on, in every firm (those built later too)."""
        with self._lock:
            self.faults = faults
            for firm in self._firms.values():
                for guard in firm.guards:
                    guard.faults = faults

    def close(self) -> None:
        """Close every firm's database file."""
        for firm in self.built():
            firm.state.close()


class FirmsRouter:
    """ASGI app mounted at ``/firms/{firm:int}``: hands the request to that firm's app."""

    def __init__(self, firms: SimulatedFirms) -> None:
        self.firms = firms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        index = int(scope.get("path_params", {}).get("firm", -1))
        if not 0 <= index < self.firms.count:
            body = json.dumps(
                {"error": {"code": "not_found", "message": f"No simulated firm {index}."}}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        firm = self.firms.built_firm(index)
        if firm is None:  # building generates its records: off the loop, others keep answering
            firm = await asyncio.to_thread(self.firms.get, index)
        await firm.app(scope, receive, send)


def build_firms_app(firms: SimulatedFirms) -> Starlette:
    """The simulator's app for many firms: ``/firms/<i>/…`` and firm 0 at the top."""
    return Starlette(
        routes=[
            Mount("/firms/{firm:int}", app=FirmsRouter(firms)),
            Mount("", app=firms.get(0).app),
        ]
    )
