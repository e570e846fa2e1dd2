"""A patient's language from Telegram, DEFAULT_LANGUAGE, and right-to-left Arabic, through the fake Bot API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.limits import MAX_TEXT, fits
from jobs.storage.models import Patient, StaffName
from messages.bidi import FSI, PDI, first_strong
from tests.conftest import PATIENT_ID, STAFF_ID, BotHarness, bot_env

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


# ---------------------------------------------------------------- staff, each in their own language

OTHER_STAFF = 1003
GROUP = -100555


async def test_a_ukrainian_staff_members_patient_card_has_no_english_in_it(harness, fake_api, clock):
    await harness.link()
    clock.advance(hours=30)
    await harness.dispatch()  # a few messages sent, so the timeline has steps, marks and times
    await harness.send(STAFF_ID, "/patient 1", language_code="uk")
    card = fake_api.texts(STAFF_ID)[-1]
    assert re.search("[іїєґ]", card), card  # Ukrainian letters
    # Data, not words of a language: the zone, the patient's language code, the staff member's name ("Test", as
    # the fake Telegram calls them) and the protocol's title (one per protocol file, as the clinic names it).
    assert latin_words(card) <= {"Europe", "Madrid", "en", "Test", "Microneedling"}, (latin_words(card), card)


def test_every_reason_the_dispatcher_skips_a_message_for_has_a_text_for_staff():
    import inspect

    from bot.patient_card import OUTCOME_KEYS
    from jobs.dispatch import loop

    reasons = set(re.findall(r'record_skipped, reminder_id=item\.id,\s*reason="([^"]+)"', inspect.getsource(loop)))
    assert len(reasons) >= 5 and reasons <= set(OUTCOME_KEYS), reasons - set(OUTCOME_KEYS)


async def staff_pair(fake_api, database_url, clock, **env) -> BotHarness:
    return await BotHarness(fake_api, bot_env(fake_api, database_url, STAFF_IDS=f"{STAFF_ID},{OTHER_STAFF}", **env),
                            clock).start()


async def test_each_staff_member_reads_their_own_language_and_the_group_reads_staff_language(fake_api, database_url,
                                                                                         clock):
    bot = await staff_pair(fake_api, database_url, clock, STAFF_CHAT_ID=str(GROUP), STAFF_LANGUAGE="ru")
    try:
        catalog = bot.services.catalog
        await bot.send(STAFF_ID, "/inbox", language_code="es")
        await bot.send(OTHER_STAFF, "/inbox", language_code="en-GB")
        await bot.send(OTHER_STAFF, "/inbox", language_code="fr")  # no French texts: STAFF_LANGUAGE
        assert fake_api.texts(STAFF_ID)[-1] == catalog.bot("es", "inbox_empty")
        assert fake_api.texts(OTHER_STAFF)[-2:] == [catalog.bot("en", "inbox_empty"), catalog.bot("ru", "inbox_empty")]
        # In the group everyone reads one language, whoever asks.
        await bot.send(STAFF_ID, "/inbox", language_code="es", chat_id=GROUP, chat_type="supergroup")
        assert fake_api.texts(GROUP)[-1] == catalog.bot("ru", "inbox_empty")
        # /help too: the whole screen in the staff member's language, the patients' part included.
        await bot.send(STAFF_ID, "/help", language_code="es")
        assert fake_api.texts(STAFF_ID)[-1].startswith(bot.services.text("es", "help_staff").split("\n")[0])
        assert bot.services.text("es", "help_patient", booking_line="").split("\n")[0] in fake_api.texts(STAFF_ID)[-1]
    finally:
        await bot.stop()


async def test_an_alert_sent_privately_is_in_the_language_its_reader_last_acted_in(fake_api, database_url, clock):
    bot = await staff_pair(fake_api, database_url, clock)  # no staff group: each staff member is told privately
    try:
        await bot.send(OTHER_STAFF, "/inbox", language_code="es")  # noted: this one reads Spanish
        await bot.link()  # staff 1001 acts in English
        await bot.send(PATIENT_ID, "/stop")
        await bot.press(PATIENT_ID, bot.buttons(PATIENT_ID)[1][0], bot.buttons(PATIENT_ID)[0])
        catalog = bot.services.catalog
        assert fake_api.texts(OTHER_STAFF)[-1] == bot.services.text("es", "alert_stopped", name="Anna K", patient_id=1)
        assert fake_api.texts(STAFF_ID)[-1] == bot.services.text("en", "alert_stopped", name="Anna K", patient_id=1)
        assert catalog.bot("es", "alert_stopped", name="x", patient_id=1) != catalog.bot("en", "alert_stopped",
                                                                                          name="x", patient_id=1)
        with bot.session() as session:
            assert session.get(StaffName, OTHER_STAFF).language == "es"
    finally:
        await bot.stop()


@pytest.mark.parametrize("code", ["en-abcdefgh-abcdefgh-abcdefgh", "'; drop table staff_name", "x" * 300, ""])
async def test_a_language_code_that_is_not_a_language_tag_is_not_kept(harness, fake_api, code):
    await harness.send(STAFF_ID, "/inbox", language_code=code)
    assert fake_api.texts(STAFF_ID)[-1] == harness.services.catalog.bot("en", "inbox_empty")  # STAFF_LANGUAGE
    with harness.session() as session:
        assert session.get(StaffName, STAFF_ID).language is None


async def test_a_colleague_who_joins_in_spanish_is_welcomed_and_given_the_menu_in_spanish(harness, fake_api):
    from tests.conftest import OTHER_ID

    await harness.send(STAFF_ID, "/staffinvite")
    link = fake_api.texts(STAFF_ID)[-1].split("?start=")[1].split()[0]
    await harness.send(OTHER_ID, f"/start {link}", language_code="es")
    catalog = harness.services.catalog
    assert fake_api.texts(OTHER_ID)[-1] == harness.services.text("es", "staff_joined")
    menu = [call for call in fake_api.calls_to("setMyCommands")
            if call.params.get("scope", {}).get("chat_id") == OTHER_ID][-1].params["commands"]
    assert {"command": "inbox", "description": catalog.bot("es", "command_inbox")} in menu
    # The admin, who acts in English, hears of it in English.
    assert fake_api.texts(STAFF_ID)[-1] == harness.services.text("en", "staff_joined_alert", staff_name="Test",
                                                                 user_id=OTHER_ID)


async def test_a_refusal_to_staff_in_the_group_is_in_staff_language_too(fake_api, database_url, clock):
    bot = await staff_pair(fake_api, database_url, clock, STAFF_CHAT_ID=str(GROUP))
    try:
        await bot.send(STAFF_ID, "/patient 99", language_code="uk", chat_id=GROUP, chat_type="supergroup")
        await bot.send(STAFF_ID, "/patient 99", language_code="uk")
        group, private = fake_api.texts(GROUP)[-1], fake_api.texts(STAFF_ID)[-1]
        assert group != private and not re.search("[іїєґ]", group) and re.search("[іїєґ]", private), (group, private)
    finally:
        await bot.stop()


# ---------------------------------------------------------------- alerts and inbox items, each in its reader's language


@pytest.fixture
async def bilingual(fake_api, database_url, clock):
    """Two staff members told privately (no staff group): 1003 acts in Spanish, 1001 in English (they enrolled
    the patient, who is linked)."""
    bot = await staff_pair(fake_api, database_url, clock, ESCALATION_REMINDER="15m")
    await bot.send(OTHER_STAFF, "/inbox", language_code="es")
    await bot.link()
    yield bot
    await bot.stop()


async def _worried(bot, clock) -> None:
    """The patient presses "I'm worried" under the evening check-in, on day 1."""
    clock.set_local(0, 19, 5)
    await bot.dispatch()  # the evening check-in
    message_id, data = bot.buttons(PATIENT_ID)
    clock.set_local(1, 9, 5)
    await bot.press(PATIENT_ID, data[2], message_id)


def _view_shown(fake_api, view) -> str:
    """What a staff chat shows of an inbox alert now (after its edits): its words and its buttons' labels."""
    stored = fake_api._messages[(view.chat_id, view.message_id)]
    labels = [button["text"] for row in (stored.get("reply_markup") or {}).get("inline_keyboard", [])
              for button in row]
    return "\n".join([stored.get("text") or stored.get("caption") or "", *labels])


