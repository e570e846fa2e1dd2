"""The edge parsers (jobs.inputs): what a person means is accepted, everything else refused with a key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs.inputs import (
    MAX_ROW_ID,
    InputRefused,
    clean_name,
    clean_query,
    echo,
    like_pattern,
    parse_row_id,
    parse_user_id,
    parse_zone,
)


@pytest.mark.parametrize("text", ["²", "١٢", "1²", "-1", "0", "99999999999999999999", "9" * 200, "", " ", "1.5", "0x10"])
def test_ids_are_ascii_digits_within_the_columns_range(text):
    with pytest.raises(InputRefused) as refused:
        parse_row_id(text, key="usage_key")
    assert refused.value.key == "usage_key"


def test_ids_people_type_are_read():
    assert parse_row_id("12", key="k") == 12
    assert parse_row_id(" #12 ", key="k") == 12
    assert parse_row_id(str(MAX_ROW_ID), key="k") == MAX_ROW_ID
    assert parse_user_id("123456789", key="k") == 123456789
    with pytest.raises(InputRefused):
        parse_row_id(str(MAX_ROW_ID + 1), key="k")
    with pytest.raises(InputRefused):
        parse_user_id(str(2**52), key="k")


@pytest.mark.parametrize(("text", "key"), [
    ("Anna\x00K", "input_bad_characters"),
    ("Anna\x07", "input_bad_characters"),
    ("\u202eKanna", "input_bad_characters"),  # right-to-left override
    ("Anna \u2066K\u2069", "input_bad_characters"),  # isolates
    ("\ud800Anna", "input_bad_characters"),  # a lone surrogate
    ("\u200b\u200c\u200d\u2060", "input_invisible_name"),  # zero-width only
    ("\u00ad", "input_invisible_name"),
    ("   ", "enroll_error_name_missing"),
    ("A" * 121, "enroll_error_name_long"),
    ("A" * 4000, "enroll_error_name_long"),
])
def test_names_that_cannot_be_stored_or_read_are_refused(text, key):
    with pytest.raises(InputRefused) as refused:
        clean_name(text)
    assert refused.value.key == key


def test_names_are_nfc_with_single_spaces():
    decomposed = "Jose\u0301  Mari\u0301a\tLópez"
    assert clean_name(decomposed) == "José María López"
    assert clean_name("Zoë 👩‍👩‍👧") == "Zoë 👩‍👩‍👧"  # joiners inside emoji are fine


@given(st.text(max_size=300))
def test_a_clean_name_is_always_storable_and_visible(text):
    try:
        name = clean_name(text)
    except InputRefused:
        return
    assert 0 < len(name) <= 120 and "\x00" not in name
    name.encode("utf-8")  # no lone surrogates


@pytest.mark.parametrize("name", ["localtime", "Factory", "posix/Europe/Madrid", "right/Europe/Madrid", "UTC",
                                  "Etc/GMT+3", "US/Eastern", "Europe/../Europe/Madrid", "x" * 5000, "Europe/Nowhere"])
def test_only_geographic_zones(name):
    with pytest.raises(InputRefused) as refused:
        parse_zone(name)
    assert len(refused.value.values["value"]) <= 40  # never the whole input back


def test_geographic_zones_are_accepted():
    assert parse_zone(" Europe/Madrid ").key == "Europe/Madrid"
    assert parse_zone("America/Argentina/Buenos_Aires").key == "America/Argentina/Buenos_Aires"


def test_like_patterns_take_wildcards_literally():
    assert like_pattern("%") == r"%\%%"
    assert like_pattern("a_b\\") == "%a\\_b\\\\%"


def test_queries_and_echoes_are_bounded():
    with pytest.raises(InputRefused) as refused:
        clean_query("x" * 5000)
    assert refused.value.key == "input_too_long"
    assert len(echo("y" * 5000)) == 40
