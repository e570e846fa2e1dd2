"""The small things a new user tripped over (issue 19, point 10), each through the real stack."""

from __future__ import annotations

from datetime import timedelta

from bot.bulk_import import cards_warnings
from bot.invite_sheets import CardsReport
from bot.timezones import zone_for_city
from tests.bot.test_cli import TOKEN, run
from tests.bot.test_import import HEADER, do_import, write
from tests.conftest import PATIENT_ID, STAFF_ID


async def test_the_inbox_footer_uses_the_numbers_of_the_list(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "A question")
    for _ in range(5):
        await harness.send(STAFF_ID, "/take 99")  # no item 99: nothing opened
    await harness.send(STAFF_ID, "/inbox")
    listing = fake_api.texts(STAFF_ID)[-1]
    assert "#1 💬" in listing
    assert "<code>/take 1</code>" in listing and "<code>/resolve 1 note</code>" in listing
    assert "/take 5" not in listing


async def test_the_zone_pickers_second_button_says_another_zone(harness, fake_api):
    await harness.send(STAFF_ID, "/enroll")
    await harness.send(STAFF_ID, "Anna K")
    form_message = len(fake_api.sent_messages(STAFF_ID))
    await harness.press(STAFF_ID, "enroll:protocol:microneedling", form_message)
    await harness.press(STAFF_ID, "enroll:number:1", form_message)
    await harness.press(STAFF_ID, "enroll:option:zone", form_message)
    markup = fake_api.calls_to("editMessageText")[-1].params["reply_markup"]["inline_keyboard"]
    labels = [button["text"] for row in markup for button in row]
    assert labels[1] == "Another zone…"


async def test_the_forms_message_does_not_stay_on_the_time_question_when_it_ends(harness, fake_api):
    await harness.send(STAFF_ID, "/enroll")
    await harness.send(STAFF_ID, "Anna K")
    form_message = len(fake_api.sent_messages(STAFF_ID))
    await harness.press(STAFF_ID, "enroll:protocol:microneedling", form_message)
    await harness.press(STAFF_ID, "enroll:number:1", form_message)
    await harness.press(STAFF_ID, "enroll:when:other", form_message)
    assert "Send the session time" in fake_api.calls_to("editMessageText")[-1].params["text"]
    await harness.send(STAFF_ID, "14:30")
    assert fake_api.calls_to("sendPhoto"), "the form ends with the invite"
    last = [c for c in fake_api.calls_to("editMessageText") if c.params["message_id"] == form_message][-1]
    assert "Send the session time" not in last.params["text"] and "Anna K" in last.params["text"]


def test_canary_island_cities_are_time_zones():
    assert zone_for_city("Tenerife").key == "Atlantic/Canary"
    assert zone_for_city("las palmas").key == "Atlantic/Canary"
    assert zone_for_city("Las Palmas de Gran Canaria").key == "Atlantic/Canary"


async def test_a_spanish_patient_card_has_no_english_outcome(harness, fake_api, clock):
    await harness.link()
    clock.set_local(2, 10, 5)
    await harness.dispatch()
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, data[0], message_id)  # answered at once: the nudge and alert are closed
    await harness.send(STAFF_ID, "/patient 1", language_code="es")
    card = fake_api.texts(STAFF_ID)[-1]
    assert "— answered" not in card and "— respondido" in card


async def test_patient_shows_staff_by_name_and_imported_patients_by_import(harness, fake_api, clock, tmp_path):
    await harness.send(STAFF_ID, "/enroll Anna K")
    await harness.send(STAFF_ID, "/patient 1")
    card = fake_api.texts(STAFF_ID)[-1]
    assert "by Test" in card and f"by staff {STAFF_ID}" not in card
    path = write(tmp_path, HEADER + f"Bea L,{(clock() - timedelta(hours=1)).isoformat()},,,,,,,\n")
    assert do_import(harness, path, cards=False)[0].status == 0
    await harness.send(STAFF_ID, "/patient 2")
    card = fake_api.texts(STAFF_ID)[-1]
    assert "by import" in card and "by staff ?" not in card


def test_check_says_1_admin(monkeypatch, tmp_path, capsys):
    assert run(["check"], monkeypatch, tmp_path, {"BOT_TOKEN": TOKEN, "STAFF_IDS": "1001"}) == 0
    out = capsys.readouterr().out
    assert "1 admin)" in out and "1 admins" not in out


async def test_the_import_reads_a_time_without_offset_in_the_clinics_zone(harness, clock, tmp_path):
    path = write(tmp_path, HEADER + "Anna K,2026-11-24 15:00,,,,,,,\n")
    outcome, lines = do_import(harness, path, cards=False)
    assert outcome.status == 0, lines
    from jobs.storage.models import Enrollment
    [cycle] = harness.rows(Enrollment)
    assert cycle.session_at.isoformat() == "2026-11-24T14:00:00+00:00"  # 15:00 in Madrid


def test_the_cards_warning_names_the_real_file():
    report = CardsReport(pages=1, fonts=["Helvetica"], core_font_only=False, missing_glyphs=2)
    [line] = cards_warnings(report, invites="patients-invites.csv")
    assert "aftercare cards patients-invites.csv" in line and "FILE-" not in line


def test_cards_without_a_language_use_the_default_language(harness):
    from dataclasses import replace

    from bot.bulk_import import cards_from_rows, plain_text
    services = harness.services
    rows = [("Ana", "https://t.me/x?start=a", "es", None, 1), ("Pia", "https://t.me/x?start=b", "", None, 2)]
    cards = cards_from_rows(rows, settings=services.settings, catalog=services.catalog)
    assert cards[0].hint == plain_text(services.catalog.bot("es", "invite_card_hint"))
    assert cards[1].hint == plain_text(services.catalog.bot("en", "invite_card_hint"))  # DEFAULT_LANGUAGE=en
    russian = cards_from_rows(rows, settings=replace(services.settings, default_locale="ru"), catalog=services.catalog)
    assert russian[0].hint == cards[0].hint  # a row's own language wins
    assert russian[1].hint == plain_text(services.catalog.bot("ru", "invite_card_hint"))
