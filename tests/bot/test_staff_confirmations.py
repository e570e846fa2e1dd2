"""Confirm before it cannot be undone (issue 19): /cancel asks with buttons, the duplicate warning names the
new record, /withdraw takes a mistaken enrollment out of the lists (erased, with an event), and the
patient's *I'm not continuing* asks once before it ends the series."""

from __future__ import annotations

from jobs.storage.models import Event, Invite, Patient, Reminder
from jobs.storage.states import PatientStatus
from tests.conftest import PATIENT_ID, STAFF_ID


def _buttons(harness, fake_api, chat_id):
    message_id, data = harness.buttons(chat_id)
    return message_id, data


async def test_cancel_asks_naming_the_patient_and_how_to_restart_and_no_changes_nothing(harness, fake_api):
    await harness.link()
    await harness.send(STAFF_ID, "/cancel 1")
    question = fake_api.texts(STAFF_ID)[-1]
    assert "Anna K" in question and "/session 1" in question  # how to restart them
    assert harness.rows(Patient)[0].status == PatientStatus.ACTIVE  # nothing yet
    message_id, data = _buttons(harness, fake_api, STAFF_ID)
    assert data == ["sc:cancel:1:yes", "sc:cancel:1:no"]
    await harness.press(STAFF_ID, data[1], message_id)
    assert harness.rows(Patient)[0].status == PatientStatus.ACTIVE
    await harness.press(STAFF_ID, data[0], message_id)
    assert harness.rows(Patient)[0].status == PatientStatus.CANCELLED
    assert "Stopped all pending messages for <b>Anna K</b>" in fake_api.calls_to("editMessageText")[-1].params["text"]
    assert not fake_api.unanswered_callbacks()


async def test_a_stranger_cannot_press_a_staff_confirmation(harness, fake_api):
    await harness.link()
    await harness.send(STAFF_ID, "/cancel 1")
    message_id, data = _buttons(harness, fake_api, STAFF_ID)
    await harness.press(PATIENT_ID, data[0], message_id, chat_id=STAFF_ID)
    assert harness.rows(Patient)[0].status == PatientStatus.ACTIVE
    assert not fake_api.unanswered_callbacks()


async def test_the_duplicate_warning_names_the_new_record_and_withdraw_takes_it_out(harness, fake_api):
    await harness.enroll("/enroll Pia Jones")
    await harness.enroll("/enroll Pia Jones")
    warning = fake_api.sent_messages(STAFF_ID)[-1].params["caption"]
    assert "#1" in warning and "/withdraw 2" in warning and "/cancel 1" not in warning
    second_qr = fake_api.bot_messages(STAFF_ID)[-1]["message_id"]
    await harness.send(STAFF_ID, "/withdraw 2")
    assert "Pia Jones" in fake_api.texts(STAFF_ID)[-1]
    message_id, data = _buttons(harness, fake_api, STAFF_ID)
    assert data == ["sc:withdraw:2:yes", "sc:withdraw:2:no"]
    await harness.press(STAFF_ID, data[0], message_id)
    first, second = harness.rows(Patient)
    assert first.status == PatientStatus.AWAITING_LINK and first.name == "Pia Jones"
    assert (second.status, second.name, second.called) == (PatientStatus.DELETED, "", None)  # erased like /delete
    assert not harness.rows(Reminder, Reminder.patient_id == 2, Reminder.status == "pending")
    assert harness.rows(Invite, Invite.patient_id == 2) == []
    [event] = harness.rows(Event, Event.patient_id == 2, Event.kind == "withdrawn")
    assert (event.actor, event.actor_id) == ("staff", STAFF_ID)
    # The staff outbox took the name off the withdrawn record's QR caption at once (no dispatcher pass).
    [qr] = [m for m in fake_api.bot_messages(STAFF_ID) if m["message_id"] == second_qr]
    assert "Pia" not in qr["caption"] and "#2" in qr["caption"]
    await harness.send(STAFF_ID, "/patients awaiting")
    listing = fake_api.texts(STAFF_ID)[-1]
    assert "#1" in listing and "#2" not in listing


async def _rebook_message(harness, clock):
    await harness.link()
    clock.set_local(28, 10, 0)
    await harness.dispatch()
    return harness.buttons(PATIENT_ID)


async def test_not_continuing_asks_once_before_ending_the_series(harness, fake_api, clock):
    message_id, data = await _rebook_message(harness, clock)
    [stop] = [d for d in data if d.endswith(":stop")]
    await harness.press(PATIENT_ID, stop, message_id)
    assert harness.rows(Patient)[0].status == PatientStatus.ACTIVE
    assert "is not continuing" not in fake_api.texts(STAFF_ID)[-1]
    asked_id, asked = harness.buttons(PATIENT_ID)
    assert len(asked) == 2 and asked[0].endswith(":sure")
    await harness.press(PATIENT_ID, asked[1], asked_id)  # "no, keep reminding me"
    assert harness.rows(Patient)[0].status == PatientStatus.ACTIVE
    await harness.press(PATIENT_ID, asked[0], asked_id)
    assert harness.rows(Patient)[0].status == PatientStatus.NOT_CONTINUING
    assert "is not continuing the series" in fake_api.texts(STAFF_ID)[-1]
    assert not fake_api.unanswered_callbacks()
