"""The one CSV cell rule: formula-like text is shown as text, numbers stay numbers."""

import math

import pytest

from core.spreadsheet import spreadsheet_cell


@pytest.mark.parametrize("text", ["=1+1", "+1+cmd|' /C calc'!A0", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "-", "="])
def test_formula_like_text_gets_a_leading_apostrophe(text):
    assert spreadsheet_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["-0.25", "+3", "-1e5", "-12", "普通文本", "'=already quoted", "a=b", "", " =1"])
def test_plain_numbers_and_ordinary_text_are_written_as_they_are(value):
    assert spreadsheet_cell(value) == value


def test_non_text_values():
    assert spreadsheet_cell(-3) == -3 and spreadsheet_cell(-0.5) == -0.5
    assert spreadsheet_cell(None) == "" and spreadsheet_cell(math.nan) == "" and spreadsheet_cell(math.inf) == ""


def test_a_row_is_its_cells():
    from core.spreadsheet import spreadsheet_row

    values = ["=1+1", "-0.5", "文本", "", None, 3, -2.5, math.nan, "@x", "\tx", "'=x"]
    assert spreadsheet_row(values) == [spreadsheet_cell(v) for v in values]
