"""End to end: hostile or odd input gets a clear reply and changes nothing (issue 11).

Every case here crashed a handler, spun a button for ever, matched every patient or erased data
before the edge parsers (jobs/inputs.py, jobs/buttons.py).
"""

from __future__ import annotations

import logging

import pytest

from jobs.storage.models import EnrollForm, Patient, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID


@pytest.fixture
def errors(caplog):
    """The ERROR records of the test (a handler that raised logs one)."""
    caplog.set_level(logging.INFO)
    return lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]


def _answers(fake_api) -> list[str]:
    return [call.params.get("text", "") for call in fake_api.calls_to("answerCallbackQuery")]


@pytest.mark.parametrize(("command", "expected"), [
    ("/stats ²", "Write <code>/stats</code>"),
    ("/stats 99999999999999999999", "Write <code>/stats</code>"),
    ("/removestaff ²", "Write <code>/removestaff"),
    ("/removestaff 99999999999999999999", "Write <code>/removestaff"),
    ("/patient 99999999999999999999999", "No patient matches"),
    ("/patient ²", "No patient matches"),
    ("/cancel 99999999999999999999", "No patient matches"),
    ("/invite " + "9" * 200, "too long"),
])
async def test_digits_that_are_not_ids_get_a_clear_reply(harness, fake_api, errors, command, expected):
    await harness.link()
    await harness.send(STAFF_ID, command)
    assert expected in fake_api.texts(STAFF_ID)[-1]
    assert errors() == []
    assert not harness.rows(Reminder, Reminder.status == ReminderStatus.CANCELLED)


@pytest.mark.parametrize("data", ["ci:²:fine", "rb:99999999999999999999:booked", "ci:" + "9" * 200 + ":fine",
                                  "rb:1:maybe", "nothing-of-ours", "pl:active:" + "9" * 30, "cf:delete", "lang:"])
async def test_malformed_or_unknown_buttons_are_answered_with_a_notice(harness, fake_api, errors, data):
    await harness.link()
    await harness.press(PATIENT_ID, data, 1)
    await harness.press(STAFF_ID, data, 1)
    assert _answers(fake_api)[-2:] == ["This button isn't for you, or it's no longer valid."] * 2
    assert errors() == []


async def test_a_forged_delete_confirmation_erases_nothing(harness, fake_api):
    await harness.link()
    await harness.press(PATIENT_ID, "cf:delete:yes", 5)  # no /delete was ever sent
    await harness.press(PATIENT_ID, "cf:delete:yes:guessed-nonce", 5)
    assert harness.rows(Patient)[0].status != PatientStatus.DELETED
    await harness.send(PATIENT_ID, "/delete")
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, "cf:delete:yes:guessed-nonce", message_id)  # a prompt is open: still forged
    assert "expired" in _answers(fake_api)[-1]
    assert harness.rows(Patient)[0].status != PatientStatus.DELETED
    await harness.send(PATIENT_ID, "/stop")  # a newer prompt replaces the /delete one
    await harness.press(PATIENT_ID, data[0], message_id)
    assert harness.rows(Patient)[0].status != PatientStatus.DELETED
    stop_id, stop_data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, stop_data[0], stop_id)
    assert harness.rows(Patient)[0].status == PatientStatus.STOPPED
    await harness.press(PATIENT_ID, stop_data[0], stop_id)  # pressed again: the prompt is closed
    assert "expired" in _answers(fake_api)[-1]


async def test_a_confirmation_lapses_after_an_hour(harness, fake_api, clock):
    await harness.link()
    await harness.send(PATIENT_ID, "/delete")
    message_id, data = harness.buttons(PATIENT_ID)
    clock.advance(hours=2)
    await harness.press(PATIENT_ID, data[0], message_id)
    assert harness.rows(Patient)[0].status != PatientStatus.DELETED


