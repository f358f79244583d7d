"""Hostile record text, any text at all: a hypothesis property over every code point
(controls, surrogates, bidi and zero-width characters favoured) — reports are written and
read back whole, and a terminal gets no raw control character — and names that look like
options. The end-to-end corpus is ``test_record_data.py`` beside this file."""

from __future__ import annotations

import csv
import io
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from pmtools.core.text import for_cell

RAW = ("Cc", "Cf", "Cs", "Zl", "Zp")


def _raw_chars(text: str) -> list[str]:
    """Characters a terminal should never have received raw (line breaks apart)."""
    return [c for c in text if c != "\n" and unicodedata.category(c) in RAW]


def test_a_name_starting_with_a_dash_is_a_name_not_an_option():
    from pmtools.cli import build_parser

    parser = build_parser()
    for argv, name, as_json in (
        (["explain", "accounts", "-2+3"], "-2+3", False),
        (["explain", "accounts", "-2+3", "--json"], "-2+3", True),
        (["explain", "--json", "contacts", "-x"], "-x", True),
        (["explain", "accounts", "--", "--odd"], "--odd", False),
    ):
        args = parser.parse_args(argv)
        assert (args.name_or_id, args.json) == (name, as_json)


# -- any text at all (hypothesis) ------------------------------------------------------------

# Every code point, surrogates and controls included, favouring the troublesome ones.
HOSTILE_CHARS = st.one_of(
    st.characters(codec=None, categories=("Cc", "Cf", "Cs", "Zl", "Zp", "Zs", "Mn", "Co")),
    st.characters(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(st.text(HOSTILE_CHARS, max_size=40), min_size=1, max_size=4),
    phone=st.text(HOSTILE_CHARS, max_size=20),
)
def test_any_text_makes_readable_reports_and_a_clean_terminal(names, phone):
    from pmtools.analysis.reports import pairs_report, report_bytes
    from pmtools.cli.sync import format_plan
    from pmtools.core.plan import Link, LinkHow, SyncPolicy, SyncState
    from pmtools.core.planner import plan_sync
    from pmtools.core.records import Kind, Record, Side
    from pmtools.core.text import for_terminal

    kind = Kind.ACCOUNTS
    liscio = [
        Record(side=Side.LISCIO, kind=kind, id=f"L{i}", name=n, phone=phone)
        for i, n in enumerate(names)
    ]
    ipm = [
        Record(side=Side.IPM, kind=kind, id=f"K{i}", name=n, details_complete=True)
        for i, n in enumerate(names)
    ]
    state = SyncState(
        links=(Link(kind=kind, liscio_id="L0", ipm_key="K0", how=LinkHow.MANUAL),),
        baseline=frozenset(),
    )
    df = pairs_report(kind, liscio=liscio, ipm=ipm, state=state)
    ws = load_workbook(io.BytesIO(report_bytes(df, "xlsx"))).active  # never fails, reads back
    cells = {c.value for row in ws.iter_rows() for c in row}
    assert for_cell(names[0]) in cells or not names[0]
    text = report_bytes(df, "csv").decode("utf-8-sig")  # encodes: no lone surrogate left
    assert list(csv.reader(io.StringIO(text, newline="")))
    plan = plan_sync(
        liscio={kind: liscio}, ipm={kind: ipm}, state=state, policy=SyncPolicy(kinds=(kind,))
    )
    shown_plan = for_terminal(
        format_plan(plan, {(r.side, r.kind, r.id): r.name for r in liscio + ipm})
    )
    assert _raw_chars(shown_plan) == []
    shown_plan.encode("utf-8")
