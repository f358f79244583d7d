"""The app's two views in one page: the portfolio of firms, and one firm's workbench.

Open (or ``?firm=<slug>`` in the page's address: Voilà gives the kernel the query string as
``QUERY_STRING``) builds today's workbench for that firm; "← All firms" closes it and shows the
portfolio again.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import ipywidgets as ipw

from pmtools.store.firms import ENVIRONMENT_NAME
from pmtools.workbench.app import STYLE, Workbench
from pmtools.workbench.common import button, esc, message_html, readable
from pmtools.workbench.portfolio import Portfolio
from pmtools.workbench.session import open_firm_session

log = logging.getLogger(__name__)

# A store's runs that have ended (a running one is the worker's job, shown as such).
FINISHED = ("done", "done_with_errors", "cancelled", "stopped", "failed", "refused")


def firm_from_query(query: str | None = None) -> str | None:
    """The ``firm`` of a query string (default: the one Voilà gave this kernel; without one,
    the firm ``pmtools app --firm`` serves), or None: the portfolio."""
    text = os.environ.get("QUERY_STRING", "") if query is None else query
    values = parse_qs(text.lstrip("?")).get("firm") or [""]
    if values[0].strip():
        return values[0].strip()
    if query is None:  # the page's own address named none: the firm pmtools app serves
        return os.environ.get("PMTOOLS_FIRM", "").strip() or None
    return None


class PortfolioApp(ipw.VBox):
    """The portfolio, and the workbench of the firm opened from it."""

    def __init__(self, *, firm: str | None = None, backend: Any = None) -> None:
        from pmtools.store.backend import backend_from_env

        self.backend = backend or backend_from_env()
        self.registry = self.backend.registry()
        self._runs: dict[str, dict[str, Any] | None] = {}
        self._runs_lock = threading.Lock()
        self.environment, self.environment_state, name = _environment_firm()
        self.portfolio = Portfolio(
            self.registry,
            on_open=self.open_firm,
            fallback=self.store_run,
            environment=self.environment,
            environment_name=name or ENVIRONMENT_NAME,
        )
        self.back = button("← All firms", "pm-all-firms", icon="")
        self.back.on_click(lambda _b: self.show_portfolio())
        self.firm_title = ipw.HTML()
        self.firm_title.add_class("pm-firm-title")
        self.firm_view = ipw.VBox(
            [ipw.HBox([self.back, self.firm_title])], layout=ipw.Layout(display="none")
        )
        self.firm_view.add_class("pm-firm-view")
        self.workbench: Workbench | None = None
        super().__init__([ipw.HTML(STYLE), self.portfolio, self.firm_view])
        self.add_class("pm-app")
        if firm:
            self.open_firm(firm)

    def open_firm(self, slug: str) -> Workbench | None:
        """Show the workbench of the firm ``slug`` in place of the portfolio."""
        row = self.portfolio.row(slug)
        name = row.name if row is not None else slug
        self.portfolio.message.value = message_html(f"Opening {name}…", "info")
        try:
            session = open_firm_session(slug)
        except Exception as exc:
            log.warning("workbench: could not open %s: %s", slug, exc)
            self.portfolio.message.value = message_html(
                f"{name} could not be opened: {readable(exc)}", "error"
            )
            return None
        name = session.firm_name or name
        self.close_firm()
        self.workbench = Workbench(session)
        self.firm_title.value = f"<h2 style='margin:0 0 0 1em'>{esc(name)}</h2>"
        self.firm_view.children = (self.firm_view.children[0], self.workbench)
        self.portfolio.layout.display = "none"
        self.portfolio.watcher.paused = True  # hidden: no redraws until it shows again
        self.firm_view.layout.display = ""
        self.portfolio.message.value = ""
        return self.workbench

    def show_portfolio(self) -> None:
        """Close the firm's workbench and show every firm again."""
        self.close_firm()
        self.firm_view.layout.display = "none"
        self.portfolio.layout.display = ""
        self.portfolio.watcher.paused = False
        self.portfolio.watcher.nudge()

    def close_firm(self) -> None:
        """Close the open firm's workbench (its session and its job watcher)."""
        if self.workbench is not None:
            try:
                self.workbench.close_session()
            except Exception:  # closing is best effort
                log.debug("closing a firm's session failed", exc_info=True)
            self.workbench = None
            self.firm_view.children = self.firm_view.children[:1]

    def store_run(self, slug: str) -> dict[str, Any] | None:
        """The firm's last sync run in its state store (read once): the portfolio's words for
        a firm synced before syncs were jobs."""
        with self._runs_lock:
            if slug not in self._runs:
                self._runs[slug] = self._read_store_run(slug)
            return self._runs[slug]

    def _read_store_run(self, slug: str) -> dict[str, Any] | None:
        from pmtools.store import Store

        try:
            if slug == self.environment and self.environment_state is not None:
                path = self.environment_state
            elif self.backend.kind == "sqlite":
                path = self.backend.store_path(slug)
            else:
                return None
            if not path.exists():
                return None
            with Store.open(path) as store:
                runs = [
                    r
                    for r in store.runs()
                    if r.get("command") == "sync" and r.get("outcome") in FINISHED
                ]
        except Exception:  # the portfolio shows "never synced" rather than fail
            log.debug("reading %s's last run failed", slug, exc_info=True)
            return None
        return runs[-1] if runs else None


def _environment_firm() -> tuple[str | None, Path | None, str]:
    """The key, state file and name of this page's environment firm (``PMTOOLS_*``), or Nones
    when ``PMTOOLS_FIRM`` names a registered firm instead."""
    from pmtools.jobs import environment_slug
    from pmtools.store.firms import resolve

    try:
        ctx = resolve(None)
    except Exception:  # a wrong PMTOOLS_FIRM: the portfolio still lists the registered firms
        log.debug("no environment firm", exc_info=True)
        return None, None, ""
    if ctx.registered:
        return None, None, ""
    path = Path(ctx.settings.state_path).expanduser().resolve()
    return environment_slug(path), path, ctx.name