@pytest.mark.parametrize("command", ["/patient %", "/patient _", "/cancel %", "/patient \\", "/invite %%"])
async def test_like_wildcards_match_no_one(harness, fake_api, command):
    await harness.link("/enroll Anna K")
    await harness.enroll("/enroll Bob L")
    await harness.send(STAFF_ID, command)
    assert "No patient matches" in fake_api.texts(STAFF_ID)[-1]
    assert not harness.rows(Reminder, Reminder.status == ReminderStatus.CANCELLED)


async def test_a_name_with_a_percent_sign_is_still_found(harness, fake_api):
    await harness.enroll("/enroll Ann_a 100%")
    await harness.enroll("/enroll Annxa")
    await harness.send(STAFF_ID, "/patient n_a 1")
    assert "Ann_a 100%" in fake_api.texts(STAFF_ID)[-1] and "Annxa" not in fake_api.texts(STAFF_ID)[-1]


async def test_a_long_timezone_is_not_echoed(harness, fake_api, errors):
    await harness.link()
    await harness.send(PATIENT_ID, "/timezone " + "Madrid" * 900)
    reply = fake_api.texts(PATIENT_ID)[-1]
    assert "too long" in reply and "MadridMadrid" not in reply
    assert errors() == []


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posix/Europe/Madrid", "right/Europe/Madrid"])
async def test_zones_that_are_not_places_are_refused(harness, fake_api, zone):
    await harness.link()
    await harness.send(PATIENT_ID, f"/timezone {zone}")
    assert "couldn't find a time zone" in fake_api.texts(PATIENT_ID)[-1]
    assert harness.rows(Patient)[0].timezone == "Europe/Madrid"
    await harness.send(STAFF_ID, f"/enroll Bob L tz={zone}")
    assert "is not a time zone" in fake_api.texts(STAFF_ID)[-1]
    assert len(harness.rows(Patient)) == 1


@pytest.mark.parametrize(("name", "expected"), [
    ("\u200b\u200b\u200b", "no visible letters"),
    ("\u202eKanna", "text-direction"),
    ("Anna\x00K", "control"),
    ("A" * 4000, "too long"),
])
async def test_names_that_cannot_be_read_are_refused_in_one_line_and_in_the_form(harness, fake_api, name, expected):
    await harness.send(STAFF_ID, f"/enroll {name}")
    assert expected in fake_api.texts(STAFF_ID)[-1]
    await harness.send(STAFF_ID, "/enroll")
    await harness.send(STAFF_ID, name)  # checked as typed, not after every button
    assert expected in fake_api.texts(STAFF_ID)[-1]
    [form] = harness.rows(EnrollForm)
    assert (form.step, form.name) == ("name", None)
    assert harness.rows(Patient) == []


async def test_a_series_of_no_sessions_is_refused_not_made_one_of_three(harness, fake_api):
    await harness.send(STAFF_ID, "/enroll Anna K session=1/0")
    assert "A series has 1 to 20 sessions" in fake_api.texts(STAFF_ID)[-1]
    await harness.send(STAFF_ID, "/enroll Anna K session=0/3")
    assert "can't read" in fake_api.texts(STAFF_ID)[-1]
    assert harness.rows(Patient) == []


async def test_strangers_pressing_buttons_get_answers_too(harness, fake_api):
    await harness.press(OTHER_ID, "pl:active:0", 1)
    await harness.press(OTHER_ID, "zz", 1)
    assert len(_answers(fake_api)) == 2 and all(_answers(fake_api))


async def test_the_same_button_twice_is_not_an_error(harness, fake_api, errors):
    await harness.link()
    await harness.send(STAFF_ID, "/patients")
    message_id, data = harness.buttons(STAFF_ID)
    await harness.press(STAFF_ID, "pl:active:0", message_id)
    await harness.press(STAFF_ID, "pl:active:0", message_id)  # Telegram: "message is not modified"
    await harness.send(PATIENT_ID, "/language")
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, "lang:es", message_id)
    await harness.press(PATIENT_ID, "lang:es", message_id)
    await harness.press(PATIENT_ID, "lang:en", 1)  # a language button forged onto the welcome message
    assert errors() == [] and fake_api.unanswered_callbacks() == set()
    assert "something went wrong" not in " ".join(fake_api.texts())
