"""Record text made safe to show (pmtools.core.text): terminal escapes, visible names, cells."""

import pytest

from pmtools.core.text import CELL_LIMIT, for_cell, for_terminal, has_visible_text, quoted, shown

# (raw, as a terminal shows it)
SHOWN = [
    ("Acme LLC", "Acme LLC"),
    ("Núñez & Søn", "Núñez & Søn"),
    ("Zoë 👩‍💻", "Zoë 👩\\u200d💻"),
    ("Nul\x00Name", "Nul\\x00Name"),
    ("Esc\x1b[31mRed", "Esc\\x1b[31mRed"),
    ("Line\nbreak\ttab\rcr", "Line\\nbreak\\ttab\\rcr"),
    ("Del\x7f", "Del\\x7f"),
    ("C1\x9b", "C1\\x9b"),
    ("evil\u202eCLL", "evil\\u202eCLL"),
    ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
    ("zero\u200bwidth\u200c\u200d\ufeff", "zero\\u200bwidth\\u200c\\u200d\\ufeff"),
    ("lone\ud800surrogate", "lone\\ud800surrogate"),
    ("nb\xa0sp", "nb\\xa0sp"),
    ("tag\U000e0041", "tag\\U000e0041"),
    ("\u0301", "\u0301"),  # a lone combining mark is printable: shown as it is
    ("שלום עולם", "שלום עולם"),  # right-to-left script (no override) is text
]


@pytest.mark.parametrize("raw, expected", SHOWN)
def test_shown_escapes_what_repr_escapes(raw, expected):
    assert shown(raw) == expected
    # the same escapes as Python's repr, which ``pmtools explain`` quotes names with
    assert shown(raw) == repr(raw)[1:-1].replace("\\'", "'").replace("\\\\", "\\")


@pytest.mark.parametrize("raw, _", SHOWN)
def test_shown_text_encodes_and_holds_no_control_or_format_character(raw, _):
    import unicodedata

    out = shown(raw)
    out.encode("utf-8")  # a lone surrogate no longer crashes the output
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in out)


def test_quoted_and_for_terminal():
    assert quoted('say "hi"\u202e') == '"say \\"hi\\"\\u202e"'
    assert quoted(None) == '""'
    assert for_terminal("one \x1b]0;x\x07\ntwo \u202e") == "one \\x1b]0;x\\x07\ntwo \\u202e"


@pytest.mark.parametrize(
    "name, visible",
    [
        ("Acme", True),
        (" a ", True),
        ("\u0301", True),
        ("😀", True),
        ("-", True),
        ("", False),
        (None, False),
        ("   ", False),
        ("\u200b", False),
        ("\u200b\u200c\u200d\u2060\ufeff", False),
        ("\u202e\u202d", False),
        ("\x00\x1b", False),
        ("\u3164", False),
        ("\u2800 \u115f", False),
        ("\xa0\u3000", False),
        ("\ufe0f", False),
        ("\u200bA\u200b", True),
    ],
)
def test_has_visible_text(name, visible):
    assert has_visible_text(name) is visible


def test_for_cell_escapes_what_a_spreadsheet_file_cannot_hold():
    assert for_cell("a\x00b\x1bc\x08") == "a\\x00b\\x1bc\\x08"
    assert for_cell("tab\tline\n") == "tab\tline\n"  # legal in XML: kept
    assert for_cell("cr\r") == "cr\\r"  # XML would read it back as a line feed
    assert for_cell("\ud83d lone") == "\\ud83d lone"
    assert for_cell("\ufffe\uffff") == "\\ufffe\\uffff"
    assert for_cell("evil\u202eCLL") == "evil\u202eCLL"  # a cell may hold it: data as it is


def test_for_cell_cuts_at_excels_limit_and_says_so():
    long = "x" * (CELL_LIMIT + 10)
    cut = for_cell(long)
    assert len(cut) == CELL_LIMIT and cut.endswith(f"(cut: {CELL_LIMIT + 10:,} characters)")
    assert for_cell(long, limit=None) == long


def test_terminal_formatter_escapes_log_lines():
    import logging

    from pmtools.core.text import TerminalFormatter

    record = logging.LogRecord(
        "pmtools.engine.apply",
        logging.WARNING,
        __file__,
        1,
        "record error: %s",
        ("Evil \u202eCLL\x1b[2J",),
        None,
    )
    line = TerminalFormatter("%(levelname)s %(message)s").format(record)
    assert line == "WARNING record error: Evil \\u202eCLL\\x1b[2J"
