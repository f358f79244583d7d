"""Workbench fixes found by using the app as staff do: what View Details shows after a sync
or an action, which link target is chosen in advance, and the words on the page.

In-process against the bundled simulator over real HTTP, as ``test_workbench.py``.
"""

from __future__ import annotations

import pytest

from pmtools.analysis.suggest import Reason, Suggestion
from pmtools.config import Settings
from pmtools.core.records import Address, Kind, Record, Side
from pmtools.workbench import Workbench, open_session
from pmtools.workbench.common import esc
from pmtools.workbench.details import NOT_READ, short_time
from pmtools.workbench.linking import NO_TARGET, preselect

WAIT = 120
LISCIO_NAME = "Quixotic Zebra Widgets LLC"
IPM_NAME = "Quixotic Zebra Widgets, Inc."
LONELY = "Xylophone Umbrella Mechanics"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A demo simulator with two records that should be linked by hand; synced once."""
    state = tmp_path_factory.mktemp("qa") / "state.sqlite"
    s = open_session(Settings(state_path=state))
    for name, ext in ((LISCIO_NAME, "qa-zebra"), (LONELY, "qa-lonely")):
        s.liscio.create_record(
            Kind.ACCOUNTS,
            Record(side=Side.LISCIO, kind=Kind.ACCOUNTS, id="", name=name, phone="555-0177"),
            external_id=ext,
        )
    s.ipm.create_record(
        Kind.ACCOUNTS,
        Record(side=Side.IPM, kind=Kind.ACCOUNTS, id="", name=IPM_NAME),
        external_id="qa-zebra-ipm",
    )
    app = Workbench(s)
    app.sync.sync_now.click()
    assert app.sync.wait(WAIT)
    assert app.sync.error is None, app.sync.status.value
    app.details.load()
    s.first_app = app
    yield s
    s.close()


def _select(tab, name, status="", search=None):
    tab.status.value = status
    tab.search.value = search if search is not None else name
    for i, row in enumerate(tab.page_rows):
        if name in (row["Liscio name"], row["IPM name"]):
            tab.select_row(i)
            return row
    pytest.fail(f"{name!r} not in the table: {[r['Liscio name'] for r in tab.page_rows]}")


def _linked_mismatches(tab):
    """Linked pairs whose IPM value differs from a set Liscio value (Liscio wins in a sync)."""
    view = tab.view.query(status=("linked",), page=0, page_size=len(tab.view))
    bad = []
    for row in view.rows.to_dict("records"):
        ipm_rec = tab.data.record(Side.IPM, row["ipm_key"])
        for f in Kind.ACCOUNTS.fields:
            lisc, ipm = row[f"Liscio {f}"], row[f"IPM {f}"]
            unread = f == "address" and ipm_rec is not None and not ipm_rec.details_complete
            if lisc and lisc != ipm and not (unread and not ipm):
                bad.append((row["Liscio name"], f, lisc, ipm))
    return bad


@pytest.mark.parametrize("new_page", [False, True], ids=["same page", "new page"])
def test_view_details_shows_the_values_the_sync_wrote(session, new_page):
    # A new page is a new kernel: it has only the state file's cache, not the sync's records.
    app = Workbench(session) if new_page else session.first_app
    app.details.load()
    tab = app.details.tabs[Kind.ACCOUNTS]
    writes = [
        c
        for c in session.store.changes(op="write", status="confirmed")
        if c["side"] == "ipm" and c["kind"] == "accounts"
    ]
    assert writes, "the demo's first sync writes IPM fields"
    assert _linked_mismatches(tab) == []


def test_unread_ipm_addresses_are_marked_not_empty(session):
    app = Workbench(session)
    app.details.load()
    tab = app.details.tabs[Kind.ACCOUNTS]
    tab.status.value = "linked"
    shown = tab.table._df  # the page as sent to the browser
    unread = [
        k
        for k in (r["ipm_key"] for r in tab.page_rows)
        if not tab.data.record(Side.IPM, k).details_complete
        and tab.data.record(Side.IPM, k).address is None
    ]
    marked = int((shown["IPM address"] == NOT_READ).sum())
    assert marked == len(unread)
    if marked:
        assert NOT_READ in tab.note.value
    assert all(len(v) in (0, 16) for v in shown["Last synced (UTC)"])  # "YYYY-MM-DD HH:MM"


def test_a_strong_suggestion_is_chosen_and_a_weak_one_is_not(session):
    tab = session.first_app.details.tabs[Kind.ACCOUNTS]
    _select(tab, LISCIO_NAME, "unmatched in Liscio", search="quixotic")
    assert tab.linking.target.value != NO_TARGET
    assert IPM_NAME in tab.linking.target.label and "LLC/Inc." in tab.linking.target.label
    _select(tab, LONELY, "unmatched in Liscio")
    assert tab.linking.target.value == NO_TARGET  # nothing close: a person must choose
    assert tab.linking.target.label.startswith("(")
    tab.linking.link_button.click()
    assert "Choose a record" in tab.linking.result.value
    assert session.store.link_for(Kind.ACCOUNTS, liscio_id=tab.selected_row()["liscio_id"]) is None
    tab.linking.target_search.value = "quixotic zebra"  # one record found: it is chosen
    assert tab.linking.target.label.startswith(IPM_NAME)


def test_preselect_rules():
    rec = Record(side=Side.IPM, kind=Kind.ACCOUNTS, id="k", name="N")

    def s(reason, score, tie=False, id="k"):
        return Suggestion(id=id, name="N", score=score, reason=reason, tie=tie, record=rec)

    assert preselect([]) == NO_TARGET
    assert preselect([s(Reason.SAME_NAME, 100)]) == "k"
    assert preselect([s(Reason.SAME_EMAIL, 97)]) == "k"
    assert preselect([s(Reason.SAME_NAME, 100, tie=True)]) == NO_TARGET
    assert preselect([s(Reason.SIMILAR, 67)]) == NO_TARGET
    assert preselect([s(Reason.CLOSE_SPELLING, 90)]) == NO_TARGET
    assert preselect([s(Reason.CONTAINS, 60)], searched=True) == "k"
    assert (
        preselect([s(Reason.CONTAINS, 60), s(Reason.CONTAINS, 60, id="j")], searched=True)
        == NO_TARGET
    )


def test_link_says_what_it_did_in_names_and_not_a_match_is_not_suggested_again(session):
    tab = session.first_app.details.tabs[Kind.ACCOUNTS]
    row = _select(tab, LISCIO_NAME, "unmatched in Liscio", search="quixotic")
    tab.linking.not_match_button.click()
    text = tab.linking.result.value
    assert "pm-msg-success" in text and "not a match" in text
    assert row["liscio_id"] not in text  # names, not ids
    _select(tab, LISCIO_NAME, "unmatched in Liscio", search="quixotic")
    assert all(s.name != IPM_NAME for s in tab.linking.suggestions)
    tab.linking.target_search.value = "quixotic zebra"  # a search still finds it
    assert tab.linking.target.label.startswith(IPM_NAME)
    tab.linking.link_button.click()
    assert "IPM" in tab.linking.confirm_text.value and "555-0177" in tab.linking.confirm_text.value
    tab.linking.confirm_button.click()
    text = tab.linking.result.value
    assert "pm-msg-success" in text, text
    assert "Linked" in text and "(Liscio)" in text and "(IPM)" in text
    assert "Wrote IPM phone" in text and row["liscio_id"] not in text
    link = session.store.link_for(Kind.ACCOUNTS, liscio_id=row["liscio_id"])
    assert link is not None and link.ipm_key not in text
    tab.status.value = "linked"
    [shown] = [r for r in tab.page_rows if r["liscio_id"] == row["liscio_id"]]
    assert shown["IPM phone"] == "555-0177"


def test_created_in_ipm_shows_linked_on_a_new_page(session):
    tab = session.first_app.details.tabs[Kind.ACCOUNTS]
    _select(tab, LONELY, "unmatched in Liscio")
    tab.linking.create_ipm_button.click()
    assert "Created" in tab.linking.result.value and "in IPM" in tab.linking.result.value
    app = Workbench(session)  # a new kernel: the new record is not in the cached list rows
    app.details.load()
    other = app.details.tabs[Kind.ACCOUNTS]
    other.search.value = LONELY
    assert [(r["status"], r["IPM phone"]) for r in other.page_rows] == [("linked", "555-0177")]


def test_summary_and_last_run_are_in_words(session):
    app = session.first_app
    assert "Pairs linked" in app.sync.summary.value
    assert "IPM fields updated from Liscio" in app.sync.summary.value
    assert "Sync finished" in app.sync.status.value
    app.connection.refresh()
    line = app.connection.last_sync.value
    assert line.startswith("<p>Last action:") and "UTC" in line and "_" not in line


def test_short_time():
    assert short_time("2026-11-26T14:46:47.043159Z") == "2026-11-26 14:46"
    assert short_time(None) == "" and short_time(float("nan")) == ""
    assert short_time("yesterday") == "yesterday"


def test_a_written_ipm_value_newer_than_the_cached_row_is_shown():
    from pmtools.engine.known import overlay_writes

    rec = Record(
        side=Side.IPM,
        kind=Kind.ACCOUNTS,
        id="k1",
        name="A",
        phone="1",
        modified_at="2026-01-01T00:00:00Z",
    )
    later = Record(
        side=Side.IPM,
        kind=Kind.ACCOUNTS,
        id="k2",
        name="B",
        phone="1",
        modified_at="2026-03-01T00:00:00Z",
    )
    addr = Address(line1="1 Main St", city="Boise")
    changes = [
        {
            "side": "ipm",
            "kind": "accounts",
            "ipm_key": "k1",
            "field": "phone",
            "after": "2",
            "updated_at": "2026-02-01T00:00:00.000000Z",
        },
        {
            "side": "ipm",
            "kind": "accounts",
            "ipm_key": "k1",
            "field": "address",
            "after": addr,
            "updated_at": "2026-02-01T00:00:00.000000Z",
        },
        {
            "side": "ipm",
            "kind": "accounts",
            "ipm_key": "k2",
            "field": "phone",
            "after": "2",
            "updated_at": "2026-02-01T00:00:00.000000Z",
        },  # IPM changed it since: kept
        {
            "side": "liscio",
            "kind": "accounts",
            "ipm_key": "k1",
            "field": "phone",
            "after": "9",
            "updated_at": "2026-02-02T00:00:00.000000Z",
        },  # a Liscio write: not IPM's value
    ]
    out = overlay_writes(Kind.ACCOUNTS, [rec, later], changes)
    assert [(r.phone, r.address) for r in out] == [("2", addr), ("1", None)]


def test_a_service_down_is_said_in_a_sentence_and_the_log_has_the_request(tmp_path):
    s = open_session(Settings(state_path=tmp_path / "state.sqlite"))
    try:
        app = Workbench(s)
        app.details.load()
        tab = app.details.tabs[Kind.ACCOUNTS]
        _select(tab, tab.page_rows[0]["Liscio name"] or tab.page_rows[0]["IPM name"])
        s.sandbox.stop()
        s.sandbox = None
        app.sync.sync_now.click()
        assert app.sync.wait(WAIT)
        status = app.sync.status.value
        assert "pm-msg-error" in status and "could not be reached" in status
        assert "GET" not in status and "Errno" not in status  # the request is in the log
        assert all(b.icon != "spinner" for b in app.sync.stages.values())
        assert "Stopped during" in app.sync.progress_text.value
        assert any("GET" in line and "ERROR" in line for line in app.log_panel.lines)
        first_shown = app.log_panel.view.value.split("\n", 1)[0]
        assert esc(app.log_panel.lines[-1]) in first_shown  # newest on top
        action = "create_liscio_button" if tab.selected_row()["IPM name"] else "create_ipm_button"
        getattr(tab.linking, action).click()
        assert "Creating in" in tab.linking.result.value, tab.linking.result.value
    finally:
        s.close()


def test_a_preview_does_not_turn_the_stages_blue(tmp_path):
    s = open_session(Settings(state_path=tmp_path / "state.sqlite"))
    try:
        app = Workbench(s)
        app.sync.preview_first.value = True
        app.sync.sync_now.click()
        assert app.sync.wait(WAIT)
        assert app.sync.preview_box.layout.display != "none"
        assert "Every write" in app.sync.preview.value
        assert all("pm-stage-done" not in b._dom_classes for b in app.sync.stages.values())
        assert "nothing written" in app.sync.progress_text.value
        app.sync.apply_button.click()
        assert app.sync.wait(WAIT)
        assert all("pm-stage-done" in b._dom_classes for b in app.sync.stages.values())
    finally:
        s.close()


def test_no_rows_says_so(session):
    tab = session.first_app.details.tabs[Kind.ACCOUNTS]
    tab.status.value = ""
    tab.search.value = "no such name qqqzzz"
    assert tab.page_rows == [] and "No rows match" in tab.page_label.value


def test_disconnect_asks_with_the_number_of_links(session):
    app = session.first_app
    app.disconnect.disconnect_button.click()
    links = len(session.store.links())
    assert (
        f"all {links} links" in app.disconnect.question.value
        and "Nothing is written" in app.disconnect.question.value
    )
    app.disconnect.keep_button.click()
    assert app.disconnect.confirm_box.layout.display == "none"
    assert len(session.store.links()) == links


def test_records_of_the_same_name_are_told_apart_in_the_targets(session):
    tab = session.first_app.details.tabs[Kind.CONTACTS]
    tab.search.value = ""
    tab.status.value = "ambiguous"
    index = next(i for i, r in enumerate(tab.page_rows) if r["Liscio name"])
    tab.select_row(index)
    name = tab.page_rows[index]["Liscio name"]
    same = [label for label, _ in tab.linking.target.options if label.startswith(name + " · ")]
    assert len(same) >= 2 and len(set(same)) == len(same), same
    for i, row in enumerate(tab.page_rows):  # ambiguous: a person chooses, from either side
        tab.select_row(i)
        assert tab.linking.suggestions and tab.linking.target.value == NO_TARGET, row


def test_a_person_is_found_as_last_comma_first(session):
    tab = session.first_app.details.tabs[Kind.CONTACTS]
    tab.status.value = ""
    tab.search.value = "john smith"
    expected = {(r["liscio_id"], r["ipm_key"]) for r in tab.page_rows}
    assert expected
    tab.search.value = "Smith, John"  # IPM lists people so
    assert {(r["liscio_id"], r["ipm_key"]) for r in tab.page_rows} == expected
    accounts = session.first_app.details.tabs[Kind.ACCOUNTS]
    accounts.search.value = "Widgets, Inc"  # an organization's comma is its own
    assert any(r["IPM name"] == IPM_NAME for r in accounts.page_rows)
