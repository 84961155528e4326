"""CSV cells that a spreadsheet shows as text, never runs as a formula (CSV/formula injection).

Exports carry text that users chose (account ids, usernames, URLs, post text in evidence), and
Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``, ``-`` or
``@`` (and, after a leading tab or carriage return, whatever follows) as a formula: ``=HYPERLINK(...)``
in a username would run on the analyst's machine. Such a text cell gets a leading ``'``, which
spreadsheets read as "this is text" (OWASP's advice). Numbers stay numbers: ``int``/``float``
values, and text that is exactly a number (``-5``, ``+1.5e3``), are written unchanged so
numeric columns keep sorting and summing.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def safe_cell(value: object) -> object:
    """``value`` as it should be handed to ``csv.writer``: text that could start a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value
