"""What every panel shares: the log panel, readable errors, busy state, refresh hooks.

Voilà hides tracebacks on purpose (they leak code), so every callback goes through
:meth:`Context.guard`: the user sees a readable message, the log panel the details, and the
server log the traceback.
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as ipw

from pmtools.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    LockHeld,
    PmtoolsError,
    PreflightRefused,
    ServiceError,
    StateError,
)

log = logging.getLogger("pmtools.workbench")


def esc(value: object) -> str:
    """HTML-escape any value for an HTML widget (record names come from outside)."""
    return html.escape("" if value is None else str(value), quote=True)


SYSTEMS = {"liscio": "Liscio", "ipm": "Intuit Practice Management"}


def readable(exc: BaseException) -> str:
    """A message for the page: what went wrong in plain words, never a traceback.

    A service's failure is said in a sentence; its request and cause go to the log panel.
    """
    text = str(exc).strip()
    if isinstance(exc, (AuthError, ServiceError)):
        who = SYSTEMS.get(str(exc.side).lower(), str(exc.side) or "A service")
        status = f" (HTTP {exc.status})" if exc.status else ""
        if isinstance(exc, AuthError):
            return (
                f"{who} rejected the credentials{status}. Check the connection settings; "
                "the log panel has the details."
            )
        problem = f"answered with an error{status}" if status else "could not be reached"
        return f"{who} {problem}. Try again later; the log panel has the details."
    if isinstance(exc, PreflightRefused):
        return text
    if isinstance(exc, LockHeld):
        return f"Another sync is running on this state file: {text}"
    if isinstance(exc, (ConfigError, StateError, ConnectorError, PmtoolsError)):
        return text or type(exc).__name__
    return f"Unexpected error ({type(exc).__name__}); the log panel has the details."


def html_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, css: str = "pm-html-table"
) -> str:
    """A small HTML table with every cell escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f'<table class="{css}" style="border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def message_html(text: str, level: str = "info") -> str:
    """An escaped one-line message coloured by level (info, success, warning, error)."""
    colour = {
        "info": "#31708f",
        "success": "#2e7d32",
        "warning": "#8a6d3b",
        "error": "#a94442",
    }.get(level, "#333")
    return f'<div class="pm-msg pm-msg-{level}" style="color:{colour}">{esc(text)}</div>'


class LogPanel(ipw.VBox):
    """The details panel: time-stamped lines, newest last, bounded."""

    def __init__(self, max_lines: int = 200) -> None:
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._lock = threading.Lock()
        self.view = ipw.HTML()
        self.view.add_class("pm-log")
        clear = ipw.Button(description="Clear log", icon="eraser")
        clear.add_class("pm-log-clear")
        clear.on_click(lambda _b: self.clear())
        super().__init__([ipw.HTML("<b>Log</b> (newest first)"), self.view, clear])
        self.add_class("pm-log-panel")

    @property
    def lines(self) -> list[str]:
        """The lines shown, oldest first."""
        with self._lock:
            return list(self._lines)

    def add(self, message: str, level: str = "info") -> None:
        """Append a line."""
        stamp = _dt.datetime.now().strftime("%H:%M:%S")
        with self._lock:
            self._lines.append(f"{stamp} {level.upper():7} {message}")
            text = "\n".join(reversed(self._lines))  # newest on top: the box scrolls
        self.view.value = (
            f'<pre style="max-height:14em;overflow:auto;white-space:pre-wrap">{esc(text)}</pre>'
        )

    def clear(self) -> None:
        """Forget every line."""
        with self._lock:
            self._lines.clear()
        self.view.value = ""


