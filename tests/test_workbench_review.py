"""The review queue in the page: filters and badges, bulk preview then apply (one undoable
run), the keyboard flow, the IPM card read for a row, and the spreadsheet round trip (each bad
row named, nothing changed).

In-process against the bundled simulator over real HTTP, as ``test_workbench.py``.
"""

from __future__ import annotations

import base64
import csv
import io
import re

import pytest

from pmtools.config import Settings
from pmtools.core.records import Kind, Record, Side
from pmtools.workbench import Workbench, open_session
from pmtools.workbench.review import LOADING_CARD

WAIT = 120
PUNCT = "same name but for LLC/Inc./punctuation"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The demo firm, synced once, with the review queue built."""
    state = tmp_path_factory.mktemp("review") / "state.sqlite"
    session = open_session(Settings(state_path=state))
    session.liscio.create_record(
        Kind.CONTACTS,
        Record(
            side=Side.LISCIO,
            kind=Kind.CONTACTS,
            id="",
            name="Ingrid Vallencourt",
            first_name="Ingrid",
            last_name="Vallencourt",
            email="ingrid.v@example.net",
        ),
        external_id="r-ingrid",
    )
    session.ipm.create_record(
        Kind.CONTACTS,
        Record(
            side=Side.IPM,
            kind=Kind.CONTACTS,
            id="",
            name="Inga Vallencour",
            first_name="Inga",
            last_name="Vallencour",
            email="ingrid.v@example.net",
        ),
        external_id="r-ingrid-ipm",
    )
    wb = Workbench(session)
    wb.sync.sync_now.click()
    assert wb.sync.wait(WAIT)
    assert wb.sync.error is None, wb.sync.status.value
    wb.review.load_button.click()
    assert wb.review.wait(WAIT)
    assert wb.review.queue is not None, wb.review.message.value
    yield wb
    session.close()


def _reset(r):
    r.kind.value = r.side.value = r.status.value = r.reason.value = ""
    r.search.value = ""
    r.score.value = (0, 100)
    r.sort.value = "queue"
    r.clear_selection()


def test_filters_sort_and_badges(app):
    r = app.review
    _reset(r)
    assert "to decide" in r.badges.value and "Likely match" in r.badges.value
    total = int(re.search(r"([\d,]+) to decide", r.badges.value).group(1).replace(",", ""))
    assert total == len(r.queue)
    r.reason.value = PUNCT
    assert r.page_rows and all(row.reason == PUNCT for row in r.page_rows)
    assert PUNCT in r.table.value
    r.reason.value = ""
    r.sort.value = "score"
    scores = [row.score if row.score is not None else -1 for row in r.page_rows]
    assert scores == sorted(scores, reverse=True)
    r.score.value = (90, 100)
    shown = r.queue.select(**r.filters())
    assert shown and all(90 <= row.score <= 100 for row in shown)
    r.score.value = (0, 100)
    r.side.value = "ipm"
    assert all(row.side is Side.IPM for row in r.page_rows)
    r.side.value = ""
    r.status.value = "ambiguous"
    assert r.page_rows, "the demo firm has ambiguous names"
    row = r.page_rows[0]
    r.rows.value = (0,)
    group = r.queue.group(row.group)
    assert len(group) >= 2 and "Its ambiguous group" in r.detail.value
    for member in group:
        assert member.details in r.detail.value.replace("&#x27;", "'").replace("&amp;", "&")


def test_a_row_reads_its_ipm_card_while_saying_so(app):
    r = app.review
    _reset(r)
    # Holding the session's lock keeps every card read waiting (the one a filter change starts
    # in the background too): the page says it is loading.
    with app.session.lock:
        r.kind.value = "accounts"
        r.status.value = "likely match"
        unread = next(
            i
            for i, row in enumerate(r.page_rows)
            if r._writes(row) is not None and r._writes(row).unread
        )
        r.rows.value = (unread,)
        assert LOADING_CARD in r.detail.value
    assert r.wait(WAIT)
    assert LOADING_CARD not in r.detail.value
    assert r._writes(r.page_rows[unread]).unread == ()


def test_bulk_link_previews_then_applies_one_undoable_run(app):
    r, store = app.review, app.session.store
    _reset(r)
    r.kind.value = "accounts"
    r.reason.value = PUNCT
    r.select_shown()
    chosen = list(r.selected.values())
    assert len(chosen) >= 2 and all(row.reason == PUNCT for row in chosen)
    runs = len(store.runs())
    r.link_button.click()
    view = r.bulk.view.value
    assert "Nothing is written until you click Apply" in view and "pm-bulk-items" in view
    assert "→" in view
    assert len(store.runs()) == runs  # a preview writes nothing
    shown = r.bulk.shown
    pairs = {(i.liscio_id, i.ipm_key) for i in shown.items}
    assert pairs
    r.bulk.apply_button.click()
    assert r.bulk.wait(WAIT)
    assert "undoable" in r.bulk.summary.value, r.bulk.summary.value
    run = store.runs()[-1]
    assert run["command"] == "review" and run["outcome"] == "done"
    for lisc, ipm in pairs:
        link = store.link_for(Kind.ACCOUNTS, liscio_id=lisc)
        assert link is not None and link.ipm_key == ipm
    assert not [
        row
        for row in r.queue.select(reason=[PUNCT], kind="accounts")
        if (row.liscio_id, row.ipm_key) in pairs
    ]
    # Undo the whole run from the page.
    app.runs.show_button.click()
    assert app.runs.run_select.value == run["id"]
    app.runs.undo_button.click()
    app.runs.confirm_button.click()
    assert app.runs.wait(WAIT)
    for lisc, _ipm in pairs:
        assert store.link_for(Kind.ACCOUNTS, liscio_id=lisc) is None


def test_bulk_create_refuses_a_likely_duplicate_with_the_reason(app):
    r, store = app.review, app.session.store
    _reset(r)
    r.search.value = "Ingrid Vallencourt"
    [row] = [row for row in r.page_rows if row.side is Side.LISCIO]
    r.rows.value = (r.page_rows.index(row),)
    runs = len(store.runs())
    r.create_button.click()
    assert "pm-bulk-refused" in r.bulk.view.value and "Inga Vallencour" in r.bulk.view.value
    assert r.bulk.confirm_box.layout.display == "none"  # nothing to apply
    assert len(store.runs()) == runs


def test_keyboard_flow_moves_accepts_and_rejects(app):
    r, store = app.review, app.session.store
    _reset(r)
    r.status.value = "likely match"
    r.kind.value = "contacts"
    r.sort.value = "score"
    r.rows.value = (0,)  # a click on the first row makes it the current record
    assert r.cursor == r.page_rows[0]
    r.key_listener.press("n")
    assert r.cursor == r.page_rows[1]
    r.key_listener.press("p")
    assert r.cursor == r.page_rows[0]
    r.key_listener.press("s")  # skip: nothing decided, the next record
    assert r.cursor == r.page_rows[1]
    r.key_listener.press("p")
    row = r.cursor
    r.key_listener.press("a")  # accept the suggestion: the writes were shown in the detail
    link = store.link_for(Kind.CONTACTS, liscio_id=row.liscio_id)
    assert link is not None and link.ipm_key == row.ipm_key, r.bulk.view.value
    assert r.queue.row(row.key) is None and r.cursor != row
    nxt = r.cursor
    r.key_listener.press("x")  # not a match
    assert any(
        d.liscio_id == nxt.liscio_id and d.ipm_key == nxt.ipm_key
        for d in store.decisions(Kind.CONTACTS)
    )
    assert r.queue.row(nxt.key) is None
    r.key_listener.press("q")  # not a shortcut: nothing happens
    assert r.key_listener.pressed[-1] == "not_a_match"


def _download(html, css):
    m = re.search(rf'class="{css}" download="[^"]+" href="data:[^;]+;base64,([^"]+)"', html)
    return base64.b64decode(m.group(1))


def _csv_bytes(rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def test_spreadsheet_export_then_import_bad_rows_change_nothing(app):
    r, store = app.review, app.session.store
    _reset(r)
    r.kind.value = "contacts"
    r.status.value = ""  # every status: likely and possible matches among them
    r.sheet.export_button.click()
    assert "pm-review-download-xlsx" in r.sheet.links.value
    text = _download(r.sheet.links.value, "pm-review-download-csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    for column in (
        "Kind",
        "Side",
        "Record ID",
        "Name",
        "Status",
        "Suggested ID",
        "Suggested Name",
        "Reason",
        "Score",
        "Decision",
        "Link To",
    ):
        assert column in rows[0]
    assert len(rows) == len(r.queue.select(**r.filters()))
    # possible matches first: the likely ones are left for the tests below
    good = sorted(
        (
            dict(row)
            for row in rows
            if row["Side"] == "Liscio" and row["Status"] in ("likely match", "possible match")
        ),
        key=lambda row: row["Status"] != "possible match",
    )[:3]
    assert len(good) == 3
    for row in good:
        row["Decision"] = "link"
        if row["Status"] == "possible match":  # a look-alike: the person names it on purpose
            row["Link To"] = row["Suggested ID"]
    bad = [dict(good[0]), dict(good[1]), dict(good[2])]
    bad[0]["Record ID"] = "no-such-record"
    bad[1]["Decision"] = "maybe"
    bad[2]["Link To"] = good[1]["Record ID"]  # a Liscio id where an IPM one belongs
    links = len(store.links())
    problems = r.sheet.import_bytes("filled.csv", _csv_bytes(good[:1] + bad))
    assert problems
    shown = r.sheet.problems.value
    assert "nothing was changed" in shown and "pm-import-problems" in shown
    assert re.search(r"<td>\d+</td>", shown)  # each bad row by its number
    assert len(store.links()) == links
    dup = r.sheet.import_bytes("twice.csv", _csv_bytes([good[0], good[0]]))
    assert dup and "nothing was changed" in r.sheet.problems.value
    assert r.sheet.import_bytes("notes.txt", b"hello") is None
    assert "not an Excel" in r.sheet.problems.value
    # The good file: its effect, then applied on confirmation.
    shown = r.sheet.import_bytes("filled.csv", _csv_bytes(good))
    assert shown.items and r.bulk.confirm_box.layout.display != "none"
    assert len(store.links()) == links
    r.bulk.apply_button.click()
    assert r.bulk.wait(WAIT)
    for row in good:
        assert store.link_for(Kind.CONTACTS, liscio_id=row["Record ID"]) is not None
    again = r.sheet.import_bytes("filled.csv", _csv_bytes(good[:1]))  # already decided
    assert again.refused and "nothing was changed" in r.sheet.problems.value


def test_bulk_preview_reads_the_missing_ipm_cards_on_request(app):
    r = app.review
    _reset(r)
    r.kind.value = "accounts"
    r.status.value = "likely match"
    r.select_shown()
    r.link_button.click()
    unread = r.bulk.shown.counts()["fields_not_read"]
    assert unread, "the demo's organizations come without their address (the card)"
    assert r.bulk.cards_button.layout.display != "none"
    assert f"{unread:,} fields" in r.bulk.cards_button.description
    r.bulk.cards_button.click()
    assert r.bulk.wait(WAIT)
    assert r.bulk.shown is not None and r.bulk.shown.counts()["fields_not_read"] == 0
    assert "IPM cards read" in r.bulk.progress_text.value
    assert r.bulk.cards_button.layout.display == "none"
    r.bulk.discard_button.click()


def test_a_few_decisions_redraw_only_their_rows_in_view_details(app):
    r = app.review
    app.details.load()
    accounts = app.details.tabs[Kind.ACCOUNTS].data
    _reset(r)
    r.kind.value = "contacts"
    r.side.value = "liscio"
    r.status.value = "no candidate"
    row = r.page_rows[0]
    r.rows.value = (0,)
    r.create_button.click()
    assert r.bulk.shown is not None and r.bulk.shown.items, r.bulk.view.value
    r.bulk.apply_button.click()
    assert r.bulk.wait(WAIT)
    job = app.session.registry.last_job(app.session.firm)
    assert job.kind == "review" and not job.active
    app.sync._ended(job)  # the Sync Now panel, which follows every job, sees it end
    assert app.details.tabs[Kind.ACCOUNTS].data is accounts  # not reloaded
    table = app.details.tabs[Kind.CONTACTS].data.table
    [shown] = table[table["liscio_id"] == row.record_id].to_dict("records")
    assert shown["status"] == "linked" and shown["IPM name"], shown


def test_a_bulk_apply_can_be_cancelled(app):
    r, store = app.review, app.session.store
    _reset(r)
    r.status.value = "likely match"
    r.kind.value = "contacts"
    r.side.value = "liscio"
    r.rows.value = (0, 1)
    r.link_button.click()
    pairs = [(i.liscio_id, i.ipm_key) for i in r.bulk.shown.items]
    assert pairs
    # Holding the session's lock keeps the apply waiting until Cancel was clicked.
    with app.session.lock:
        r.bulk.apply_button.click()
        assert not r.bulk.cancel_button.disabled
        r.bulk.cancel_button.click()
    assert r.bulk.wait(WAIT)
    assert "Cancelled" in r.bulk.summary.value, r.bulk.summary.value
    assert store.runs()[-1]["outcome"] == "cancelled"
    for lisc, _ipm in pairs:
        assert store.link_for(Kind.CONTACTS, liscio_id=lisc) is None
    assert all(r.queue.row((Kind.CONTACTS, Side.LISCIO, lisc)) for lisc, _ipm in pairs)


def test_a_link_in_view_details_leaves_the_queue_and_a_sync_makes_it_old(app):
    r = app.review
    _reset(r)
    r.kind.value = "contacts"
    r.side.value = "liscio"
    r.status.value = "likely match"
    row = r.page_rows[0]
    app.details.load()
    tab = app.details.tabs[Kind.CONTACTS]
    tab.status.value = "unmatched in Liscio"
    tab.search.value = row.name
    index = next(i for i, x in enumerate(tab.page_rows) if x["liscio_id"] == row.record_id)
    tab.select_row(index)
    tab.linking.target.value = row.candidate_id
    tab.linking.link_button.click()
    tab.linking.confirm_button.click()
    assert "pm-msg-success" in tab.linking.result.value, tab.linking.result.value
    assert r.queue.row(row.key) is None
    assert r.queue.row((row.kind, Side.IPM, row.candidate_id)) is None
    app.sync.sync_now.click()
    assert app.sync.wait(WAIT)
    assert "Rebuild the queue" in r.message.value
