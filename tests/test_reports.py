"""Reports: formula-injection neutralising (CSV), text cells (XLSX), fixed headers, Excel
layout, pairs statuses."""

import csv
import io
import zipfile
from datetime import datetime

import pandas as pd
import pytest
from openpyxl import load_workbook

from pmtools.analysis.reports import (
    ACCOUNT_COLUMNS,
    CONTACT_COLUMNS,
    neutralize,
    report_bytes,
    report_columns,
    write_report,
)

TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]


@pytest.mark.parametrize("lead", TRIGGERS)
def test_neutralize_prefixes_every_trigger(lead):
    assert neutralize(lead + 'HYPERLINK("x")') == "'" + lead + 'HYPERLINK("x")'


@pytest.mark.parametrize("value", ["Acme", "", " =x", "'=x", "a=b", "555-1234", None])
def test_neutralize_leaves_safe_values(value):
    assert neutralize(value) == value


def test_negative_numbers_are_neutralised_too():
    # A spreadsheet cannot tell "-5" from a formula by its first character: quote both.
    assert neutralize("-5") == "'-5"
    assert neutralize(-5) == "'-5"
    assert neutralize(5) == 5


def _evil_frame():
    names = [lead + "cmd|' /C calc'!A0" for lead in TRIGGERS] + ["-5", "Plain"]
    return pd.DataFrame({"Liscio Contact Name": names, "Count": list(range(len(names)))})


