"""Record text made safe to show: on a terminal, and in a spreadsheet cell. Pure.

Record names and values come from outside the firm and may hold anything: control characters
(NUL, ESC), right-to-left overrides, zero-width characters, lone surrogates. Shown raw they
redraw a terminal, reverse what a line says, hide characters or crash the output.

- :func:`shown` writes every character that Python's ``repr`` would escape (those that
  :meth:`str.isprintable` rejects: controls, format characters such as U+202E and U+200B,
  separators other than the space, surrogates, unassigned code points) as the same visible
  escape (``\\x1b``, ``\\u202e``), and leaves every other character as it is — so the CLI's
  output and ``pmtools explain`` (which quotes names with ``repr``) escape the same characters.
- :func:`quoted` is :func:`shown` in double quotes, for a name inside a sentence.
- :func:`for_terminal` is :func:`shown` for whole lines of output, line breaks kept (and
  :class:`TerminalFormatter` for the CLI's log lines).
- :func:`has_visible_text` says whether a text shows anything at all; a name that does not is
  an empty name (``pmtools.core.names``).
- :func:`for_cell` escapes the characters a spreadsheet file cannot hold (XML 1.0 forbids most
  C0 controls, surrogates, U+FFFE/U+FFFF; a carriage return does not survive it) and caps a
  cell at Excel's 32,767 characters.
"""

from __future__ import annotations

import logging
import re
import unicodedata

__all__ = [
    "CELL_LIMIT",
    "TerminalFormatter",
    "for_cell",
    "for_terminal",
    "has_visible_text",
    "quoted",
    "shown",
]

# Excel's limit on the characters in one cell; a longer text makes Excel "repair" the file.
CELL_LIMIT = 32_767

# Not valid in an XML 1.0 document (so neither in XLSX): openpyxl refuses C0 controls with
# IllegalCharacterError, and a lone surrogate fails when the file is encoded. A carriage return
# is valid but read back as a line feed (XML normalises line ends): escaped too, so that it
# is seen rather than silently changed.
_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Printable characters that still show nothing: the Hangul fillers and the Braille blank
# (common in "invisible" names), the combining grapheme joiner, Khmer inherent vowels, the
# Mongolian selectors and (in _blank) the variation selectors: Unicode's
# Default_Ignorable_Code_Point outside category Cf. The standard library has no such
# property, so the few are listed here.
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180b\u180c\u180d\u180f")


def _escape(char: str) -> str:
    """One character as ``repr`` escapes it (``\\n``, ``\\x00``, ``\\u202e``, ``\\U000e0001``)."""
    return repr(char)[1:-1]


def shown(text: str) -> str:
    """``text`` with every character that ``repr`` escapes written as its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def quoted(text: str | None) -> str:
    """``text`` shown in double quotes (a double quote and a backslash inside escaped)."""
    if text is None:
        return '""'
    return '"' + shown(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def for_terminal(text: str) -> str:
    """Lines of output with record text in them: :func:`shown` line by line, breaks kept."""
    if text.isprintable():
        return text
    return "\n".join(shown(line) for line in text.split("\n"))


class TerminalFormatter(logging.Formatter):
    """A log formatter whose lines are escaped for a terminal (:func:`for_terminal`)."""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted line, escaped."""
        return for_terminal(super().format(record))


def _blank(char: str) -> bool:
    if char in _BLANK:
        return True
    if not char.isprintable():  # controls, format characters, separators, surrogates
        return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp", "Zs")
    code = ord(char)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF  # variation selectors


def has_visible_text(text: str | None) -> bool:
    """True when ``text`` shows something: not only white space and invisible characters."""
    if not text:
        return False
    if text.isascii():
        return not text.isspace() and any(" " < c < "\x7f" for c in text)
    first = text[0]
    if first.isalnum() and first not in _BLANK:  # the common case (matching keys ~10^6 names)
        return True
    return any(not c.isspace() and not _blank(c) for c in text)


def for_cell(text: str, *, limit: int | None = CELL_LIMIT) -> str:
    """``text`` as a spreadsheet file can hold it: forbidden characters escaped, cut at ``limit``.

    ``limit=None`` keeps every character (CSV has no cell limit).
    """
    if _NOT_IN_XML.search(text):
        text = _NOT_IN_XML.sub(lambda m: _escape(m.group()), text)
    if limit is not None and len(text) > limit:
        note = f"… (cut: {len(text):,} characters)"
        text = text[: limit - len(note)] + note
    return text
