"""End to end: the nine lifecycle paths that used to end in a false state (issue "One patient lifecycle").

Each test walks the path a clinic walked, through the fake Bot API, and checks what staff and the
patient are told against what the database then holds.
"""

from __future__ import annotations

import re

from sqlmodel import select

from jobs.patients.reminder_moves import CancelReason
from jobs.storage.models import Patient, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID

DAVE_ID = 4004


async def _stop(harness, user_id: int = PATIENT_ID) -> None:
    await harness.send(user_id, "/stop")
    message_id, _ = harness.buttons(user_id)
    _, data = harness.buttons(user_id)
    await harness.press(user_id, _choice(data, "yes"), message_id)


async def _cancel(harness, patient_id: int = 1) -> None:
    """Staff ``/cancel``, confirmed with its button (it asks first: issue 19)."""
    await harness.send(STAFF_ID, f"/cancel {patient_id}")
    message_id, data = harness.buttons(STAFF_ID)
    await harness.press(STAFF_ID, _choice(data, "yes"), message_id)


async def _not_continuing(harness, data: list[str], message_id: int) -> None:
    """The patient presses *I'm not continuing* and confirms it (it asks once: issue 19)."""
    await harness.press(PATIENT_ID, _choice(data, "stop"), message_id)
    asked_id, asked = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, _choice(asked, "sure"), asked_id)


def _choice(data: list[str], choice: str) -> str:
    """The one button whose data carries ``choice`` ("yes" / "no" / an answer) among its fields."""
    [button] = [d for d in data if choice in d.split(":")]
    return button


async def _confirm(harness, user_id: int, suffix: str = ":yes") -> None:
    message_id, data = harness.buttons(user_id)
    await harness.press(user_id, _choice(data, suffix.lstrip(":")), message_id)


def _token(caption: str) -> str:
    match = re.search(r"\?start=([A-Za-z0-9_-]+)", caption)
    assert match, caption
    return match.group(1)


def _pending(harness, patient_id: int) -> list[Reminder]:
    return harness.rows(Reminder, Reminder.patient_id == patient_id, Reminder.status == ReminderStatus.PENDING)


async def test_1_a_stopped_patient_comes_back_with_a_fresh_plan_through_a_new_invite(harness, fake_api, clock):
    old_token = await harness.link()
    await _stop(harness)
    assert harness.rows(Patient)[0].status == PatientStatus.STOPPED
    # The old link after /stop does not claim that messages keep arriving.
    await harness.send(PATIENT_ID, f"/start {old_token}")
    assert "keep arriving" not in fake_api.texts(PATIENT_ID)[-1]
    assert "stopped" in fake_api.texts(PATIENT_ID)[-1]
    await harness.send(STAFF_ID, "/invite 1")
    token = _token(fake_api.sent_messages(STAFF_ID)[-1].params["caption"])
    await harness.send(PATIENT_ID, f"/start {token}")
    patient = harness.rows(Patient)[0]
    assert patient.status == PatientStatus.ACTIVE
    pending = _pending(harness, 1)
    assert pending, "the restart planned nothing"
    assert f"{len(pending)}" in fake_api.texts(PATIENT_ID)[-1]
    await harness.send(PATIENT_ID, "/status")
    assert "stopped" not in fake_api.texts(PATIENT_ID)[-1].lower()
    clock.set_local(1, 10, 0)
    before = len(fake_api.texts(PATIENT_ID))
    await harness.dispatch()
    assert len(fake_api.texts(PATIENT_ID)) > before, "nothing arrived after the restart"


async def test_1b_session_after_stop_restarts_and_says_what_was_planned(harness, fake_api, clock):
    await harness.link()
    await _stop(harness)
    clock.advance(days=30)
    await harness.send(STAFF_ID, "/session 1")
    reply = fake_api.texts(STAFF_ID)[-1]
    pending = _pending(harness, 1)
    assert pending and harness.rows(Patient)[0].status == PatientStatus.ACTIVE
    assert str(len(pending)) in reply
    await harness.send(PATIENT_ID, "/status")
    assert "Messages are stopped" not in fake_api.texts(PATIENT_ID)[-1]


async def test_2_delete_erases_the_current_patient_and_every_older_record_of_the_chat(harness, fake_api):
    await harness.link("/enroll Anna K")          # #1, unrelated, on PATIENT_ID
    await harness.link("/enroll Dave B", user_id=DAVE_ID)   # #2 on Dave's chat
    chris_token = await harness.enroll("/enroll Chris Q")  # #3
    await harness.send(DAVE_ID, f"/start {chris_token}")
    await _confirm(harness, DAVE_ID)              # Dave's phone now follows Chris's record
    await harness.send(DAVE_ID, "/delete")
    await _confirm(harness, DAVE_ID)
    with harness.session() as session:
        dave = session.get(Patient, 2)
        chris = session.get(Patient, 3)
        assert (dave.status, dave.name, dave.chat_id) == (PatientStatus.DELETED, "", None)
        assert (chris.status, chris.name, chris.chat_id) == (PatientStatus.DELETED, "", None)
        assert not session.exec(select(Reminder).where(Reminder.patient_id.in_([2, 3]),
                                                       Reminder.status == ReminderStatus.PENDING)).all()
        assert session.get(Patient, 1).status == PatientStatus.ACTIVE


