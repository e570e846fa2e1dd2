"""Every text of every shipped language, rendered with sample values: each date of the year's twelve months,
each count a plural rule tells apart (0, 1, 2, 3, 5, 11, 21, 101).

What it checks, for each rendering: every placeholder is filled; the plural form the language's CLDR rule
picks for the count exists in the file; and no English word is left in a text that is not English (a
small allow-list keeps names, units and the words a clinic types as they are: Telegram, QR, CSV…).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from messages.catalog import (
    REFERENCE_LOCALE,
    Plural,
    babel_locale,
    html_to_plain,
    load_catalog,
    placeholders_of,
    plural_categories,
    text_placeholders,
)

CATALOG = load_catalog()
SHIPPED = ("en", "es", "ru", "uk", "pt", "tr", "ar")
COUNTS = (0, 1, 2, 3, 5, 11, 21, 101)
DATES = tuple(datetime(2026, month, 6 + month, 9, 30) for month in range(1, 13))
# Placeholders whose value is a date, and those whose value is a span of time (both from Babel, in the language).
DATE_VALUES = {"date", "end", "expires", "next_window_end", "next_window_start", "previous", "recorded", "session_date",
               "session_time", "start", "until", "when"}
SPAN_VALUES = {"waited", "median", "p90", "duration", "valid_for", "session_length"}
RELATIVE_VALUES = {"ago", "relative"}
# Values that read the same in every language; whatever else a text takes is the number 7.
SAMPLE = {"name": "Anna", "clinic_name": "Sol", "clinic_phone": "+34 600 000 000", "emergency_phone": "112",
          "url": "https://t.me/x", "link": "https://t.me/x", "staff_name": "Luis", "who": "Luis", "author": "Luis",
          "zone": "Europe/Madrid", "patient_zone": "Europe/Madrid", "query": "Ana", "value": "12",
          "local_time": "10:00", "quiet_start": "21:00", "quiet_end": "08:00", "icon": "💬"}
# Texts made of other texts: filled with that text in the same language.
NESTED = {"booking_line": ("booking_line", {"url": "https://t.me/x"}), "stale_note": ("enroll_stale_note", {"stale": 2}),
          "period": ("stats_period", {"days": 30})}

# Words that may stand in any language: names of things a clinic types or sees as they are (commands, options,
# input keywords the parser reads), units, and the loanwords these languages use for them ("bot", "chat").
ALLOWED = {"telegram", "qr", "csv", "id", "ids", "url", "http", "https", "html", "api", "json", "ics", "pdf", "fhir",
           "ok", "env", "botfather", "anna", "sol", "luis", "ana", "europe", "madrid", "min", "h", "d", "iso", "utc",
           "pgic", "now", "yesterday", "ago", "bot", "chat", "online", "sauna", "peeling", "microneedling", "laser",
           "flash", "video", "stickers", "link", "links"}
# English words that are also ordinary words of a shipped language (Spanish "has", Portuguese "data", Turkish "not").
HOMOGRAPHS = {
    "es": {"has", "notes", "normal", "plan", "personal", "pus", "control", "son", "once", "red", "solo", "sin", "era",
           "fin", "con", "las", "los", "una", "hay"},
    "pt": {"continue", "data", "for", "item", "local", "normal", "use", "pus", "mais", "tem", "pode", "sem", "bom",
           "com", "nas", "nos", "para", "por", "que", "seu", "sua", "uma", "via", "code", "console", "status"},
    "tr": {"form", "not", "bir", "son", "var", "ile", "her", "can", "kim", "hem", "ama", "sen", "tek", "iki"},
}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def _english_words() -> set[str]:
    """The words the English texts use: what a text left untranslated would bring along."""
    words: set[str] = set()
    for table in CATALOG.texts[REFERENCE_LOCALE].values():
        for text in table.values():
            forms = text.forms.values() if isinstance(text, Plural) else (text,)
            for form in forms:
                words |= {word.lower().strip("'") for word in _WORD.findall(re.sub(r"\{\w+\}|<[^>]+>", " ", form))}
    return {word for word in words if len(word) > 1}


ENGLISH = _english_words()


def _values(locale: str, names: set[str], moment: datetime) -> dict[str, object]:
    values: dict[str, object] = {}
    for name in names:
        if name in NESTED:
            key, inner = NESTED[name]
            values[name] = CATALOG.bot(locale, key, **inner)
        elif name in DATE_VALUES:
            values[name] = CATALOG.format_date(locale, moment, with_time=moment.month % 2 == 0)
        elif name in RELATIVE_VALUES:
            values[name] = CATALOG.format_relative(locale, timedelta(days=moment.month - 6))
        elif name in SPAN_VALUES:
            values[name] = CATALOG.format_duration(locale, timedelta(hours=moment.month, minutes=5))
        else:
            values[name] = SAMPLE.get(name, 7)
    return values


def renderings(locale: str):
    """(section, key, count, text) for every text of ``locale``, over the twelve months and, for a plural, the counts."""
    for section, table in CATALOG.texts[REFERENCE_LOCALE].items():
        for key in table:
            text = CATALOG.texts[locale][section][key]
            names = text_placeholders(text)
            for index, moment in enumerate(DATES):
                values = _values(locale, names, moment)
                counts = COUNTS if isinstance(text, Plural) else (None,)
                for count in counts:
                    if count is not None:
                        values[text.by] = count
                    yield section, key, count, CATALOG.render(locale, section, key, **values)
                if not names & DATE_VALUES and index == 0:
                    break  # the months only matter to a text that shows a date


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_text_renders_with_every_placeholder_filled(locale):
    rendered = 0
    for section, key, count, text in renderings(locale):
        assert not re.search(r"[{}]", text), (locale, section, key, count, text)
        rendered += 1
    assert rendered > len(CATALOG.texts[REFERENCE_LOCALE]["bot"])


@pytest.mark.parametrize("locale", SHIPPED)
def test_each_count_takes_a_plural_form_the_file_has(locale):
    plurals = [(section, key, text) for section, table in CATALOG.texts[locale].items()
               for key, text in table.items() if isinstance(text, Plural)]
    assert plurals, "the shipped texts speak of counts"
    rule = babel_locale(locale).plural_form
    for section, key, text in plurals:
        assert set(text.forms) == set(plural_categories(locale)), (locale, section, key)
        for count in COUNTS:
            assert rule(count) in text.forms, (locale, section, key, count)
            rendered = CATALOG.render(locale, section, key, **{name: 7 for name in text_placeholders(text)}
                                      | {text.by: count})
            assert rendered.startswith(text.forms[rule(count)].split("{")[0]), (locale, key, count)


def test_a_plural_text_copies_whole():
    import copy
    import pickle

    text = CATALOG.texts["ar"]["bot"]["withdraw_done"]
    for twin in (copy.deepcopy(text), pickle.loads(pickle.dumps(text))):
        assert isinstance(twin, Plural) and twin.forms == text.forms and twin.by == text.by


def test_one_message_is_never_messages():
    samples = {name: 7 for name in text_placeholders(CATALOG.texts["en"]["bot"]["withdraw_done"])}
    assert "(1 message cancelled)" in CATALOG.bot("en", "withdraw_done", **{**samples, "count": 1})
    assert "(2 messages cancelled)" in CATALOG.bot("en", "withdraw_done", **{**samples, "count": 2})
    # Russian's three forms, and the count written as Russian writes numbers.
    forms = {count: CATALOG.bot("ru", "withdraw_done", patient_id=7, count=count) for count in (1, 3, 5, 21, 1234)}
    assert [forms[count].split("(")[1] for count in (1, 3, 5, 21)] == [
        "отменено 1 сообщение).", "отменено 3 сообщения).", "отменено 5 сообщений).", "отменено 21 сообщение)."]
    assert "отменено 1\xa0234 сообщения)." in forms[1234]
    # Arabic's six: none, one and two say it in words, 3-10 take the plural, 11-99 and 100+ the singular.
    arabic = {count: CATALOG.bot("ar", "withdraw_done", patient_id=7, count=count) for count in (0, 1, 2, 3, 11, 101)}
    assert "لم تُلغَ أي رسالة" in arabic[0] and "رسالة واحدة" in arabic[1] and "رسالتان" in arabic[2]
    assert "3 رسائل" in arabic[3] and "11 رسالة" in arabic[11] and "101 رسالة" in arabic[101]


def english_in(locale: str, text: str) -> set[str]:
    """The English words in a rendered ``text`` of ``locale``, leaving out what is typed as it is: links, commands,
    options, code and setting names (STAFF_CHAT_ID)."""
    plain = html_to_plain(re.sub(r"https?://\S+|/\w+|<code>.*?</code>|\w+=|\w*_\w*", " ", text))
    english = ENGLISH - ALLOWED - HOMOGRAPHS.get(locale, set())
    # Words of one or two letters are left out: "a", "no", "en", "do" are words of several of these languages.
    return {word for word in _WORD.findall(plain) if len(word) > 2 and word.lower() in english}


@pytest.mark.parametrize("locale", [code for code in SHIPPED if code != REFERENCE_LOCALE])
def test_no_english_word_is_left_in_a_translation(locale):
    left = {(section, key, word) for section, key, _count, text in renderings(locale)
            for word in english_in(locale, text)}
    assert sorted(left) == []


def test_the_english_check_catches_a_sentence_left_in_english():
    assert english_in("ru", "Позвоните нам, please call <b>Sol</b> on +34 600") == {"please", "call"}
    assert english_in("tr", "Lütfen arayın: straight away") == {"straight", "away"}
    assert english_in("es", "Llama al /help o escribe <code>at=14:30</code> en Telegram") == set()


def test_dates_of_every_month_are_in_the_language():
    # The month in the case the sentence needs (Russian and Ukrainian "6 декабря", "6 грудня").
    assert CATALOG.format_date("ru", datetime(2026, 12, 6)) == "вс, 6 декабря"
    assert CATALOG.format_date("uk", datetime(2026, 12, 6)) == "нд, 6 грудня"
    for locale in SHIPPED:
        months = {CATALOG.format_date(locale, moment) for moment in DATES}
        assert len(months) == 12, locale
        if locale != REFERENCE_LOCALE:
            for moment in DATES:
                shown = CATALOG.format_date(locale, moment, with_time=True, with_year=True)
                assert not set(_WORD.findall(shown.lower())) & ENGLISH, (locale, shown)


def test_relative_times_and_spans_are_in_the_language():
    assert CATALOG.format_relative("en", timedelta(days=3)) == "in 3 days"
    assert CATALOG.format_relative("ru", timedelta(days=3)) == "через 3 дня"
    assert CATALOG.format_relative("ru", -timedelta(minutes=5)) == "5 минут назад"
    assert CATALOG.format_relative("tr", -timedelta(minutes=5)) == "5 dakika önce"
    assert CATALOG.format_duration("en", timedelta(hours=1, minutes=30)) == "1 hr 30 mins"
    assert CATALOG.format_duration("uk", timedelta(days=2, hours=3, minutes=4)) == "2 дн. 3 год"
    assert CATALOG.format_span("ru", timedelta(days=7), "day") == "7 дней"
    assert CATALOG.format_span("ar", timedelta(hours=12), "hour") == "12 ساعة"
    assert CATALOG.format_number("es", 12345) == "12.345"
    assert CATALOG.format_percent("tr", 0.456) == "%46"


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_plural_form_keeps_the_texts_other_placeholders(locale):
    # A form may say its number in words (Arabic "رسالتان", two messages), but never drops the name or the phone.
    for section, table in CATALOG.texts[locale].items():
        for key, text in table.items():
            if not isinstance(text, Plural):
                continue
            english = text_placeholders(CATALOG.texts[REFERENCE_LOCALE][section][key])
            for category, form in text.forms.items():
                assert placeholders_of(form) | {text.by} == english, (locale, key, category)