def _words(text: str) -> set[str]:
    """The words of ``text`` (tags left out), but the patient's name (the same in every language)."""
    return set(re.findall(r"[^\W\d_]+", re.sub(r"<[^>]+>", " ", text))) - {"Anna", "K"}


async def test_inbox_alerts_sent_privately_are_each_in_their_readers_language_edits_included(bilingual, fake_api, clock):
    from bot.inbox_views import status_line
    from jobs.buttons import INBOX_LABELS, INBOX_TAKE
    from jobs.storage.models import InboxItem, InboxView, Reminder

    bot = bilingual
    services = bot.services
    await _worried(bot, clock)
    clock.set_local(2, 10, 5)
    await bot.dispatch()  # the day-2 check-in, which nobody answers ...
    clock.set_local(3, 10, 6)
    await bot.dispatch()  # ... so staff are told (and the day-3 photo is asked for)
    clock.set_local(3, 11, 0)
    await bot.send(PATIENT_ID, "", photo_file_id="patient-photo-1")

    def views() -> dict[tuple[str, int], str]:
        """Each item's alert as each staff member's chat shows it, by (item kind, chat)."""
        with bot.session() as session:
            kinds = {item.id: item.kind for item in session.exec(select(InboxItem))}
            return {(kinds[view.item_id], view.chat_id): _view_shown(fake_api, view)
                    for view in session.exec(select(InboxView))}

    def assert_each_in_its_own(shown: dict[tuple[str, int], str], kinds=("worried", "silence", "photo")):
        for kind in kinds:
            english, spanish = shown[(kind, STAFF_ID)], shown[(kind, OTHER_STAFF)]
            assert not _words(english) & _words(spanish) - {"Luis", "Test"}, (kind, english, spanish)

    shown = views()
    assert set(shown) == {(kind, chat) for kind in ("worried", "silence", "photo") for chat in (STAFF_ID,
                                                                                                OTHER_STAFF)}
    assert_each_in_its_own(shown)
    for chat, locale in ((STAFF_ID, "en"), (OTHER_STAFF, "es")):
        assert services.text(locale, INBOX_LABELS[INBOX_TAKE]) in shown[("worried", chat)]
        assert services.text(locale, "button_photo_ok") in shown[("photo", chat)]  # the review buttons too
        with bot.session() as session:
            [check_in] = session.exec(select(Reminder).where(Reminder.step_key == "settling_check",
                                                             Reminder.parent_id.is_(None)))
            sent = services.staff_time(check_in.sent_at, None, locale=locale)  # the date in the reader's words
        assert sent in shown[("silence", chat)], (sent, shown[("silence", chat)])

    # Luis takes the worried item from his Spanish alert, Test resolves it from the English one: each message
    # says so in the words it was written in; the photo closed the silence, and its alerts say that too.
    with bot.session() as session:
        views_now = list(session.exec(select(InboxView)))
    worried = {view.chat_id: view for view in views_now if view.item_id == 1}
    for who, action, name, code, status in ((OTHER_STAFF, "take", "Luis", "es", "taken"),
                                            (STAFF_ID, "done", "Test", "en", "resolved")):
        await bot.press(who, f"ib:1:{action}", worried[who].message_id, first_name=name, language_code=code)
        await bot.send_notices()
        shown = views()
        assert_each_in_its_own(shown)
        with bot.session() as session:
            item = session.get(InboxItem, 1)
            silence = session.exec(select(InboxItem).where(InboxItem.kind == "silence")).one()
        assert item.status == status and silence.status == "resolved"
        for chat, locale in ((STAFF_ID, "en"), (OTHER_STAFF, "es")):
            assert status_line(services, item, locale) in shown[("worried", chat)]
            assert status_line(services, silence, locale) in shown[("silence", chat)]
    assert status_line(services, item, "es") != status_line(services, item, "en")