def test_csv_cells_are_neutralised():
    text = report_bytes(_evil_frame(), "csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["Liscio Contact Name", "Count"]
    cells = [r[0] for r in rows[1:]]
    for lead, cell in zip(TRIGGERS, cells):
        assert cell == "'" + lead + "cmd|' /C calc'!A0"
    assert cells[-2:] == ["'-5", "Plain"]
    for row in rows:
        for cell in row:
            assert not cell.startswith(tuple(TRIGGERS))


def test_xlsx_cells_are_text_as_they_are_never_formulas(tmp_path):
    path = write_report(_evil_frame(), tmp_path / "r.xlsx", "xlsx")
    ws = load_workbook(path).active
    values = [c.value for c in ws["A"][1:]]
    for lead, value in zip(TRIGGERS, values):
        # A carriage return is written escaped (XML would read it back as a line feed).
        assert value == (lead + "cmd|' /C calc'!A0").replace("\r", "\\r")
    assert values[-2:] == ["-5", "Plain"]  # shown as it is: no quote in a text cell
    for row in ws.iter_rows(min_row=2):
        assert row[0].data_type == "s" and row[1].data_type == "n"
    with zipfile.ZipFile(path) as z:  # no formula anywhere in the file
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()


def test_xlsx_shows_a_phone_as_it_is(tmp_path):
    df = pd.DataFrame({"Liscio Phone": ["+1 555 0100", "-5", "=1+1"]})
    ws = load_workbook(write_report(df, tmp_path / "r.xlsx")).active
    assert [(c.value, c.data_type) for c in ws["A"][1:]] == [
        ("+1 555 0100", "s"),
        ("-5", "s"),
        ("=1+1", "s"),
    ]


def test_xlsx_has_header_frozen_panes_and_widths(tmp_path):
    df = pd.DataFrame(
        [["A very long organization name that goes on and on and on and on and on", "x"]],
        columns=["Liscio Account Name", "Liscio Phone"],
    )
    ws = load_workbook(write_report(df, tmp_path / "r.xlsx")).active
    assert [c.value for c in ws[1]] == ["Liscio Account Name", "Liscio Phone"]
    assert ws.freeze_panes == "A2"
    assert ws[1][0].font.bold
    a, b = ws.column_dimensions["A"].width, ws.column_dimensions["B"].width
    assert 40 < a <= 60  # wide for long text, capped
    assert len("Liscio Phone") <= b < 30


def test_csv_keeps_unicode_behind_a_bom_for_excel(tmp_path):
    df = pd.DataFrame({"Liscio Account Name": ["Müller & Søn", "Núñez"]})
    data = write_report(df, tmp_path / "r.csv").read_bytes()
    # Excel reads a CSV without a byte order mark in the machine's code page ("NÃºÃ±ez").
    assert data.startswith(b"\xef\xbb\xbfLiscio Account Name")
    assert "Müller & Søn" in data.decode("utf-8-sig") and "Núñez" in data.decode("utf-8-sig")


def test_unknown_format_is_a_config_error(tmp_path):
    from pmtools.errors import ConfigError

    with pytest.raises(ConfigError):
        report_bytes(pd.DataFrame(), "pdf")


def test_header_orders_are_exact():
    assert (
        report_columns("contacts")
        == (
            "Liscio Contact Name",
            "Liscio Contact Title",
            "Liscio Contact Primary Email",
            "IPM Contact Name",
            "IPM Contact Title",
            "IPM Contact Primary Email",
            "Status",
            "Linked How",
            "Last Synced",
        )
        == CONTACT_COLUMNS
    )
    assert (
        report_columns("accounts")
        == (
            "Liscio Account Name",
            "Liscio Address",
            "Liscio Phone",
            "Liscio Website",
            "IPM Organization Name",
            "IPM Address",
            "IPM Phone",
            "IPM Website",
            "Status",
            "Linked How",
            "Last Synced",
        )
        == ACCOUNT_COLUMNS
    )


# -- the pairs report ------------------------------------------------------------------------

from pmtools.analysis.reports import pairs_report  # noqa: E402
from pmtools.core.plan import Link, LinkHow, LinkStatus, SyncState  # noqa: E402
from pmtools.core.records import Address, Kind, Record, Side  # noqa: E402

A, C = Kind.ACCOUNTS, Kind.CONTACTS


def _acct(side, rid, name, **kw):
    return Record(side=side, kind=A, id=rid, name=name, **kw)


def _pairs_fixture():
    liscio = [
        _acct(
            Side.LISCIO,
            "L1",
            '=HYPERLINK("http://x")',
            phone="-5",
            address=Address(line1="1 Main St", city="Springfield"),
        ),
        _acct(Side.LISCIO, "L2", "Twin"),
        _acct(Side.LISCIO, "L3", "twin"),
        _acct(Side.LISCIO, "L4", "Solo"),
        _acct(Side.LISCIO, "L5", "Archived", archived=True),
        _acct(Side.LISCIO, "L6", "Gone Partner"),
    ]
    ipm = [
        _acct(Side.IPM, "K1", "Acme Inc", phone="555", website="acme.com"),
        _acct(Side.IPM, "K2", "TWIN"),
        _acct(Side.IPM, "K9", "Only IPM"),
    ]
    state = SyncState(
        links=(
            Link(
                kind=A,
                liscio_id="L1",
                ipm_key="K1",
                how=LinkHow.MANUAL,
                first_synced_at="2026-01-01T00:00:00Z",
            ),
            Link(
                kind=A,
                liscio_id="L6",
                ipm_key="K404",
                how=LinkHow.AUTOMATIC,
                status=LinkStatus.ORPHANED,
                first_synced_at="2026-01-01T00:00:00Z",
            ),
        ),
        baseline=frozenset(),
    )
    return liscio, ipm, state


def test_pairs_report_rows_and_statuses():
    liscio, ipm, state = _pairs_fixture()
    df = pairs_report(
        "accounts", liscio=liscio, ipm=ipm, state=state, last_synced={A: "2026-02-01T00:00:00Z"}
    )
    assert tuple(df.columns) == ACCOUNT_COLUMNS
    got = [
        (r["Liscio Account Name"], r["IPM Organization Name"], r["Status"], r["Linked How"])
        for _, r in df.iterrows()
    ]
    assert got == [
        ('=HYPERLINK("http://x")', "Acme Inc", "linked", "manual"),
        ("Gone Partner", "(not found: K404)", "orphaned", "automatic"),
        ("Twin", "", "ambiguous", ""),
        ("twin", "", "ambiguous", ""),
        ("", "TWIN", "ambiguous", ""),
        ("", "Only IPM", "unmatched in IPM", ""),
        ("Solo", "", "unmatched in Liscio", ""),
    ]
    linked = df.iloc[0]
    assert linked["Liscio Address"] == "1 Main St, Springfield"
    assert linked["Liscio Phone"] == "-5" and linked["IPM Website"] == "acme.com"
    assert linked["Last Synced"] == "2026-02-01T00:00:00Z"
    assert df.iloc[1]["Last Synced"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "status, n", [("linked", 1), ("orphaned", 1), ("ambiguous", 3), ("unmatched", 2), ("all", 7)]
)
def test_pairs_report_status_filter(status, n):
    liscio, ipm, state = _pairs_fixture()
    df = pairs_report(A, liscio=liscio, ipm=ipm, state=state, status=status)
    assert len(df) == n
    if status == "unmatched":  # the status says which side's record it is
        assert set(df["Status"]) == {"unmatched in IPM", "unmatched in Liscio"}
    elif status != "all":
        assert set(df["Status"]) == {status}


def test_pairs_report_file_is_neutralised_end_to_end(tmp_path):
    liscio, ipm, state = _pairs_fixture()
    df = pairs_report(
        A,
        liscio=liscio,
        ipm=ipm,
        state=state,
        status="linked",
        last_synced={A: "2026-02-01T10:30:00.123456Z"},
    )
    rows = list(csv.reader(io.StringIO(report_bytes(df, "csv").decode("utf-8-sig"), newline="")))
    assert rows[0] == list(ACCOUNT_COLUMNS)
    assert rows[1][0] == '\'=HYPERLINK("http://x")' and rows[1][2] == "'-5"
    ws = load_workbook(write_report(df, tmp_path / "p.xlsx")).active
    assert [c.value for c in ws[1]] == list(ACCOUNT_COLUMNS)
    # XLSX: text cells shown as they are, never run
    assert ws["A2"].value == '=HYPERLINK("http://x")' and ws["A2"].data_type == "s"
    assert ws["C2"].value == "-5" and ws["C2"].data_type == "s"
    assert ws.freeze_panes == "A2"
    # Last Synced: a date-time cell (UTC), not text
    synced = ws.cell(row=2, column=ACCOUNT_COLUMNS.index("Last Synced") + 1)
    assert synced.is_date  # Excel keeps milliseconds
    assert synced.value.replace(microsecond=0) == datetime(2026, 2, 1, 10, 30, 0)
    assert "yy" in synced.number_format and "hh:mm" in synced.number_format


def test_contacts_pairs_report_columns_and_values():
    lis = [
        Record(
            side=Side.LISCIO,
            kind=C,
            id="c1",
            name="Ana Lopez",
            first_name="Ana",
            last_name="Lopez",
            title="CFO",
            email="ana@x.com",
        )
    ]
    ipm = [Record(side=Side.IPM, kind=C, id="p1", name="Lopez, Ana", title="Owner")]
    state = SyncState(links=(Link(kind=C, liscio_id="c1", ipm_key="p1", how=LinkHow.AUTOMATIC),))
    df = pairs_report("contacts", liscio=lis, ipm=ipm, state=state)
    assert tuple(df.columns) == CONTACT_COLUMNS
    assert list(df.iloc[0]) == [
        "Ana Lopez",
        "CFO",
        "ana@x.com",
        "Lopez, Ana",
        "Owner",
        "",
        "linked",
        "automatic",
        "",
    ]


def test_unknown_status_is_a_config_error():
    from pmtools.errors import ConfigError

    with pytest.raises(ConfigError):
        pairs_report(A, liscio=[], ipm=[], state=SyncState(), status="weird")


# -- the changes and errors reports ----------------------------------------------------------


def test_changes_and_errors_reports_from_a_real_run(tmp_path):
    from fakes import FakeIpm, FakeLiscio

    from pmtools.analysis.history import changes_frame, errors_frame
    from pmtools.analysis.reports import CHANGE_COLUMNS, ERROR_COLUMNS
    from pmtools.core.plan import SyncPolicy
    from pmtools.engine.sync import run_sync
    from pmtools.store import Store

    liscio, ipm = FakeLiscio(), FakeIpm()
    liscio.add(A, "Acme", phone="+1 555 0100")
    ipm.add(A, "Acme", phone="555 0199")
    liscio.add(A, "@Bad Co", website="bad.example")
    bad = ipm.add(A, "@bad co")
    ipm.reject.add(bad.id)
    with Store.open(tmp_path / "s.sqlite") as store:
        result = run_sync(
            liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy(force=True), started_by="app"
        )
        assert result.outcome == "done_with_errors"
        changes = changes_frame(store, run_id=result.run_id)
        errors = errors_frame(store)
    assert tuple(changes.columns) == CHANGE_COLUMNS
    writes = changes[changes["Action"] == "write"].set_index("Liscio Name")
    ok, failed = writes.loc["Acme"], writes.loc["@Bad Co"]
    assert (ok["Side"], ok["Field"], ok["Before"], ok["After"], ok["Status"]) == (
        "ipm",
        "phone",
        "555 0199",
        "+1 555 0100",
        "confirmed",
    )
    assert ok["Rule"] and ok["Started By"] == "app" and ok["Run"] == result.run_id
    assert failed["Status"] == "failed" and failed["IPM Name"] == "@bad co"
    assert tuple(errors.columns) == ERROR_COLUMNS
    (err,) = errors.to_dict("records")
    assert (err["Record ID"], err["Record Name"], err["Action"]) == (bad.id, "@Bad Co", "write")
    assert "rejected" in err["Message"]
    rows = list(csv.reader(io.StringIO(report_bytes(changes, "csv").decode(), newline="")))
    (phone,) = [r for r in rows if r[4] == "Acme" and r[3] == "write"]
    assert phone[11] == "'+1 555 0100"
    assert any(r[4] == "'@Bad Co" for r in rows)


# -- fetch_records: reusing the cards the last sync kept -----------------------------------


def _synced_firm(tmp_path):
    """A firm after one Sync Now that wrote nothing to IPM: three organizations with cards."""
    from fakes import FakeIpm, FakeLiscio

    from pmtools.core.plan import SyncPolicy
    from pmtools.engine.sync import run_sync
    from pmtools.store import Store

    liscio, ipm = FakeLiscio(), FakeIpm()
    for name, line1 in (("Acme", "1 Main St"), ("Birch", "2 Oak Ave"), ("Cedar", None)):
        liscio.add(A, name)
        ipm.add(A, name, address=Address(line1=line1) if line1 else None)
    store = Store.open(tmp_path / "s.sqlite")
    run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy(force=True))
    assert not ipm.field_writes and ipm.detail_loads == 3
    return liscio, ipm, store


