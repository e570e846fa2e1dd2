"""A patient's language from Telegram, DEFAULT_LANGUAGE, and right-to-left Arabic, through the fake Bot API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.limits import MAX_TEXT, fits
from jobs.storage.models import Patient
from messages.bidi import FSI, PDI, first_strong
from tests.conftest import PATIENT_ID, BotHarness, bot_env

# Words a Russian patient may read in Latin letters: the names the clinic and staff gave, Telegram's;
# links and commands (/delete) are left out before looking.
ALLOWED_LATIN = {"anna", "k", "clínica", "sol", "telegram"}
_URL = re.compile(r"https?://\S+|t\.me/\S+|/[a-z]+\b")


def latin_words(text: str) -> set[str]:
    """The words of ``text`` (tags and links left out) written in Latin letters, outside the allow-list."""
    words = re.findall(r"[^\W\d_]+", _URL.sub(" ", re.sub(r"<[^>]+>", " ", text)))
    return {word for word in words if re.search(r"[A-Za-zÀ-ÿ]", word) and word.lower() not in ALLOWED_LATIN}


def patient_screens(api, chat_id: int) -> list[str]:
    """Every text the patient was shown: messages, captions and the labels of their buttons."""
    shown = []
    for call in api.sent_messages(chat_id):
        shown.append(call.params.get("text") or call.params.get("caption") or "")
        markup = call.params.get("reply_markup") or {}
        shown += [button.get("text", "") for row in markup.get("inline_keyboard", []) for button in row]
    return shown


async def test_a_russian_patients_whole_first_week_is_in_russian(harness, fake_api, clock):
    await harness.link(language_code="ru")
    # Every planned message of days 0-7, hour by hour, as the dispatcher would send them.
    end = clock.now + timedelta(days=8)
    while clock.now < end:
        clock.advance(hours=1)
        await harness.dispatch()
    shown = patient_screens(fake_api, PATIENT_ID)
    assert len([text for text in shown if text]) >= 6  # the greeting and the week's messages
    for text in shown:
        assert not latin_words(text), (latin_words(text), text)
    assert any(re.search("[а-яё]", text) for text in shown)
    with harness.session() as session:
        assert session.get(Patient, 1).locale == "ru"


@pytest.mark.parametrize("code", ["pt-br", "pt-BR", "uk", "tr", "ar"])
async def test_telegrams_language_picks_the_matching_texts(harness, code):
    await harness.link(language_code=code)
    with harness.session() as session:
        assert session.get(Patient, 1).locale == code.split("-")[0].lower()


async def test_an_unknown_language_falls_back_to_default_language(fake_api, database_url, clock):
    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, DEFAULT_LANGUAGE="es"), clock).start()
    try:
        await bot.link(language_code="fr")
        with bot.session() as session:
            assert session.get(Patient, 1).locale == "es"
        greeting = fake_api.sent_messages(PATIENT_ID)[0].params["text"]
        assert greeting.startswith(bot.services.text("es", "start_linked", name="Anna"))
    finally:
        await bot.stop()


async def test_an_arabic_patients_greeting_starts_right_to_left_with_the_values_isolated(harness, fake_api):
    await harness.link(language_code="ar")
    greeting = fake_api.sent_messages(PATIENT_ID)[0].params["text"]
    for line in greeting.split("\n"):
        if line.strip():
            assert first_strong(line) == "R", line  # an Arabic letter or the right-to-left mark comes first
    assert f"{FSI}Anna{PDI}" in greeting and f"{FSI}Clínica Sol{PDI}" in greeting
    assert fits(greeting, MAX_TEXT)
