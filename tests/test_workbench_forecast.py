"""The Forecast box of the Sync Now panel, in-process against the bundled simulator.

Buttons are clicked with ``.click()``; the assertions are on widget state, on the simulator's
data and on the state file.
"""

from __future__ import annotations

import pytest

from pmtools.config import Settings
from pmtools.workbench import Workbench, open_session
from pmtools.workbench.forecast import ForecastState, forecast_html

WAIT = 120
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def app(tmp_path):
    """A workbench on a new demo simulator, before its first Sync Now."""
    session = open_session(Settings(state_path=tmp_path / "state.sqlite"))
    try:
        yield Workbench(session)
    finally:
        session.close()


def test_before_the_first_sync_the_forecast_is_offered_and_shown(app):
    box = app.forecast
    server = app.session.sandbox
    data = server.state.canonical()
    assert box.state is ForecastState.IDLE and box.layout.display != "none"
    box.button.click()
    assert box.wait(WAIT)
    assert box.state is ForecastState.SHOWN, box.status.value
    f = box.forecast
    assert f is not None and f.first_sync and f.ipm.total > 0
    html = box.output.value
    assert "will link" in html and "pm-forecast-requests" in html
    assert "at Karbon&#x27;s 120 requests a minute" in html  # the demo sets no rate limit
    assert server.state.canonical() == data  # nothing written to either service
    assert app.session.store.runs() == [] and app.session.store.baseline() is None
    assert not app.ctx.busy and not app.sync.sync_now.disabled


def test_after_the_first_sync_the_forecast_is_no_longer_offered(app):
    box = app.forecast
    app.sync.sync_now.click()
    assert app.sync.wait(WAIT)
    assert box.state is ForecastState.HIDDEN and box.layout.display == "none"


def test_the_forecast_waits_while_another_action_runs(app):
    assert app.ctx.acquire()
    try:
        assert app.forecast.start() is False
        assert "Another action is running" in app.forecast.status.value
    finally:
        app.ctx.release()


def test_record_text_in_the_forecast_html_is_escaped(app):
    account = app.session.sandbox.state.all("accounts")[0]
    app.session.sandbox.state.put("accounts", {**account, "name": HOSTILE, "phone": 12345})
    box = app.forecast
    box.button.click()
    assert box.wait(WAIT) and box.forecast is not None
    assert box.forecast.unreadable  # the hostile record cannot be read: its name is shown
    assert HOSTILE not in box.output.value and "&lt;img" in box.output.value
    assert forecast_html(box.forecast) == box.output.value