async def test_in_the_staff_group_inbox_alerts_and_their_edits_stay_in_staff_language(fake_api, database_url, clock):
    from bot.inbox_views import status_line
    from jobs.storage.models import InboxItem, InboxView

    bot = await staff_pair(fake_api, database_url, clock, STAFF_CHAT_ID=str(GROUP))
    try:
        await bot.send(OTHER_STAFF, "/inbox", language_code="es")
        await bot.link()
        await _worried(bot, clock)
        with bot.session() as session:
            [view] = session.exec(select(InboxView))
        assert view.chat_id == GROUP and view.locale is None
        await bot.press(OTHER_STAFF, "ib:1:take", view.message_id, chat_id=GROUP, first_name="Luis",
                        language_code="es")
        await bot.send_notices()
        shown = _view_shown(fake_api, view)
        with bot.session() as session:
            item = session.get(InboxItem, 1)
        assert item.status == "taken" and status_line(bot.services, item, "en") in shown
        assert bot.services.text("en", "inbox_button_resolve") in shown
        assert bot.services.text("es", "inbox_button_resolve") not in shown
        assert not [call for call in fake_api.sent_messages(OTHER_STAFF) if "Anna" in str(call.params)]
    finally:
        await bot.stop()


async def test_the_erasure_edit_of_a_private_alert_keeps_its_readers_language(bilingual, fake_api, clock):
    bot = bilingual
    services = bot.services
    await bot.send(PATIENT_ID, "/stop")
    await bot.press(PATIENT_ID, bot.buttons(PATIENT_ID)[1][0], bot.buttons(PATIENT_ID)[0])
    await bot.send(PATIENT_ID, "/delete")
    message_id, data = bot.buttons(PATIENT_ID)
    await bot.press(PATIENT_ID, data[0], message_id)
    await bot.send_notices()
    for chat, locale in ((STAFF_ID, "en"), (OTHER_STAFF, "es")):
        erased = services.text(locale, "erased_in_staff_chat", patient_id=1)
        assert erased in [m.get("text") for m in fake_api.bot_messages(chat)], fake_api.bot_messages(chat)
    assert services.text("es", "erased_in_staff_chat", patient_id=1) != services.text(
        "en", "erased_in_staff_chat", patient_id=1)


