"""Running the simulator: in a background thread for tests, benchmarks and ``pmtools app``,
or in the foreground for ``pmtools sandbox``."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn

from pmtools.sandbox.app import Credentials
from pmtools.sandbox.dataset import load_dataset
from pmtools.sandbox.faults import FaultSpec, Stats, WriteHold, quiet_dropped_connections
from pmtools.sandbox.firms import FirmSettings, SimulatedFirms, build_firms_app, make_firm
from pmtools.sandbox.state import SandboxState
from pmtools.sandbox.variants import KarbonVariants

log = logging.getLogger(__name__)


class SandboxServer:
    """A simulator running on a loopback port in a background thread.

    ``url`` is the base URL (IPM at ``url + "/karbon"``, Liscio at ``url + "/liscio"``);
    ``state`` is the live :class:`SandboxState` (assert on it in tests); ``stats`` counts
    requests by side and outcome. Both are firm 0's; with several firms, :meth:`firm_urls`,
    :meth:`firm_state` and :meth:`firm_stats` name the others. Use as a context manager, or
    call :meth:`stop`.
    """

    def __init__(
        self, *, firms: SimulatedFirms, server: uvicorn.Server, sock: socket.socket
    ) -> None:
        self.firms = firms
        first = firms.get(0)
        self.state, self.stats = first.state, first.stats
        self._guards = first.guards
        self._server, self._sock = server, sock
        host, port = sock.getsockname()[:2]
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._run, name=f"pmtools-sandbox-{port}", daemon=True
        )
        self._error: BaseException | None = None

    @property
    def ipm_url(self) -> str:
        """The IPM (Karbon) base URL."""
        return f"{self.url}/karbon"

    @property
    def liscio_url(self) -> str:
        """The Liscio base URL."""
        return f"{self.url}/liscio"

    def firm_urls(self, index: int) -> tuple[str, str]:
        """Firm ``index``'s (IPM URL, Liscio URL); firm 0's are :attr:`ipm_url` and
        :attr:`liscio_url`."""
        if not 0 <= index < self.firms.count:
            raise IndexError(
                f"firm {index}: this simulator serves firms 0 to {self.firms.count - 1}"
            )
        if index == 0:
            return self.ipm_url, self.liscio_url
        return f"{self.url}/firms/{index}/karbon", f"{self.url}/firms/{index}/liscio"

    def firm_state(self, index: int) -> SandboxState:
        """Firm ``index``'s live records (built now if it has not been asked for yet)."""
        return self.firms.get(index).state

    def firm_stats(self, index: int) -> Stats:
        """Firm ``index``'s request counters."""
        return self.firms.get(index).stats

    def set_faults(self, faults: str | FaultSpec | None) -> None:
        """Inject these faults from now on (None or "" for none), on both services of every
        firm."""
        spec = faults if isinstance(faults, FaultSpec) else FaultSpec.parse(faults)
        self.firms.set_faults(spec)

    def hold_write(self, at: int, *, commit: bool) -> WriteHold:
        """Hold firm 0's ``at``-th write request from now on, over both services (see
        WriteHold)."""
        hold = WriteHold(at=at, commit=commit)
        for guard in self._guards:
            guard.hold = hold
        return hold

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # reported by start(); a thread cannot raise
            self._error = exc

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Start serving; returns when the port accepts requests."""
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"the simulator did not start: {self._error!r}")
            if waited > timeout:
                raise RuntimeError("the simulator did not start in time")
            self._thread.join(0.02)
            waited += 0.02
        return self

    def stop(self) -> None:
        """Stop serving and close the state's database file."""
        self._server.should_exit = True
        for guard in self._guards:  # a held request must not keep the server from stopping
            if guard.hold is not None:
                guard.hold.release()
        self._thread.join(timeout=10)
        self._sock.close()
        self.firms.close()

    def is_running(self) -> bool:
        """True while the server thread serves."""
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the server stops (or ``timeout`` seconds pass)."""
        self._thread.join(timeout)

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_sandbox(
    *,
    dataset: str | dict[str, Any] = "demo",
    seed: int = 1,
    scale: int = 1,
    rate_limit: int = 120,
    latency_ms: int = 0,
    faults: str | FaultSpec | None = None,
    db: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    hang_seconds: float = 35.0,
    credentials: Credentials | None = None,
    variants: str | KarbonVariants | None = None,
    firms: int = 1,
) -> SandboxServer:
    """Start the simulator in a background thread and return it, serving.

    ``dataset``: ``"demo"``, ``"small"``, ``"empty"``, a JSON file path, or a dataset dict.
    With ``db``, a database that already holds records is served as it is (the dataset is only
    loaded into a new, empty database). ``port=0`` picks a free port. ``credentials`` default
    to the ``PMTOOLS_*`` environment, then the documented sandbox values. ``variants`` (e.g.
    ``"card-edit-keeps-time"``) play undocumented Karbon behaviours the other way. ``firms``
    serves that many firms (:mod:`pmtools.sandbox.firms`; :meth:`SandboxServer.firm_urls`),
    each built on its first request; ``rate_limit`` is then each firm's own.
    """
    if firms < 1:
        raise ValueError("firms must be at least 1")
    spec = faults if isinstance(faults, FaultSpec) else FaultSpec.parse(faults)
    quirks = variants if isinstance(variants, KarbonVariants) else KarbonVariants.parse(variants)
    if firms > 1 and isinstance(dataset, str) and dataset not in ("demo", "small", "empty"):
        load_dataset(dataset)  # a bad file is refused at start, not on a firm's first request
    settings = FirmSettings(
        dataset=dataset,
        seed=seed,
        scale=scale,
        rate_limit=rate_limit,
        latency_ms=latency_ms,
        hang_seconds=hang_seconds,
        db=Path(db) if db is not None else None,
        credentials=credentials or Credentials.from_env(),
        variants=quirks,
    )
    first = make_firm(settings, 0, spec)
    many = SimulatedFirms(
        firms, first=first, build=lambda i, f: make_firm(settings, i, f), faults=spec
    )
    try:
        app = first.app if firms == 1 else build_firms_app(many)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it
        sock.bind((host, port))
    except BaseException:
        many.close()
        raise
    quiet_dropped_connections()
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    sandbox = SandboxServer(firms=many, server=server, sock=sock)
    log.info(
        "sandbox starting on %s (firms: %s, faults: %s, rate limit a minute: %s, "
        "Karbon variants: %s)",
        sandbox.url,
        firms,
        str(spec) or "none",
        rate_limit or "off",
        str(quirks) or "none",
    )
    return sandbox.start()