async def test_2b_status_shows_the_chats_current_patient_only(harness, fake_api):
    await harness.link("/enroll Dave B", user_id=DAVE_ID)
    chris_token = await harness.enroll("/enroll Chris Q session=2/4")
    await harness.send(DAVE_ID, f"/start {chris_token}")
    await _confirm(harness, DAVE_ID, ":no")   # Dave keeps his own plan
    await harness.send(DAVE_ID, "/status")
    assert "Session 1 of 3" in fake_api.texts(DAVE_ID)[-1]
    await harness.send(DAVE_ID, "Hello")
    assert "Dave B" in fake_api.texts(STAFF_ID)[-1] and "Chris" not in fake_api.texts(STAFF_ID)[-1]


async def test_3_opening_another_patients_invite_asks_and_changes_nothing_until_confirmed(harness, fake_api):
    await harness.link("/enroll Dave B", user_id=DAVE_ID)
    chris_token = await harness.enroll("/enroll Chris Q")
    pending_before = len(_pending(harness, 1))
    await harness.send(DAVE_ID, f"/start {chris_token}")
    _, data = harness.buttons(DAVE_ID)
    assert len(data) == 2, "no switch question"
    assert "Chris Q" in fake_api.texts(DAVE_ID)[-1]
    with harness.session() as session:
        assert session.get(Patient, 1).status == PatientStatus.ACTIVE
        assert session.get(Patient, 2).status == PatientStatus.AWAITING_LINK
    assert len(_pending(harness, 1)) == pending_before
    # Someone else's press does nothing.
    message_id, data = harness.buttons(DAVE_ID)
    await harness.press(OTHER_ID, _choice(data, "yes"), message_id, chat_id=DAVE_ID)
    with harness.session() as session:
        assert session.get(Patient, 2).status == PatientStatus.AWAITING_LINK
    await _confirm(harness, DAVE_ID)
    with harness.session() as session:
        assert session.get(Patient, 1).status == PatientStatus.SUPERSEDED
        assert session.get(Patient, 2).status == PatientStatus.ACTIVE
        assert session.get(Patient, 2).chat_id == DAVE_ID
    assert not _pending(harness, 1)


async def _linked_then_blocked(harness, fake_api, clock) -> None:
    """A linked patient blocks the bot: the evening check-in meets Telegram's 403."""
    await harness.link()
    fake_api.fail("sendMessage", status=403, description="Forbidden: bot was blocked by the user",
                  chat_id=PATIENT_ID)
    clock.set_local(0, 19, 30)
    await harness.dispatch()


async def test_4_relinking_a_patient_who_blocked_the_bot_restores_the_plan(harness, fake_api, clock):
    await _linked_then_blocked(harness, fake_api, clock)
    assert harness.rows(Patient)[0].status == PatientStatus.UNREACHABLE
    assert not _pending(harness, 1)
    await harness.send(STAFF_ID, "/invite 1")
    token = _token(fake_api.sent_messages(STAFF_ID)[-1].params["caption"])
    await harness.send(PATIENT_ID, f"/start {token}")
    assert harness.rows(Patient)[0].status == PatientStatus.ACTIVE
    assert _pending(harness, 1), "every future reminder stayed cancelled"


async def test_5_a_staff_cancel_is_not_undone_when_an_unreachable_patient_comes_back(harness, fake_api, clock):
    await _linked_then_blocked(harness, fake_api, clock)
    await _cancel(harness)
    await harness.send(PATIENT_ID, "I'm back")  # writing again makes a patient reachable
    assert not _pending(harness, 1)
    reasons = {r.outcome for r in harness.rows(Reminder, Reminder.status == ReminderStatus.CANCELLED)}
    assert reasons == {CancelReason.STAFF.value}
    assert harness.rows(Patient)[0].status == PatientStatus.CANCELLED


async def _rebook_message(harness, fake_api, clock):
    await harness.link()
    clock.set_local(28, 10, 0)
    await harness.dispatch()
    message_id, data = harness.buttons(PATIENT_ID)
    assert any(d.startswith("rb:") for d in data)
    return message_id, data


