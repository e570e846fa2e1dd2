"""Right-to-left texts (messages/bidi.py): values isolated, lines starting right to left, HTML and links intact."""

from __future__ import annotations

import pytest

from bot.limits import MAX_TEXT, fits
from messages.bidi import FSI, PDI, RLM, directed, first_strong, is_rtl, strip
from messages.catalog import Raw, html_problem, load_catalog


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_right_to_left_locales_are_known():
    assert is_rtl("ar") and is_rtl("fa-IR") and is_rtl("he") and is_rtl("ar_EG")
    assert not is_rtl("en") and not is_rtl("ru") and not is_rtl("pt-br") and not is_rtl("tr")


def test_a_left_to_right_locale_is_filled_in_unchanged():
    assert directed("ru", "{name}, привет", {"name": "Anna"}) == "Anna, привет"


def test_a_value_is_isolated_and_a_line_starting_with_it_gets_a_right_to_left_mark():
    text = directed("ar", "{name}، مرحبًا\nجلستك {number} من {total}", {"name": "Anna", "number": "2", "total": "3"})
    first, second = text.split("\n")
    assert first == f"{RLM}{FSI}Anna{PDI}، مرحبًا"
    # The second line starts with an Arabic letter: no mark needed, the numbers isolated all the same.
    assert second == f"جلستك {FSI}2{PDI} من {FSI}3{PDI}"


def test_a_line_without_any_letter_starts_right_to_left_too():
    assert directed("ar", "شكرًا\n{when} — {phone}", {"when": "06/12", "phone": "+34 600"}).split("\n")[1] \
        == f"{RLM}{FSI}06/12{PDI} — {FSI}+34 600{PDI}"


def test_tags_and_entities_are_left_whole_and_skipped_when_finding_the_direction():
    text = directed("ar", "<b>{name}</b> &amp; فريقنا", {"name": "Tom &amp; Jerry"})
    assert text == f"{RLM}<b>{FSI}Tom &amp; Jerry{PDI}</b> &amp; فريقنا"
    assert html_problem(text) is None
    # "<b>" and "&amp;" are not letters someone reads: the Arabic after them decides.
    assert first_strong("<b>&amp; مرحبًا</b>") == "R"


def test_a_value_inside_a_tag_or_holding_a_url_gets_no_isolate():
    text = directed("ar", '<a href="{url}">احجز</a>\nللحجز: {link}', {"url": "https://cal.com/x", "link": "https://cal.com/x"})
    assert text == '<a href="https://cal.com/x">احجز</a>\nللحجز: https://cal.com/x'


def test_a_raw_link_is_isolated_outside_its_tag(catalog):
    link = Raw('<a href="https://clinic.example/privacy">https://clinic.example/privacy</a>')
    text = catalog.bot("ar", "privacy_link", link=link)
    assert 'href="https://clinic.example/privacy"' in text and html_problem(text) is None


def test_an_empty_value_still_takes_its_line_with_it(catalog):
    with_line = catalog.render("ar", "steps", "rebook_open", name="Anna", clinic_name="Sol", clinic_phone="1",
                               session_number=1, series_length=3, next_window_start="a", next_window_end="b",
                               booking_line="")
    assert not with_line.endswith("\n") and f"{FSI}{PDI}" not in with_line


def test_an_english_fallback_text_is_left_left_to_right():
    assert directed("ar", "Hello {name}", {"name": "أنا"}) == "Hello أنا"


def test_the_arabic_greeting_starts_right_to_left_with_a_latin_name(catalog):
    text = catalog.bot("ar", "start_linked", name="Anna", clinic_name="Clínica Sol")
    assert first_strong(text) == "R"
    assert f"{FSI}Anna{PDI}" in text and f"{FSI}Clínica Sol{PDI}" in text


def test_a_long_value_still_meets_the_length_limit_as_counted_after_the_marks(catalog):
    words = "x " * 2100
    text = catalog.bot("ar", "start_linked", name=words.strip(), clinic_name="Sol")
    # The limit is checked on the rendered text, marks included, as Telegram counts them.
    assert not fits(text, MAX_TEXT) and len(strip(text)) < len(text)


def test_strip_removes_every_mark():
    assert strip(f"{RLM}{FSI}Anna{PDI}\u200e") == "Anna"


def test_a_line_that_is_one_isolated_value_is_marked_too():
    # An app that skips isolates when it looks for a line's direction finds no letter there: the mark decides.
    text = directed("ar", "شكرًا\n{booking_line}", {"booking_line": "للحجز اتصل بنا"})
    assert text.split("\n")[1] == f"{RLM}{FSI}للحجز اتصل بنا{PDI}"
