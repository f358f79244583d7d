"""Reports: formula-injection neutralising, fixed headers, Excel layout, pairs statuses."""

import csv
import io

import pandas as pd
import pytest
from openpyxl import load_workbook

from pmtools.reports import (
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
    assert neutralize(lead + "HYPERLINK(\"x\")") == "'" + lead + "HYPERLINK(\"x\")"


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
    text = report_bytes(_evil_frame(), "csv").decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["Liscio Contact Name", "Count"]
    cells = [r[0] for r in rows[1:]]
    for lead, cell in zip(TRIGGERS, cells):
        assert cell == "'" + lead + "cmd|' /C calc'!A0"
    assert cells[-2:] == ["'-5", "Plain"]
    for row in rows:
        for cell in row:
            assert not cell.startswith(tuple(TRIGGERS))


def test_xlsx_cells_are_neutralised_and_never_formulas(tmp_path):
    path = write_report(_evil_frame(), tmp_path / "r.xlsx", "xlsx")
    ws = load_workbook(path).active
    values = [c.value for c in ws["A"][1:]]
    for lead, value in zip(TRIGGERS, values):
        # XML reads a stored carriage return back as a line feed; the quote is what matters.
        assert value == ("'" + lead + "cmd|' /C calc'!A0").replace("\r", "\n")
    assert values[-2:] == ["'-5", "Plain"]
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f"
            assert not str(cell.value or "").startswith(tuple(TRIGGERS))


def test_xlsx_has_header_frozen_panes_and_widths(tmp_path):
    df = pd.DataFrame([["A very long organization name that goes on and on and on and on and on",
                        "x"]], columns=["Liscio Account Name", "Liscio Phone"])
    ws = load_workbook(write_report(df, tmp_path / "r.xlsx")).active
    assert [c.value for c in ws[1]] == ["Liscio Account Name", "Liscio Phone"]
    assert ws.freeze_panes == "A2"
    assert ws[1][0].font.bold
    a, b = ws.column_dimensions["A"].width, ws.column_dimensions["B"].width
    assert 40 < a <= 60          # wide for long text, capped
    assert len("Liscio Phone") <= b < 30


def test_csv_keeps_unicode_and_no_bom(tmp_path):
    df = pd.DataFrame({"Liscio Account Name": ["Müller & Søn"]})
    data = write_report(df, tmp_path / "r.csv").read_bytes()
    assert data.startswith(b"Liscio Account Name")
    assert "Müller & Søn" in data.decode("utf-8")


def test_unknown_format_is_a_config_error(tmp_path):
    from pmtools.errors import ConfigError
    with pytest.raises(ConfigError):
        report_bytes(pd.DataFrame(), "pdf")


def test_header_orders_are_exact():
    assert report_columns("contacts") == (
        "Liscio Contact Name", "Liscio Contact Title", "Liscio Contact Primary Email",
        "IPM Contact Name", "IPM Contact Title", "IPM Contact Primary Email",
        "Status", "Linked How", "Last Synced") == CONTACT_COLUMNS
    assert report_columns("accounts") == (
        "Liscio Account Name", "Liscio Address", "Liscio Phone", "Liscio Website",
        "IPM Organization Name", "IPM Address", "IPM Phone", "IPM Website",
        "Status", "Linked How", "Last Synced") == ACCOUNT_COLUMNS