def _addresses(ipm_recs):
    return {r.name: r.address.line1 if r.address else None for r in ipm_recs}


def test_fetch_records_reuses_unchanged_cards_and_reads_changed_ones(tmp_path):
    from pmtools.engine.fetch import fetch_records

    liscio, ipm, store = _synced_firm(tmp_path)
    with store:
        loads = ipm.detail_loads
        _, ipm_recs = fetch_records(A, liscio=liscio, ipm=ipm, store=store)
        assert ipm.detail_loads == loads  # nothing changed in IPM: no card read
        assert _addresses(ipm_recs) == {"Acme": "1 Main St", "Birch": "2 Oak Ave", "Cedar": None}
        assert all(r.details_complete for r in ipm_recs)

        birch = ipm.by_name(A, "Birch")[0]
        ipm.edit(A, birch.id, address=Address(line1="9 New Rd"))  # moves its modified_at
        _, ipm_recs = fetch_records(A, liscio=liscio, ipm=ipm, store=store)
        assert ipm.detail_loads == loads + 1
        assert _addresses(ipm_recs)["Birch"] == "9 New Rd"
        _, again = fetch_records(A, liscio=liscio, ipm=ipm, store=store)  # kept for next time
        assert ipm.detail_loads == loads + 1 and _addresses(again)["Birch"] == "9 New Rd"