class PanelHandler(logging.Handler):
    """Sends pmtools' own log records (retries, waits, runs) to a log panel."""

    def __init__(self, panel: LogPanel, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.panel = panel

    def emit(self, record: logging.LogRecord) -> None:
        """Add one record to the panel (the workbench's own lines are there already)."""
        if record.name.startswith("pmtools.workbench"):
            return
        try:
            self.panel.add(f"{record.name}: {record.getMessage()}", record.levelname.lower())
        except Exception:  # a log handler must never raise into the code that logged
            self.handleError(record)

    def attach(self) -> PanelHandler:
        """Listen to the ``pmtools`` logger, at INFO at least."""
        logger = logging.getLogger("pmtools")
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(self)
        return self

    def detach(self) -> None:
        """Stop listening."""
        logging.getLogger("pmtools").removeHandler(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Touched:
    """The records of one kind an action changed: the page redraws only their rows.

    ``records`` are fresh copies read back after the action (others are read again).
    """

    kind: Any
    liscio_ids: frozenset[str] = frozenset()
    ipm_keys: frozenset[str] = frozenset()
    records: tuple[Any, ...] = ()


class Context:
    """The session and the app-wide services the panels share."""

    def __init__(self, session: Any, log_panel: LogPanel | None = None) -> None:
        self.session = session
        self.log = log_panel or LogPanel()
        self._busy_lock = threading.Lock()
        self._busy = False
        self._freezable: list[ipw.Widget] = []
        self._frozen: list[tuple[ipw.Widget, bool]] = []
        self._listeners: list[Callable[..., None]] = []
        self._touching: set[int] = set()  # listeners that take the records an action touched
        self._names: dict[tuple[str, str], str] = {}
        self.detailed: list[Any] = []  # IPM records with every field loaded, by the last sync

    # -- busy state -------------------------------------------------------------------------
    def freezable(self, *widgets: ipw.Widget) -> None:
        """Register buttons that are disabled while any action runs."""
        self._freezable.extend(widgets)

    @property
    def busy(self) -> bool:
        """True while an action runs."""
        return self._busy

    def acquire(self) -> bool:
        """Enter the busy state; False when another action is running."""
        with self._busy_lock:
            if self._busy:
                return False
            self._busy = True
        self._frozen = [(w, w.disabled) for w in self._freezable]
        for w in self._freezable:
            w.disabled = True
        return True

    def release(self) -> None:
        """Leave the busy state and restore the buttons."""
        for w, was in self._frozen:
            w.disabled = was
        self._frozen = []
        with self._busy_lock:
            self._busy = False

    # -- names -------------------------------------------------------------------------------
    def names(self) -> dict[tuple[str, str], str]:
        """Record names by (side, id), as last loaded by the View Details panel."""
        return self._names

    def set_names(self, names: dict[tuple[str, str], str]) -> None:
        """Replace the name lookup."""
        self._names = names

    # -- changes -----------------------------------------------------------------------------
    def on_change(self, callback: Callable[..., None], *, touched: bool = False) -> None:
        """Call ``callback(what)`` after anything changed the data ("sync", "link", …).

        With ``touched=True`` it is called ``callback(what, touched)``: the
        :class:`Touched` records of an action on a few records, or None after a change of
        everything (a sync, a disconnect).
        """
        self._listeners.append(callback)
        if touched:
            self._touching.add(id(callback))

    def changed(self, what: str, touched: Touched | None = None) -> None:
        """Tell every listener that data changed (``touched``: only these records)."""
        for callback in self._listeners:
            try:
                if id(callback) in self._touching:
                    callback(what, touched)
                else:
                    callback(what)
            except Exception as exc:  # one broken listener must not hide the others
                self.report(exc, f"refreshing after {what}")

    # -- errors ------------------------------------------------------------------------------
    def report(self, exc: BaseException, doing: str, target: ipw.HTML | None = None) -> str:
        """Show ``exc`` readably in ``target`` and the log; the traceback goes to the server log."""
        text = readable(exc)
        if not isinstance(exc, PmtoolsError):
            log.error("workbench: %s failed", doing, exc_info=exc)
            self.log.add(f"{doing}: {type(exc).__name__}: {exc}", "error")
        else:
            log.warning("workbench: %s failed: %s", doing, exc)
            detail = str(exc).strip()
            self.log.add(f"{doing}: {detail if detail and detail != text else text}", "error")
        if target is not None:
            target.value = message_html(f"{doing.capitalize()} failed: {text}", "error")
        return text

    def guard(
        self,
        doing: str,
        fn: Callable[[], Any],
        target: ipw.HTML | None = None,
        *,
        exclusive: bool = True,
    ) -> Any:
        """Run ``fn`` now, with buttons frozen; errors become readable messages."""
        if exclusive and not self.acquire():
            if target is not None:
                target.value = message_html(
                    "Another action is running; wait for it to finish.", "warning"
                )
            return None
        try:
            return fn()
        except Exception as exc:
            self.report(exc, doing, target)
            return None
        finally:
            if exclusive:
                self.release()


def button(
    description: str, css: str, *, icon: str = "", style: str = "", tooltip: str = ""
) -> ipw.Button:
    """A button with a stable CSS class for tests and styling."""
    b = ipw.Button(
        description=description, icon=icon, button_style=style, tooltip=tooltip or description
    )
    b.add_class(css)
    return b
