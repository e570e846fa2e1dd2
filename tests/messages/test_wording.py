"""Rules every shipped text keeps, in every shipped language: checked over the files, not one example.

- A greeting fits every hour its step can go out at (a step's window runs from its local time to its
  expiry; a step timed by an offset can go out at any hour, so it greets with no time of day).
- Days 0 and 1 after a session are said in words.
- Without a booking link no text leaves an empty line or asks the patient to pick from nothing.
- The first message of each protocol carries the common aftercare practice; the series is explained.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from messages.catalog import STEP_PLACEHOLDERS, load_catalog

CATALOG = load_catalog()
SHIPPED = ("en", "es", "ru", "uk", "pt", "tr", "ar")

# Greetings that name a time of day, and the local hours (start, end) each fits.
GREETINGS = {
    "en": [(r"good morning", (5, 12)), (r"good afternoon", (12, 18)), (r"good evening", (17, 24)),
           (r"good night", (20, 24))],
    "es": [(r"buenos días", (5, 13)), (r"buenas tardes", (13, 21)), (r"buenas noches", (20, 24))],
    "ru": [(r"доброе утро", (5, 12)), (r"добрый день", (12, 18)), (r"добрый вечер", (17, 24)),
           (r"спокойной ночи", (20, 24))],
    "uk": [(r"доброго ранку", (5, 12)), (r"добрий день", (12, 18)), (r"добрий вечір", (17, 24)),
           (r"на добраніч", (20, 24))],
    "pt": [(r"bom dia", (5, 12)), (r"boa tarde", (12, 18)), (r"boa noite", (18, 24))],
    "tr": [(r"günaydın", (5, 12)), (r"tünaydın", (12, 18)), (r"iyi akşamlar", (17, 24)), (r"iyi geceler", (20, 24))],
    "ar": [(r"صباح الخير", (5, 12)), (r"مساء الخير", (12, 24)), (r"تصبح على خير", (20, 24))],
}

# The common aftercare practice DESIGN.md lists, as each language says it.
FACTS = {
    "en": {"make-up": r"make-up", "exercise": r"heavy exercise", "sauna": r"sauna", "swimming": r"swimming",
           "sweat": r"sweat", "cleansing": r"lukewarm water", "actives": r"retinoids, acids or exfoliants",
           "picking": r"don't pick"},
    "es": {"make-up": r"maquillaje", "exercise": r"ejercicio intenso", "sauna": r"sauna", "swimming": r"piscina",
           "sweat": r"sudar", "cleansing": r"agua tibia", "actives": r"retinoides, ácidos ni exfoliantes",
           "picking": r"no te arranques"},
    "ru": {"make-up": r"макияж", "exercise": r"интенсивных тренировок", "sauna": r"сауны", "swimming": r"бассейна",
           "sweat": r"потеете", "cleansing": r"тёплой \(не горячей\) водой",
           "actives": r"ретиноиды, кислоты и отшелушивающие средства", "picking": r"не сдирайте"},
    "uk": {"make-up": r"макіяж", "exercise": r"інтенсивних тренувань", "sauna": r"сауни", "swimming": r"басейну",
           "sweat": r"пітнієте", "cleansing": r"теплою \(не гарячою\) водою",
           "actives": r"ретиноїди, кислоти та відлущувальні засоби", "picking": r"не здирайте"},
    "pt": {"make-up": r"maquiagem", "exercise": r"exercícios intensos", "sauna": r"sauna", "swimming": r"piscina",
           "sweat": r"suar", "cleansing": r"água morna", "actives": r"retinoides, ácidos ou esfoliantes",
           "picking": r"não arranque"},
    "tr": {"make-up": r"makyaj", "exercise": r"ağır egzersiz", "sauna": r"sauna", "swimming": r"yüzme",
           "sweat": r"terletecek", "cleansing": r"ılık su", "actives": r"retinoid, asit veya peeling ürünleri",
           "picking": r"koparmayın"},
    "ar": {"make-up": r"مكياج", "exercise": r"التمارين الشاقة", "sauna": r"الساونا", "swimming": r"السباحة",
           "sweat": r"التعرّق", "cleansing": r"بماء فاتر", "actives": r"ريتينويدات أو أحماض أو مقشّرات",
           "picking": r"دون نزعها"},
}
SERIES = {"en": r"3 to 6 sessions, each 4 to 6 weeks", "es": r"de 3 a 6 sesiones, cada una de 4 a 6 semanas",
          "ru": r"из 3–6 процедур с интервалом 4–6 недель", "uk": r"з 3–6 процедур з інтервалом 4–6 тижнів",
          "pt": r"de 3 a 6 sessões, cada uma de 4 a 6 semanas",
          "tr": r"3 ila 6 seanstan oluşur ve her seans bir öncekinden 4 ila 6 hafta sonra",
          "ar": r"من 3 إلى 6 جلسات، بين كل جلسة والتي تليها 4 إلى 6 أسابيع"}
# How a rebooking text offers the phone, the booking link being optional.
CALL_US = {"en": r"call us on PHONE", "es": r"llámanos al PHONE", "ru": r"позвоните нам по телефону PHONE",
           "uk": r"зателефонуйте нам за номером PHONE", "pt": r"ligue para PHONE",
           "tr": r"PHONE numarasından bizi arayın", "ar": r"الاتصال بنا على الرقم PHONE"}


def step_hours(step) -> tuple[float, float] | None:
    """The local hours (from, to; to may pass 24) a step can be sent at; None when any hour."""
    if not step.timing.is_local:
        return None
    start = step.timing.local_time.hour + step.timing.local_time.minute / 60
    return start, start + step.expires / timedelta(hours=1)


def uses():
    for protocol in CATALOG.protocols.values():
        for step in protocol.steps:
            for locale in SHIPPED:
                yield pytest.param(protocol, step, locale, id=f"{protocol.name}-{step.key}-{locale}")


def test_the_shipped_languages_are_the_ones_checked():
    assert set(CATALOG.locales) == set(SHIPPED) == set(GREETINGS) == set(FACTS)


@pytest.mark.parametrize(("protocol", "step", "locale"), list(uses()))
def test_a_greeting_fits_every_hour_its_step_can_be_sent(protocol, step, locale):
    text = CATALOG.texts[locale]["steps"][step.text_key].lower()
    hours = step_hours(step)
    for pattern, (fits_from, fits_to) in GREETINGS[locale]:
        if re.search(pattern, text):
            assert hours is not None and fits_from <= hours[0] and hours[1] <= fits_to, (
                f"{locale} {step.key!r} says {pattern!r} but can be sent between {hours} (local hours)")


@pytest.mark.parametrize("locale", SHIPPED)
def test_replies_which_can_go_out_at_any_hour_name_no_time_of_day(locale):
    for key, text in CATALOG.texts[locale]["bot"].items():
        for pattern, _hours in GREETINGS[locale]:
            assert not re.search(pattern, text, re.IGNORECASE), (locale, key, pattern)


def test_the_rule_catches_the_old_sun_care_text():
    """The check itself can fail: sun_care (09:00, valid 12 h) opening with "Good morning!" is caught."""
    step = CATALOG.protocol("microneedling").step("sun_care")
    fits_from, fits_to = GREETINGS["en"][0][1]
    start, end = step_hours(step)
    assert start >= fits_from and end > fits_to  # reaches 21:00: a morning greeting would not fit


@pytest.mark.parametrize("locale", SHIPPED)
def test_days_0_and_1_are_said_in_words(locale):
    for day in (0, 1):
        phrase = CATALOG.bot(locale, f"day_phrase_{day}", day=day)
        assert not re.search(r"\d", phrase), phrase
    assert "4" in CATALOG.bot(locale, "day_phrase_n", day=4)
    for key in ("checkin_red_expected", "checkin_red_escalated"):
        assert "{day}" not in CATALOG.texts[locale]["bot"][key] and "{when}" in CATALOG.texts[locale]["bot"][key]


@pytest.mark.parametrize(("protocol", "step", "locale"), list(uses()))
def test_without_a_booking_link_no_text_leaves_a_gap(protocol, step, locale):
    values = {name: "x" for name in STEP_PLACEHOLDERS} | {"booking_line": "", "booking_url": "", "clinic_phone": "PHONE"}
    text = CATALOG.render(locale, "steps", step.text_key, **values)
    assert not text.endswith("\n") and "\n\n\n" not in text
    assert not re.search(r"pick a time|elige el día", text, re.IGNORECASE)
    if step.kind == "rebook":  # booking is offered by phone, with the link only when there is one
        assert re.search(CALL_US[locale], text, re.IGNORECASE), text


@pytest.mark.parametrize("locale", SHIPPED)
def test_help_without_a_booking_link_has_no_blank_line(locale):
    text = CATALOG.bot(locale, "help_patient", clinic_name="X", clinic_phone="1", booking_line="")
    assert "\n\n" not in text.strip()


@pytest.mark.parametrize("locale", SHIPPED)
def test_the_first_message_of_each_protocol_carries_the_common_practice(locale):
    for protocol in CATALOG.protocols.values():
        first = [step for step in protocol.steps if not step.timing.is_local and step.timing.offset == timedelta(0)]
        assert first, protocol.name
        text = CATALOG.texts[locale]["steps"][first[0].text_key]
        missing = [fact for fact, pattern in FACTS[locale].items() if not re.search(pattern, text, re.IGNORECASE)]
        assert not missing, (protocol.name, locale, missing)


@pytest.mark.parametrize("locale", SHIPPED)
def test_the_series_is_explained_as_3_to_6_sessions(locale):
    assert re.search(SERIES[locale], CATALOG.texts[locale]["steps"]["rebook_open"])


# Phrasings read aloud and rejected: "welcome to the aftercare of Glow Skin Clinic".
UNIDIOMATIC = {"en": r"aftercare of|assistant of|today is day \d", "es": r"bienvenida al seguimiento|hoy es el día \d",
               "ru": r"сегодня \d-й день", "uk": r"сьогодні \d-й день",
               "pt": r"hoje é o \d+º dia", "tr": r"bugün \d+\. gün",
               "ar": r"اليوم هو اليوم \d"}


@pytest.mark.parametrize("locale", SHIPPED)
def test_no_text_uses_a_phrasing_read_aloud_and_rejected(locale):
    for section in ("steps", "bot"):
        for key, text in CATALOG.texts[locale][section].items():
            assert not re.search(UNIDIOMATIC[locale], text), (locale, key)


def test_dates_in_the_texts_are_sane():
    # Dates come from CLDR: the Monday is a Monday, the month in the case the sentence needs.
    expected = {"en": "Mon 23 November", "es": "lun, 23 de noviembre", "ru": "пн, 23 ноября", "uk": "пн, 23 листопада",
                "pt": "seg., 23 de novembro", "tr": "23 Kasım Pzt", "ar": "الاثنين، 23 نوفمبر"}
    for locale in SHIPPED:
        assert CATALOG.format_date(locale, datetime(2026, 11, 23)) == expected[locale]
    assert CATALOG.format_date("ru", datetime(2026, 12, 6, 9, 5), with_time=True, with_year=True) == \
        "вс, 6 декабря 2026\u202fг., 09:05"