def test_fetch_records_fresh_or_without_a_store_reads_every_card(tmp_path):
    from pmtools.engine.fetch import fetch_records

    liscio, ipm, store = _synced_firm(tmp_path)
    with store:
        loads = ipm.detail_loads
        _, ipm_recs = fetch_records(A, liscio=liscio, ipm=ipm, store=store, fresh=True)
        assert ipm.detail_loads == loads + 3
        _, plain = fetch_records(A, liscio=liscio, ipm=ipm)
        assert ipm.detail_loads == loads + 6
        assert _addresses(ipm_recs) == _addresses(plain)


def test_fetch_records_reads_cards_kept_more_than_a_day_ago(tmp_path):
    import sqlite3

    from pmtools.engine.fetch import fetch_records

    liscio, ipm, store = _synced_firm(tmp_path)
    with store:
        conn = sqlite3.connect(store.path)
        with conn:
            conn.execute("UPDATE ipm_details SET loaded_at = '2000-01-01T00:00:00.000000Z'")
        conn.close()
        loads = ipm.detail_loads
        fetch_records(A, liscio=liscio, ipm=ipm, store=store)
        assert ipm.detail_loads == loads + 3
        fetch_records(A, liscio=liscio, ipm=ipm, store=store)  # the cards read were kept
        assert ipm.detail_loads == loads + 3