async def test_a_number_the_patient_shares_later_joins_each_alert_in_its_language(bilingual, fake_api, clock):
    from jobs.storage.models import InboxView

    bot = bilingual
    await _worried(bot, clock)
    await bot.process(fake_api.message_update(user_id=PATIENT_ID, text="", contact=("34611222333", PATIENT_ID)))
    await bot.send_notices()
    with bot.session() as session:
        views = {view.chat_id: view for view in session.exec(select(InboxView))}
    assert views[OTHER_STAFF].body is not None  # the Spanish alert has words of its own, not the item's
    for chat, locale in ((STAFF_ID, "en"), (OTHER_STAFF, "es")):
        line = bot.services.text(locale, "alert_phone", phone="+34 611 22 23 33")
        assert line in _view_shown(fake_api, views[chat]), _view_shown(fake_api, views[chat])


async def test_an_item_raised_again_privately_is_raised_in_each_readers_language(bilingual, fake_api, clock):
    from bot.delivery import raise_untaken
    from jobs.storage.models import InboxView

    bot = bilingual
    await _worried(bot, clock)
    clock.set_local(1, 9, 25)
    assert await raise_untaken(bot.services, bot.app.bot) == 1
    await bot.send_notices()
    with bot.session() as session:
        raised = {view.chat_id: view for view in session.exec(select(InboxView).where(InboxView.lead != ""))}
    english, spanish = (_view_shown(fake_api, raised[chat]) for chat in (STAFF_ID, OTHER_STAFF))
    assert raised[OTHER_STAFF].locale == "es" and raised[STAFF_ID].locale is None
    assert not _words(english) & _words(spanish), (english, spanish)
    assert raised[OTHER_STAFF].lead == bot.services.text("es", "inbox_raised_again", item_id=1,
                                                         waited=bot.services.duration("es", timedelta(minutes=20)))


async def test_a_booking_notice_sent_privately_is_in_each_readers_language_its_date_too(bilingual, fake_api, clock):
    from bot.booking_notices import tell_about_booking
    from jobs.care.bookings import BookingChange, BookingKind
    from jobs.storage.models import Booking

    bot = bilingual
    services = bot.services
    with bot.session() as session:
        patient = session.get(Patient, 1)
        session.expunge(patient)
    start = clock.now + timedelta(days=20)
    booking = Booking(id=7, patient_id=1, source="calcom", booking_key="b-7", start_at=start, status="booked",
                      created_at=clock.now, updated_at=clock.now)
    await tell_about_booking(services, bot.app.bot, BookingChange(BookingKind.BOOKED, True, patient, booking))
    await bot.send_notices()
    notices = {chat: fake_api.texts(chat)[-1] for chat in (STAFF_ID, OTHER_STAFF)}
    for chat, locale in ((STAFF_ID, "en"), (OTHER_STAFF, "es")):
        when = services.catalog.format_date(locale, start.astimezone(services.settings.clinic_timezone),
                                            with_time=True, with_year=True)
        assert notices[chat] == services.text(locale, "alert_booking_booked", name="Anna K", patient_id=1,
                                              when=when, source="calcom"), notices[chat]
    assert not _words(notices[STAFF_ID]) & _words(notices[OTHER_STAFF]) - {"calcom"}, notices
