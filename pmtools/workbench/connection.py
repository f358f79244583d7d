"""The Connection panel: which services, a connection test, the last sync; and Disconnect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import ipywidgets as ipw

from pmtools.workbench.common import Context, button, esc, html_table, message_html

if TYPE_CHECKING:
    from pmtools.workbench.session import Session


def safe_url(url: str | None) -> str:
    """``url`` without user info, query or fragment (nothing secret reaches the page)."""
    if not url:
        return "(not configured)"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class ConnectionPanel(ipw.VBox):
    """Shows the services in use, tests them, and shows the last sync's state."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.info = ipw.HTML()
        self.info.add_class("pm-connection-info")
        self.test_button = button("Test connection", "pm-test-connection", icon="plug")
        self.result = ipw.HTML()
        self.result.add_class("pm-connection-result")
        self.last_sync = ipw.HTML()
        self.last_sync.add_class("pm-last-sync")
        self.test_button.on_click(lambda _b: self.test())
        ctx.freezable(self.test_button)
        ctx.on_change(lambda _what: self.refresh())
        super().__init__(
            [
                ipw.HTML("<h3>Connection</h3>"),
                self.info,
                ipw.HBox([self.test_button, self.result]),
                self.last_sync,
            ]
        )
        self.add_class("pm-connection-panel")
        self.refresh()

    def refresh(self) -> None:
        """Redraw the service list and the last sync's state."""
        s = self.ctx.session
        where = (
            "the bundled simulator (demo data)" if _is_simulated(s) else "the configured services"
        )
        rows = [
            ["Liscio", safe_url(s.settings.liscio_url)],
            ["Intuit Practice Management", safe_url(s.settings.ipm_url)],
            # The store says where it is: a state file, or a firm's PostgreSQL schema.
            ["State", s.store.location],
        ]
        self.info.value = f"<p>Talking to {esc(where)}.</p>" + html_table(
            ["", ""], rows, css="pm-services"
        )
        self.last_sync.value = self._last_sync_html()

    def _last_sync_html(self) -> str:
        store = self.ctx.session.store
        runs = _recent_runs(store, 1)
        if not runs:
            return "<p>No sync has run yet.</p>"
        return f"<p>{esc(describe_run(runs[0]))}</p>"

    def test(self) -> None:
        """Make one cheap call to each service and say what answered."""

        def check() -> None:
            from pmtools.engine.tenant import check_tenant

            s = self.ctx.session
            lisc = s.liscio.check()
            ipm = s.ipm.check()
            # Also which firm each is: a state file of another firm is refused here already.
            firms = " and ".join(
                map(str, check_tenant(s.store, liscio=s.liscio, ipm=s.ipm).values())
            )
            self.result.value = message_html(f"Both answered: {lisc}; {ipm}; {firms}.", "success")
            self.ctx.log.add(f"Connection test passed: {lisc}; {ipm}; {firms}")

        self.result.value = message_html("Testing…")
        self.ctx.guard("the connection test", check, self.result)


class DisconnectPanel(ipw.VBox):
    """Disconnect behind a confirmation: forgets links, decisions and the baseline."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.disconnect_button = button(
            "Disconnect…", "pm-disconnect", icon="unlink", style="danger"
        )
        self.confirm_button = button("Yes, disconnect", "pm-disconnect-confirm", style="danger")
        self.keep_button = button("Keep the connection", "pm-disconnect-cancel")
        self.question = ipw.HTML()
        self.question.add_class("pm-disconnect-question")
        self.confirm_box = ipw.VBox(
            [self.question, ipw.HBox([self.confirm_button, self.keep_button])],
            layout=ipw.Layout(display="none"),
        )
        self.result = ipw.HTML()
        self.result.add_class("pm-disconnect-result")
        self.disconnect_button.on_click(lambda _b: self._ask())
        self.keep_button.on_click(lambda _b: self._hide())
        self.confirm_button.on_click(lambda _b: self.disconnect())
        ctx.freezable(self.disconnect_button, self.confirm_button)
        super().__init__(
            [ipw.HTML("<h3>Disconnect</h3>"), self.disconnect_button, self.confirm_box, self.result]
        )
        self.add_class("pm-disconnect-panel")

    def _ask(self) -> None:
        links = len(self.ctx.session.store.links())
        self.question.value = (
            f"<p><b>Disconnect?</b> pmtools forgets all {links} links between Liscio and IPM "
            "records and every “not a match” decision. Nothing is written to Liscio or IPM: "
            "the records stay as they are. The next Sync Now starts over as a first sync and "
            "links records by name again.</p>"
        )
        self.confirm_box.layout.display = ""
        self.result.value = ""

    def _hide(self) -> None:
        self.confirm_box.layout.display = "none"

    def disconnect(self) -> None:
        """Forget the connection's state (after the confirmation)."""

        def run() -> None:
            from pmtools.engine import operations

            s = self.ctx.session
            with s.lock:
                outcome = operations.disconnect(store=s.store, started_by="app")
            self.result.value = message_html(_describe(outcome), "success")
            self.ctx.log.add(_describe(outcome))

        self._hide()
        self.ctx.guard("disconnecting", run, self.result)
        self.ctx.changed("disconnect")


COMMAND_WORDS = {
    "sync": "Sync Now",
    "link": "Link",
    "delink": "Delink",
    "not_a_match": "Not a match",
    "create_in_ipm": "Create in IPM",
    "create_in_liscio": "Create in Liscio",
    "disconnect": "Disconnect",
    "undo": "Undo",
    "review": "Review decisions",
}
STARTED_WORDS = {"app": "app", "cli": "command line", "onboarding": "onboarding notebook"}


def describe_run(run: dict[str, Any]) -> str:
    """The last run in words: what, its outcome, when (UTC), from where, what it changed."""
    from pmtools.workbench.details import short_time
    from pmtools.workbench.syncing import COUNT_LABELS, OUTCOME_WORDS

    command = str(run.get("command") or "sync")
    outcome = str(run.get("outcome") or "")
    when = short_time(run.get("finished_at") or run.get("started_at"))
    counts = run.get("counts") or {}
    by = str(run.get("started_by") or "unknown")
    changed = "; ".join(
        f"{COUNT_LABELS.get(k, k.replace('_', ' '))}: {v}" for k, v in counts.items() if v
    )
    return (
        f"Last action: {COMMAND_WORDS.get(command, command)} (run {run.get('id')}) "
        f"{OUTCOME_WORDS.get(outcome, outcome)} at {when} UTC, started from the "
        f"{STARTED_WORDS.get(by, by)}." + (f" {changed}." if changed else "")
    )


def _describe(outcome: Any) -> str:
    message = getattr(outcome, "message", None)
    return str(message or outcome).capitalize()


def _is_simulated(session: Session) -> bool:
    """True when the session's services are the bundled simulator."""
    return session.simulated


def _recent_runs(store: Any, limit: int) -> list[dict[str, Any]]:
    return list(reversed(store.runs()[-limit:]))