# -- hostile cell values (issue 8 §5) ---------------------------------------------------------
HOSTILE_CELLS = [
    "Nul\x00Name",
    "Esc\x1b[2J",
    "Bell\x07\x08",
    "lone\ud800surrogate",
    "\ufffe\uffff",
    "evil\u202eCLL",
    "zero\u200bwidth",
    "x" * 40_000,
    '=HYPERLINK("http://evil.example")',
    "\u0301",
    "👩‍💻",
    "שלום",
]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_no_cell_fails_a_report_and_controls_are_written_visibly(fmt, tmp_path):
    df = pd.DataFrame(
        {"Liscio Account Name": HOSTILE_CELLS, "Last Synced": ["not a time"] * len(HOSTILE_CELLS)}
    )
    path = write_report(df, tmp_path / f"r.{fmt}")
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"), newline="")))
        got = [r[0] for r in rows[1:]]
        assert got[-4][0] == "'"  # the CSV still neutralises
        got[-4] = got[-4][1:]
    else:
        ws = load_workbook(path).active
        got = [c.value for c in ws["A"][1:]]
        assert [c.value for c in ws["B"][1:]] == ["not a time"] * len(HOSTILE_CELLS)
    assert got[:5] == [
        "Nul\\x00Name",
        "Esc\\x1b[2J",
        "Bell\\x07\\x08",
        "lone\\ud800surrogate",
        "\\ufffe\\uffff",
    ]
    assert got[5:7] == ["evil\u202eCLL", "zero\u200bwidth"]  # data as it is
    assert got[8:] == HOSTILE_CELLS[8:]
    if fmt == "xlsx":  # Excel holds 32,767 characters in a cell: cut, and said so
        assert len(got[7]) == 32_767 and got[7].endswith("(cut: 40,000 characters)")
    else:
        assert got[7] == "x" * 40_000
