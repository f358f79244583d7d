"""Page defects of issue 10, each fixed: a stale report, a changed plan shown by ids, ambiguous
records that look alike, grey stages after a reload, a cancelled sync summarised as zeros, CLI
advice in the page.

In-process against the bundled simulator over real HTTP, as ``test_workbench.py``.
"""

from __future__ import annotations

import re

import pytest

from pmtools.config import Settings
from pmtools.core.records import Kind, Record, Side
from pmtools.errors import PlanChanged
from pmtools.workbench import Workbench, open_session
from pmtools.workbench.details import row_label

WAIT = 120
TWIN = "Quentin Twinsworth"


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A demo simulator with two IPM people of one name (an ambiguous pair); synced once."""
    state = tmp_path_factory.mktemp("defects") / "state.sqlite"
    session = open_session(Settings(state_path=state))
    for n, (email, title) in enumerate(
        (("q.twins@alpha.example", "CFO"), ("quentin@beta.example", "Owner"))
    ):
        session.ipm.create_record(
            Kind.CONTACTS,
            Record(side=Side.IPM, kind=Kind.CONTACTS, id="", name=TWIN, email=email, title=title),
            external_id=f"defects-twin-{n}",
        )
    session.liscio.create_record(
        Kind.CONTACTS,
        Record(side=Side.LISCIO, kind=Kind.CONTACTS, id="", name=TWIN, email="qt@gamma.example"),
        external_id="defects-twin-liscio",
    )
    app = Workbench(session)
    app.sync.sync_now.click()
    assert app.sync.wait(WAIT)
    assert app.sync.error is None, app.sync.status.value
    app.details.load()
    yield app
    session.close()


def test_ambiguous_records_say_their_side_and_what_tells_them_apart(synced):
    tab = synced.details.tabs[Kind.CONTACTS]
    tab.status.value = "ambiguous"
    tab.search.value = TWIN
    labels = [label for label, i in tab.record_select.options if i >= 0]
    assert len(labels) == 3, labels
    assert len(set(labels)) == 3, labels  # no two alike
    assert sum("IPM" in label for label in labels) == 2
    assert sum("Liscio" in label for label in labels) == 1
    assert any("q.twins@alpha.example" in label for label in labels)
    assert any("quentin@beta.example" in label for label in labels)
    # A pair's label is unchanged: both names, its status.
    assert row_label({"Liscio name": "A", "IPM name": "B", "status": "linked"}) == "A ↔ B [linked]"


def test_a_new_page_shows_the_last_sync_finished(synced):
    again = Workbench(synced.session)  # what a reload of the page builds
    try:
        for key, stage in again.sync.stages.items():
            assert "pm-stage-done" in stage._dom_classes, key
        assert "last Sync Now finished" in again.sync.status.value
        assert "Pairs linked" in again.sync.status.value
    finally:
        again.log_handler.detach()


def test_report_is_withdrawn_after_a_delink_and_a_disconnect(synced):
    app = synced
    app.report.kind.value = "accounts"
    app.report.status.value = "linked"
    app.report.fresh.value = False
    app.report.build_button.click()
    assert app.report.wait(WAIT)
    assert app.report.frame is not None and len(app.report.frame) > 0
    assert "pm-download-csv" in app.report.links.value
    tab = app.details.tabs[Kind.ACCOUNTS]
    tab.search.value = ""
    tab.status.value = "linked"
    tab.select_row(0)
    tab.linking.delink_button.click()
    assert "pm-msg-success" in tab.linking.result.value, tab.linking.result.value
    assert app.report.frame is None and app.report.links.value == ""
    assert "built before a delink" in app.report.preview.value
    app.report.build_button.click()
    assert app.report.wait(WAIT)
    assert len(app.report.frame) > 0
    app.disconnect.disconnect_button.click()
    app.disconnect.confirm_button.click()
    assert "pm-download-csv" not in app.report.links.value
    assert "built before the disconnect" in app.report.preview.value
    app.report.build_button.click()
    assert app.report.wait(WAIT)
    assert len(app.report.frame) == 0  # nothing is linked any more


@pytest.fixture
def fresh(tmp_path):
    """A new session (nothing synced yet) on its own demo simulator."""
    session = open_session(Settings(state_path=tmp_path / "state.sqlite"))
    yield session
    session.close()


def test_a_changed_plan_names_records_and_says_what_changed(fresh):
    app = Workbench(fresh)
    app.sync.preview_first.value = True
    app.sync.sync_now.click()
    assert app.sync.wait(WAIT)
    shown = app.sync.result.plan
    write = next(
        a
        for a in shown.actions
        if a.op.value == "write" and a.side is Side.IPM and a.field == "phone"
    )
    name = fresh.liscio.get_record(Kind.ACCOUNTS, write.liscio_id).name
    fresh.liscio.update_fields(Kind.ACCOUNTS, write.liscio_id, {"phone": "555-0142"})
    app.sync.apply_button.click()
    assert app.sync.wait(WAIT)
    assert isinstance(app.sync.error, PlanChanged)
    status = app.sync.status.value
    assert "What changed" in status and "555-0142" in status and "no longer planned" in status
    changes = re.search(r'class="pm-plan-changes".*', status, re.S).group(0)
    assert name.replace("&", "&amp;") in changes
    assert write.liscio_id not in changes and write.ipm_key not in changes  # names, not ids
    plan_html = app.sync.preview.value
    assert write.liscio_id not in plan_html and write.ipm_key not in plan_html


def test_a_cancelled_sync_says_nothing_was_written(fresh):
    app = Workbench(fresh)
    # Hold the session's lock so that the sync's thread waits before its first step; the
    # cancel is then seen before anything is read or written (no race with the run).
    with fresh.lock:
        app.sync.sync_now.click()
        app.sync.cancel.click()
    assert app.sync.wait(WAIT)
    assert fresh.store.runs()[-1]["outcome"] == "cancelled"
    assert "Cancelled before anything was written" in app.sync.summary.value
    assert "pm-counts" not in app.sync.summary.value  # no table of zeros
    line = next(line for line in app.log_panel.lines if "Sync cancelled" in line)
    assert line.rstrip().endswith("nothing was written.")


def test_the_page_gives_no_command_line_advice_and_no_ids(fresh):
    app = Workbench(fresh)
    app.sync.preview_first.value = True
    app.sync.sync_now.click()
    assert app.sync.wait(WAIT)
    page = app.sync.preview.value + app.sync.status.value
    assert "pmtools " not in page and "--dry-run" not in page
    assert not re.search(r"\bpid\b|https?://", page)


def test_an_action_redraws_only_the_rows_it_touched(synced):
    app = synced
    app.details.load()
    accounts = app.details.tabs[Kind.ACCOUNTS].data
    tab = app.details.tabs[Kind.CONTACTS]
    tab.search.value = ""
    tab.status.value = "unmatched in Liscio"
    for i in range(len(tab.page_rows)):
        tab.select_row(i)
        if tab.linking.suggestions:
            break
    row = tab.selected_row()
    target = tab.linking.suggestions[0].id
    tab.linking.target.value = target
    before = tab.data.table
    untouched = before[(before["liscio_id"] != row["liscio_id"]) & (before["ipm_key"] != target)]
    tab.linking.link_button.click()
    tab.linking.confirm_button.click()
    assert "pm-msg-success" in tab.linking.result.value, tab.linking.result.value
    after = tab.data.table
    assert app.details.tabs[Kind.ACCOUNTS].data is accounts  # the other tab was not reloaded
    assert len(after) == len(before) - 1  # two unmatched rows became one linked row
    pair = after[after["liscio_id"] == row["liscio_id"]]
    assert pair["status"].tolist() == ["linked"] and pair["ipm_key"].tolist() == [target]
    others = after[(after["liscio_id"] != row["liscio_id"]) & (after["ipm_key"] != target)]
    assert others.reset_index(drop=True).equals(untouched.reset_index(drop=True))
    # The row stands where the unmatched record stood, and the linked IPM record is no
    # longer offered as a link target.
    stood = before.index[(before["liscio_id"] == row["liscio_id"]) | (before["ipm_key"] == target)]
    assert int(pair.index[0]) == int(stood.min())
    tab.status.value = "unmatched in Liscio"
    tab.select_row(0)
    assert target not in [s.id for s in tab.linking.suggestions]


def test_the_report_reads_ipm_cards_in_the_background_and_can_be_cancelled(synced):
    app = synced
    app.report.kind.value = "accounts"
    app.report.status.value = "all"
    app.report.fresh.value = True
    # Holding the session's lock keeps the report's thread waiting: meanwhile the page answers
    # (a View Details search) and Cancel is offered; the cancel is seen before any card.
    with app.session.lock:
        app.report.build_button.click()
        assert not app.report.cancel_button.disabled
        tab = app.details.tabs[Kind.ACCOUNTS]
        tab.status.value = ""
        tab.search.value = "a"
        assert tab.page_rows  # searching and paging do not wait for the report
        app.report.cancel_button.click()
    assert app.report.wait(WAIT)
    assert app.report.frame is None and "cancelled" in app.report.preview.value
    app.report.build_button.click()
    assert app.report.wait(WAIT)
    assert app.report.frame is not None and len(app.report.frame) > 0
    assert (
        "IPM cards read" in app.report.progress_text.value
        or app.report.progress_text.value.endswith("Done.")
    )


def test_the_why_answer_is_worked_out_on_request(synced):
    tab = synced.details.tabs[Kind.CONTACTS]
    tab.status.value = "ambiguous"
    tab.search.value = TWIN
    tab.select_row(0)
    # A selection (or an action) does not run the matcher over every record: the question
    # is offered and answered on a click.
    assert tab.linking.why_button.description == "Why is it ambiguous?"
    assert tab.linking.explain.value == ""
    tab.linking.why_button.click()
    text = tab.linking.explain.value
    assert "Why is it ambiguous?" in text and TWIN in text
    tab.select_row(1)  # a new selection: a new question, the old answer gone
    assert tab.linking.explain.value == ""


def test_one_suggestion_is_said_in_the_singular():
    from pmtools.workbench.linking import choose_label

    assert choose_label(1) == "(choose a record to link to: 1 suggestion)"
    assert "2 suggestions, best first" in choose_label(2)
    assert "no suggestions" in choose_label(0)
