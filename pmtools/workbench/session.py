"""A workbench session: settings, both connectors and the state store, opened together.

When no services are configured (``Settings.has_services`` is False) the session starts the
bundled simulator with the demo dataset and keeps its state in a temporary folder, so that the
app and the notebooks run on a fresh machine with nothing set up.

A session belongs to one firm: a registered one (:func:`open_firm_session`) or the environment
firm (``PMTOOLS_*``, :func:`open_session`); ``firm`` is its key in the registry's jobs.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pmtools.config import Settings
from pmtools.store import Store

if TYPE_CHECKING:
    from pmtools.connectors.base import Connector
    from pmtools.sandbox.server import SandboxServer
    from pmtools.store.registry import Registry

log = logging.getLogger(__name__)

# The demo runs with the simulator's rate limit off: it is a local demonstration, and a
# first Sync Now of the demo firm would otherwise take minutes at Karbon's 120 a minute.
DEMO_RATE_LIMIT = 0
# The environment firm in an address (``?firm=environment``); its jobs' key in the registry is
# ``pmtools.jobs.environment_slug`` of its state file (design point 7).
ENVIRONMENT_FIRM = "environment"


@dataclass(kw_only=True, eq=False)
class Session:
    """What the workbench's panels work with; close it to stop a simulator it started."""

    settings: Settings
    liscio: Connector
    ipm: Connector
    store: Store
    sandbox: SandboxServer | None = None
    tmpdir: Path | None = None
    firm: str = ENVIRONMENT_FIRM  # the firm's key in the registry's jobs
    firm_name: str = ""
    # Where Sync Now runs: True in this page, False a worker (see ``jobs_in_page``).
    page_runs_jobs: bool | None = None
    _registry: Registry | None = field(default=None, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _depth: int = field(default=0, repr=False)

    @property
    def simulated(self) -> bool:
        """True when the services are the bundled simulator (this session's, or the one
        ``pmtools app`` started for it)."""
        return self.sandbox is not None or self.settings.simulator

    @property
    def registry(self) -> Registry:
        """The registry this session's jobs are recorded in.

        A simulator started inside this kernel dies with it and no worker can reach its state
        file, so its jobs go to a private registry in memory; every other session uses the
        installation's (``PMTOOLS_HOME`` or ``PMTOOLS_DATABASE_URL``).
        """
        if self._registry is None:
            from pmtools.store.registry import Registry
            from pmtools.store.sql import SqliteSql

            if self.sandbox is not None:
                self._registry = Registry(SqliteSql(":memory:"))
            else:
                from pmtools.store.backend import backend_from_env

                self._registry = backend_from_env().registry()
        return self._registry

    @registry.setter
    def registry(self, registry: Registry) -> None:
        self._registry = registry

    @property
    def jobs_in_page(self) -> bool:
        """True when this page runs its own Sync Now (recorded in the registry as a job all the
        same). Only the served app knows a worker runs (:func:`open_firm_session` says so); a
        session opened directly (a notebook, a test, a benchmark) runs its own."""
        return True if self.page_runs_jobs is None else self.page_runs_jobs

    @property
    def lock(self) -> _ActionLock:
        """Held while one action (a sync, a link, …) uses the store and connectors.

        Entering it (outermost) runs the tenant guard first (:mod:`pmtools.engine.tenant`): an
        action on services that are not the state file's firm raises TenantMismatch, before it
        reads or writes anything.
        """
        return _ActionLock(self)

    def close(self) -> None:
        """Close the store and connectors, stop the simulator and remove temporary files."""
        for thing in (self.store, self.liscio, self.ipm, self._registry):
            closer = getattr(thing, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:  # closing is best effort; keep going
                    log.debug("close failed", exc_info=True)
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ActionLock:
    """``with session.lock:`` — the session's lock, and the tenant guard on first entry."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def __enter__(self) -> _ActionLock:
        from pmtools.engine.tenant import check_tenant

        s = self._session
        s._lock.acquire()
        s._depth += 1
        if s._depth == 1:
            try:
                check_tenant(s.store, liscio=s.liscio, ipm=s.ipm)
            except BaseException:
                self.__exit__()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        s = self._session
        s._depth -= 1
        s._lock.release()


def open_store(path: Path) -> Store:
    """Open the state store at ``path``."""
    return Store.open(path)


def open_session(
    settings: Settings | None = None,
    *,
    dataset: str = "demo",
    seed: int | None = None,
    rate_limit: int = DEMO_RATE_LIMIT,
) -> Session:
    """Open settings, connectors and store; start the simulator when nothing is configured.

    ``settings`` defaults to ``Settings.from_env()``. With the simulator, the state file lives
    in a temporary folder (the simulator's data is in memory too) unless ``PMTOOLS_STATE``
    names one.
    """
    from pmtools.connectors.factory import connect

    firm, firm_name = "", ""
    if settings is None:  # PMTOOLS_FIRM names a registered firm; else the environment's
        from pmtools.store.firms import resolve

        ctx = resolve(None)
        settings = ctx.settings
        if ctx.registered:
            firm, firm_name = ctx.slug, ctx.name
    sandbox = None
    tmpdir: Path | None = None
    if settings.liscio_url or settings.ipm_url:
        settings.require_services()  # half a configuration is a mistake, not a demo
    else:
        from pmtools.sandbox.server import start_sandbox

        kwargs: dict[str, object] = {"dataset": dataset, "rate_limit": rate_limit, "port": 0}
        if seed is not None:
            kwargs["seed"] = seed
        sandbox = start_sandbox(**kwargs)
        # The client paces itself to the limit too: match the simulator's.
        settings = replace(settings.with_sandbox(sandbox.url), ipm_rate_limit=rate_limit)
        if settings.state_path == Settings().state_path:
            tmpdir = Path(tempfile.mkdtemp(prefix="pmtools-workbench-"))
            settings = replace(settings, state_path=tmpdir / "state.sqlite")
        log.info("started the simulator at %s", sandbox.url)
    try:
        liscio, ipm = connect(settings)
        from pmtools.store.firms import open_state

        store = open_state(settings)
    except BaseException:
        if sandbox is not None:
            sandbox.stop()
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    if not firm:  # the environment firm's jobs are keyed by its state file (pmtools.jobs)
        from pmtools.jobs import environment_slug
        from pmtools.store.firms import environment_name

        firm, firm_name = environment_slug(settings.state_path), environment_name(settings)
    return Session(
        settings=settings,
        liscio=liscio,
        ipm=ipm,
        store=store,
        sandbox=sandbox,
        tmpdir=tmpdir,
        firm=firm,
        firm_name=firm_name,
    )


def open_firm_session(slug: str) -> Session:
    """Open the session of the firm ``slug`` for the served app, whose worker runs its jobs
    (settings and secrets resolved by :mod:`pmtools.store.firms`; an environment key such as
    ``environment``: the ``PMTOOLS_*`` firm, as :func:`open_session`)."""
    from pmtools.connectors.factory import connect
    from pmtools.jobs import is_environment
    from pmtools.store.firms import resolve

    if is_environment(slug):
        session = open_session()
    else:
        ctx = resolve(slug)
        store = ctx.open_store()
        try:
            liscio, ipm = connect(ctx.settings)
        except BaseException:
            store.close()
            raise
        session = Session(
            settings=ctx.settings,
            liscio=liscio,
            ipm=ipm,
            store=store,
            firm=ctx.slug,
            firm_name=ctx.name,
        )
    # No worker can reach a simulator that lives in this kernel: the page runs those jobs.
    session.page_runs_jobs = session.sandbox is not None
    return session
