"""The workbench app: every panel in one widget, for Voilà or a notebook."""

from __future__ import annotations

import logging
from typing import Any

import ipywidgets as ipw

from pmtools.config import Settings
from pmtools.workbench.common import (
    Context,
    LogPanel,
    PanelHandler,
    message_html,
    readable,
)
from pmtools.workbench.session import Session, open_session

log = logging.getLogger(__name__)

STYLE = """<style>
.pm-app h3 { margin: 0.6em 0 0.3em 0; }
.pm-app table.pm-html-table td, .pm-app table.pm-html-table th,
.pm-app table.pm-plan td, .pm-app table.pm-plan th,
.pm-app table.pm-counts td, .pm-app table.pm-counts th,
.pm-app table.pm-services td, .pm-app table.pm-report-preview td,
.pm-app table.pm-report-preview th { border: 1px solid #ddd; padding: 2px 6px;
                                     line-height: 1.35; }
.pm-app table.pm-report-preview td { white-space: nowrap; }  /* its box scrolls sideways */
.pm-app .pm-table .dt-search, .pm-app .pm-table .dt-info, .pm-app .pm-table .dt-paging,
.pm-app .pm-table .dt-length { display: none; }  /* searching and paging run server side */
.pm-app .pm-stage-done { background-color: #1976d2 !important; color: white !important;
                         opacity: 1 !important; }
.pm-app .pm-table { overflow-x: auto; }
.pm-app .pm-table table.dataTable { width: 100% !important; }
.pm-app .pm-table td, .pm-app .pm-table th { white-space: nowrap; }
.pm-app .pm-table td.pm-wrap, .pm-app .pm-table th.pm-wrap { white-space: normal;
                                                              min-width: 8em;
                                                              overflow-wrap: anywhere; }
/* A sticky box needs no clipping box between it and the page's scroller. */
.jp-OutputArea:has(.pm-app), .jp-OutputArea-child:has(.pm-app),
.jp-OutputArea-output:has(.pm-app), .pm-app, .pm-app .widget-container,
.pm-app .jupyter-widget-TabPanel-tabContents { overflow: visible !important; }
.pm-app .pm-actions { position: sticky; bottom: 0; z-index: 5; background: white;
                      border-top: 2px solid #1976d2; padding-top: 0.3em;
                      box-shadow: 0 14px 0 0 white;  /* covers the scroller's bottom padding */
                      max-height: 60vh; overflow-y: auto; }
.pm-app .pm-hint { color: #555; font-size: 0.92em; margin: 0.2em 0; }
.pm-app .pm-intro ol { margin: 0.2em 0 0.4em 1.2em; padding: 0; }
.pm-app .pm-caution { color: #8a6d3b; }
.pm-app table.pm-portfolio { width: 100%; }
.pm-app table.pm-portfolio tr.pm-selected td { background: #e3f2fd; }
.pm-app table.pm-portfolio progress { width: 7em; vertical-align: middle; }
</style>"""

INTRO = """<div class="pm-intro">
<h2>Liscio ↔ Intuit Practice Management</h2>
<ol>
<li><b>Connection</b>: check which Liscio and IPM this page talks to (Test connection).</li>
<li><b>Sync Now</b>: links records whose names match and syncs their fields. All three
stages turn blue when it is done.</li>
<li><b>View Details</b>: find records that did not link, then link them by hand, delink them,
or create them on the other side.</li>
<li><b>Review queue</b>: decide every unmatched and ambiguous record, one by one (keys) or in
bulk, or in a spreadsheet; each decision shows what it writes before it is applied.</li>
<li><b>Report</b>: download every pair as CSV or Excel.</li>
</ol>
<p class="pm-caution"><b>Caution:</b> do not run the first Sync Now before the client data is
in Liscio: it would create duplicates.</p>
</div>"""


class Workbench(ipw.VBox):
    """The app: connection, Sync Now, View Details with linking, report, disconnect, log."""

    def __init__(self, session: Session) -> None:
        from pmtools.workbench.connection import ConnectionPanel, DisconnectPanel
        from pmtools.workbench.details import DetailsPanel
        from pmtools.workbench.forecast import ForecastBox
        from pmtools.workbench.report import ReportPanel
        from pmtools.workbench.review import ReviewPanel
        from pmtools.workbench.runs import RunsPanel
        from pmtools.workbench.syncing import SyncPanel

        self.session = session
        self.log_panel = LogPanel()
        self.ctx = Context(session, self.log_panel)
        self.log_handler = PanelHandler(self.log_panel).attach()
        self.connection = ConnectionPanel(self.ctx)
        self.sync = SyncPanel(self.ctx)
        self.forecast = ForecastBox(self.ctx)  # before the first sync: what it will do, cost
        self.sync.mount_forecast(self.forecast)
        self.details = DetailsPanel(self.ctx)
        self.review = ReviewPanel(self.ctx)
        self.report = ReportPanel(self.ctx)
        self.runs = RunsPanel(self.ctx)
        self.disconnect = DisconnectPanel(self.ctx)
        super().__init__(
            [
                ipw.HTML(STYLE + INTRO),
                self.connection,
                self.sync,
                self.details,
                self.review,
                self.report,
                self.runs,
                self.disconnect,
                self.log_panel,
            ]
        )
        self.add_class("pm-app")

    def close_session(self) -> None:
        """Stop following jobs, stop the simulator this app started (if any), close the store."""
        self.sync.watcher.stop()
        self.log_handler.detach()
        self.session.close()


def build_app(
    settings: Settings | None = None, *, session: Session | None = None, query: str | None = None
) -> Any:
    """The app: the portfolio of firms (``?firm=<slug>`` in ``query``, Voilà's query string by
    default, opens that firm's workbench at once); with ``settings`` or ``session``, the one
    firm's workbench as before (a simulator started if nothing is configured)."""
    if settings is None and session is None:
        from pmtools.workbench.firmview import PortfolioApp, firm_from_query

        try:
            return PortfolioApp(firm=firm_from_query(query))
        except Exception as exc:
            return _start_error(exc)
    try:
        session = session or open_session(settings)
    except Exception as exc:
        return _start_error(exc)
    return Workbench(session)


def _start_error(exc: BaseException) -> ipw.HTML:
    log.error("workbench: could not open the session", exc_info=exc)
    page = ipw.HTML(message_html(f"The workbench could not start: {readable(exc)}", "error"))
    page.add_class("pm-start-error")
    return page
