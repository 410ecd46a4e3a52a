"""Escaping for text we write back out as CSV (exports of imported bank text).

A bank description such as `=HYPERLINK("http://x","click")` is data to us but a formula
to a spreadsheet opening the export (OWASP "CSV injection"). Prefixing a `'` makes
Excel, LibreOffice and Google Sheets show it as text.
"""

from __future__ import annotations

from typing import Final

_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def escape_csv_cell(text: str) -> str:
    """`text` made safe to open in a spreadsheet: a leading `'` before a formula start."""
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text