async def test_6_remind_me_later_plans_nothing_for_a_stopped_patient(harness, fake_api, clock):
    message_id, data = await _rebook_message(harness, fake_api, clock)
    await _stop(harness)
    await harness.press(PATIENT_ID, _choice(data, "later"), message_id)
    assert not _pending(harness, 1)
    assert "stopped" in (fake_api.calls_to("answerCallbackQuery")[-1].params.get("text") or "").lower() \
        or "stopped" in fake_api.texts(PATIENT_ID)[-1].lower()


async def test_7_not_continuing_moves_the_patient_to_its_own_list_and_staff_can_undo_it(harness, fake_api, clock):
    message_id, data = await _rebook_message(harness, fake_api, clock)
    await _not_continuing(harness, data, message_id)
    assert harness.rows(Patient)[0].status == PatientStatus.NOT_CONTINUING
    await harness.send(STAFF_ID, "/patients")
    assert "Anna K" not in fake_api.texts(STAFF_ID)[-1]
    await harness.send(STAFF_ID, "/patients not_continuing")
    assert "Anna K" in fake_api.texts(STAFF_ID)[-1]
    await harness.send(STAFF_ID, "/reopen 1")
    assert harness.rows(Patient)[0].status == PatientStatus.ACTIVE
    assert _pending(harness, 1), "the closing rebooking reminder did not come back"
    assert "Anna K" in fake_api.texts(STAFF_ID)[-1]


async def test_8_a_repeated_session_within_hours_asks_staff_to_confirm(harness, fake_api, clock):
    await harness.link()
    clock.advance(days=30)
    await harness.send(STAFF_ID, "/session 1")
    clock.advance(seconds=3)
    await harness.send(STAFF_ID, "/session 1")
    assert len(harness.rows(Reminder, Reminder.enrollment_id == 3)) == 0, "a second session was recorded at once"
    message_id, data = harness.buttons(STAFF_ID)
    assert len(data) == 2
    await harness.press(STAFF_ID, _choice(data, "no"), message_id)
    assert len(harness.rows(Reminder, Reminder.enrollment_id == 3)) == 0
    await harness.send(STAFF_ID, "/session 1")
    message_id, data = harness.buttons(STAFF_ID)
    await harness.press(STAFF_ID, _choice(data, "yes"), message_id)
    assert len(harness.rows(Reminder, Reminder.enrollment_id == 3)) > 0
    # The same confirmation pressed again records nothing more.
    await harness.press(STAFF_ID, _choice(data, "yes"), message_id)
    assert not harness.rows(Reminder, Reminder.enrollment_id == 4)


async def test_9_patients_due_and_still_red_follow_each_enrollments_own_protocol(harness, fake_api, clock):
    # The combined protocol's redness lasts up to a week: "still red" on day 3 is expected there.
    await harness.link("/enroll Anna K protocol=microneedling_peel_laser")
    clock.set_local(3, 10, 0)
    await harness.dispatch()
    message_id, data = harness.buttons(PATIENT_ID)
    clock.set_local(4, 11, 0)
    staff_before = len(fake_api.texts(STAFF_ID))
    await harness.press(PATIENT_ID, _choice(data, "red"), message_id)
    assert len(fake_api.texts(STAFF_ID)) == staff_before, "escalated although the protocol expects redness"


async def test_9b_patients_due_uses_each_protocols_window(harness, fake_api, clock, tmp_path):
    protocols = harness.services.catalog.protocols
    default = harness.services.catalog.protocol()
    other = next(p for name, p in protocols.items() if name != default.name)
    await harness.link("/enroll Anna K")
    await harness.link(f"/enroll Bea L protocol={other.name}", user_id=DAVE_ID)
    # Move the combined protocol's window, then look exactly where only it is open.
    object.__setattr__(other, "next_session_after", default.next_session_before + (default.next_session_before
                                                                                      - default.next_session_after))
    object.__setattr__(other, "next_session_before", other.next_session_after * 2)
    clock.advance(days=other.next_session_after.days + 1)
    await harness.send(STAFF_ID, "/patients due")
    text = fake_api.texts(STAFF_ID)[-1]
    assert "Bea L" in text and "Anna K" not in text


async def test_patient_shows_the_status_history_with_who_and_when_in_the_patients_zone(harness, fake_api):
    await harness.link("/enroll Anna K tz=America/New_York")
    await _stop(harness)
    await _cancel(harness)
    await harness.send(STAFF_ID, "/patient 1")
    text = fake_api.texts(STAFF_ID)[-1]
    assert "Status history</b> (times in Europe/Madrid)" in text  # the clinic's time, on staff screens
    history = text.split("Status history")[1].splitlines()[1:]
    assert [line.split(" · ", 2)[-1] for line in history] == [
        "enrolled (by Test) → awaiting link",
        "opened the invite (by the patient) → active",
        "stopped the messages (by the patient) → stopped",
        "messages cancelled (by Test) → cancelled by staff",
    ]
    assert history[0].startswith("Tue 24 November, 15:30")  # the clinic's time (Madrid), not New York's 09:30
