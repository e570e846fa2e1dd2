"""End to end: a press is read once, by bot.callbacks.ButtonHandler, and its handler works from that reading."""

from __future__ import annotations

import bot.callbacks
from jobs.buttons import parse_callback
from jobs.storage.models import Reminder
from tests.conftest import PATIENT_ID, STAFF_ID


async def test_each_press_is_read_once_whatever_its_kind_or_validity(harness, fake_api, clock, monkeypatch):
    await harness.link()
    clock.set_local(0, 19, 5)
    await harness.dispatch()
    message_id, data = harness.buttons(PATIENT_ID)
    read = []

    def counting(value):
        read.append(value)
        return parse_callback(value)

    monkeypatch.setattr(bot.callbacks, "parse_callback", counting)
    await harness.press(PATIENT_ID, data[0], message_id)  # a check-in answer
    await harness.press(PATIENT_ID, "ci:²:fine", message_id)  # forged: left to the catch-all
    await harness.press(STAFF_ID, "pl:active:0", 1)  # a /patients page
    assert read == [data[0], "ci:²:fine", "pl:active:0"]
    [reminder] = harness.rows(Reminder, Reminder.step_key == "evening_checkin")
    assert reminder.answer == "fine"
    answers = [call.params.get("text") for call in fake_api.calls_to("answerCallbackQuery")]
    assert answers[1] == "This button isn't for you, or it's no longer valid."
    assert len(answers) == 3 and fake_api.unanswered_callbacks() == set()
