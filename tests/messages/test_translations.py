"""Every shipped language is complete: each text of English exists, with the same placeholders and tags, and renders.

The loader already refuses a translation that invents a placeholder; these checks go further for the
files we ship: a translation may not drop a placeholder (a patient would lose the clinic's phone
number) nor a tag, and no text may be left to fall back to English.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime

import pytest

from messages.catalog import DEFAULTS_DIR, REFERENCE_LOCALE, html_to_plain, load_catalog, placeholders_of

CATALOG = load_catalog()
TRANSLATIONS = ("es", "ru", "uk", "pt", "tr", "ar")
# Values that are the same in every language: a name, a number, a link.
SAMPLE = {"name": "Anna K", "clinic_name": "Glow Skin", "clinic_phone": "+34 600 000 000", "url": "https://x.example/b",
          "booking_url": "https://x.example/b", "booking_line": "Book: https://x.example/b", "patient_id": 12, "old_id": 7}
# Words many languages spell as English does (units, "No"): a text made only of them may stay alike.
SAME_WORDS = {"min", "h", "d", "No"}
_TAG = re.compile(r"</?([a-z-]+)[^>]*>")


def texts_of(locale: str):
    for section, table in CATALOG.texts[REFERENCE_LOCALE].items():
        for key in table:
            yield section, key, CATALOG.texts[locale][section].get(key)


def test_every_translation_is_shipped():
    assert set(CATALOG.locales) == {REFERENCE_LOCALE, *TRANSLATIONS}


@pytest.mark.parametrize("locale", TRANSLATIONS)
def test_a_translation_has_every_text_of_english(locale):
    assert not [entry for entry in CATALOG.missing if entry[0] == locale]
    assert [(section, key) for section, key, text in texts_of(locale) if text is None] == []
    # And no key English does not have: a misspelt key would be dead text while English is sent.
    extra = [(section, key) for section, table in CATALOG.texts[locale].items() for key in table
             if key not in CATALOG.texts[REFERENCE_LOCALE][section]]
    assert extra == []


@pytest.mark.parametrize("locale", TRANSLATIONS)
def test_a_translation_keeps_every_placeholder_and_tag(locale):
    english = CATALOG.texts[REFERENCE_LOCALE]
    for section, key, text in texts_of(locale):
        reference = english[section][key]
        assert placeholders_of(text) == placeholders_of(reference), (locale, section, key)
        assert sorted(_TAG.findall(text)) == sorted(_TAG.findall(reference)), (locale, section, key)
        # A line made of one placeholder alone is dropped when that value is empty: keep such lines alone.
        lone = {line.strip() for line in reference.split("\n") if re.fullmatch(r"\s*\{\w+\}\s*", line)}
        assert lone <= {line.strip() for line in text.split("\n")}, (locale, section, key)


@pytest.mark.parametrize("locale", TRANSLATIONS)
def test_every_text_renders_with_sample_values(locale):
    for section, key, _text in texts_of(locale):
        values = {name: SAMPLE.get(name, f"<{name}>") for name in placeholders_of(_text)}
        rendered = CATALOG.render(locale, section, key, **values)
        assert "{" not in rendered and "}" not in rendered, (locale, section, key)
        assert "<name>" not in rendered and "<clinic_name>" not in rendered  # values escaped for HTML
        assert len(rendered) < 4096, (locale, section, key)  # Telegram's limit for one message
        english = CATALOG.texts[REFERENCE_LOCALE][section][key]
        words = set(re.findall(r"[^\W\d_]+", _TAG.sub("", re.sub(r"\{\w+\}", "", english))))
        if words - SAME_WORDS:
            # A text with words of its own is not left in English (texts of values and punctuation are alike).
            assert html_to_plain(rendered) != html_to_plain(CATALOG.render("en", section, key, **values)), (
                locale, section, key)


@pytest.mark.parametrize("locale", TRANSLATIONS)
def test_weekdays_and_months_are_in_the_language(locale):
    for month in range(1, 13):
        date = CATALOG.format_date(locale, datetime(2026, month, 21 if month != 12 else 7), with_time=True)
        assert not re.search(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b", date), date
    assert CATALOG.bot(locale, "language_name") != CATALOG.bot(REFERENCE_LOCALE, "language_name")


@pytest.mark.parametrize("locale", [code for code in TRANSLATIONS if code != "es"])
def test_a_new_translation_records_who_reviewed_it(locale):
    data = tomllib.loads((DEFAULTS_DIR / "texts" / f"{locale}.toml").read_text(encoding="utf-8"))
    assert data["reviewed_by"] == ""  # shipped unreviewed: the clinic fills in its clinician


def test_brazilian_and_european_portuguese_both_take_the_portuguese_texts():
    assert CATALOG.resolve_locale("pt-br") == CATALOG.resolve_locale("pt-BR") == CATALOG.resolve_locale("pt") == "pt"
    for code in ("ru", "uk", "tr", "ar"):
        assert CATALOG.resolve_locale(code) == code
