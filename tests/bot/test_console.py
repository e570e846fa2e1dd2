"""End to end: the staff console commands and their refusals."""

from __future__ import annotations

from bot.commands import staff_commands
from jobs.storage.models import Enrollment, Invite, Patient, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID


async def test_every_staff_command_refuses_non_staff_and_changes_nothing(harness, fake_api, caplog):
    """Every staff and admin command of the registry (bot/commands.py), tried by a stranger."""
    await harness.link()
    before = [(p.id, p.status) for p in harness.rows(Patient)], len(harness.rows(Reminder))
    tried = staff_commands()
    assert {"enroll", "patients", "patient", "stats", "staffinvite", "removestaff"} <= {c.name for c in tried}
    for command in tried:
        await harness.send(OTHER_ID, f"/{command.name} {command.sample}".strip())
        assert fake_api.texts(OTHER_ID)[-1] == "Sorry, this command is for the clinic team only.", command.name
    assert ([(p.id, p.status) for p in harness.rows(Patient)], len(harness.rows(Reminder))) == before
    assert "refused patients_command to non-staff user 3003" in caplog.text


async def test_patients_lists_by_state_with_paging(harness, fake_api):
    for index in range(12):
        await harness.enroll(f"/enroll Waiting {index}")
    await harness.link("/enroll Linked One")
    await harness.send(STAFF_ID, "/patients")
    text = fake_api.texts(STAFF_ID)[-1]
    assert "Active" in text and "1 in all" in text and "Linked One" in text
    await harness.send(STAFF_ID, "/patients awaiting")
    text = fake_api.texts(STAFF_ID)[-1]
    assert "12 in all, page 1 of 2" in text and text.count("\n#") == 10
    message_id, data = harness.buttons(STAFF_ID)
    assert "pl:awaiting_link:1" in data
    await harness.press(STAFF_ID, "pl:awaiting_link:1", message_id)
    edited = fake_api.calls_to("editMessageText")[-1].params["text"]
    assert "page 2 of 2" in edited and edited.count("\n#") == 2
    await harness.send(STAFF_ID, "/patients nonsense")
    assert "Write <code>/patients</code> or one of" in fake_api.texts(STAFF_ID)[-1]


async def test_patients_due_this_week(harness, fake_api, clock):
    await harness.link("/enroll Due Soon at=2026-10-30 10:00")
    await harness.link("/enroll Not Yet", user_id=PATIENT_ID + 1)
    clock.set_local(0, 16, 0)
    await harness.send(STAFF_ID, "/patients due")
    text = fake_api.texts(STAFF_ID)[-1]
    assert "Due Soon" in text and "Not Yet" not in text


async def test_patient_shows_profile_and_timeline(harness, fake_api, clock):
    await harness.link()
    clock.set_local(0, 19, 5)
    await harness.dispatch()
    await harness.send(STAFF_ID, "/patient anna")
    text = fake_api.texts(STAFF_ID)[-1]
    assert "<b>Anna K</b> (#1) — active" in text
    assert "Session 1 of 3" in text and "✅" in text and "expect" in text and "⏳" in text


async def test_patient_timeline_shows_titles_answer_labels_and_the_zone_in_the_staff_language(harness, fake_api,
                                                                                             clock):
    await harness.link("/enroll Anna K tz=America/New_York")
    clock.set_local(1, 2, 0)  # 20:00 in New York: the evening check-in is due
    await harness.dispatch()
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, data[1], message_id)  # still red
    await harness.send(STAFF_ID, "/patient 1", language_code="es")
    text = fake_api.texts(STAFF_ID)[-1]
    assert "<i>Las horas son las de la clínica, Europe/Madrid; el paciente vive en America/New_York.</i>" in text
    # 20:00 in New York is 02:00 the next day at the clinic: staff screens are in clinic time (issue 19).
    assert "✅ mié, 25 de noviembre, 02:00 · Consulta de la tarde — respuesta: 🔴 Aún con rojez o hinchazón" in text, text
    assert "· Cuidado del sol" in text and "settling_check" not in text and "— answered" not in text
    assert "Microneedling" in text


async def test_patient_search_ignores_accents_and_case(harness, fake_api):
    await harness.enroll("/enroll María José Ruiz")
    await harness.enroll("/enroll Anna K")
    for query in ("maria", "MARÍA JOSÉ", "jose ruiz"):
        await harness.send(STAFF_ID, f"/patient {query}")
        assert "<b>María José Ruiz</b> (#1)" in fake_api.texts(STAFF_ID)[-1], query


async def test_an_ambiguous_name_suggests_the_command_that_was_typed(harness, fake_api):
    await harness.enroll("/enroll Anna K")
    await harness.enroll("/enroll Anna L")
    for command in ("session", "invite", "cancel", "patient"):
        await harness.send(STAFF_ID, f"/{command} Anna")
        assert f"e.g. <code>/{command} 1</code>" in fake_api.texts(STAFF_ID)[-1], command


async def test_staff_help_starts_with_the_staff_commands(harness, fake_api):
    await harness.send(STAFF_ID, "/help")
    text = fake_api.texts(STAFF_ID)[-1]
    assert text.startswith("<b>Staff commands</b>")
    assert text.index("<b>Admin commands</b>") < text.index("<b>Your commands</b>")
    await harness.send(STAFF_ID, "/help", chat_id=-1001234567890, chat_type="supergroup")
    group = fake_api.texts(-1001234567890)[-1]
    assert group.startswith("<b>Staff commands</b>") and group.index("-1001234567890") < group.index("<b>Your commands")


async def test_unknown_and_ambiguous_patients_say_what_to_type(harness, fake_api):
    await harness.enroll("/enroll Anna K")
    await harness.enroll("/enroll Anna L")
    await harness.send(STAFF_ID, "/patient Zoe")
    assert "No patient matches “Zoe”" in fake_api.texts(STAFF_ID)[-1]
    await harness.send(STAFF_ID, "/patient anna")
    assert "Several patients match" in fake_api.texts(STAFF_ID)[-1] and "#1 Anna K" in fake_api.texts(STAFF_ID)[-1]
    await harness.send(STAFF_ID, "/patient")
    assert "Write <code>/patient 12</code>" in fake_api.texts(STAFF_ID)[-1]


async def test_session_records_the_next_cycle_and_cancels_old_rebooking(harness, fake_api, clock):
    await harness.link()
    clock.set_local(29, 11, 0)
    await harness.dispatch()  # the "book now" message went out
    await harness.send(STAFF_ID, "/session 1")
    assert "Recorded session 2 of 3 for <b>Anna K</b>" in fake_api.texts(STAFF_ID)[-1]
    enrollments = harness.rows(Enrollment)
    assert [e.session_number for e in enrollments] == [1, 2]
    [closing] = harness.rows(Reminder, Reminder.step_key == "rebook_closing", Reminder.enrollment_id == enrollments[0].id)
    assert closing.status == ReminderStatus.CANCELLED
    new = harness.rows(Reminder, Reminder.enrollment_id == enrollments[1].id)
    assert [r.step_key for r in new][:2] == ["expect", "evening_checkin"]
    await harness.dispatch()
    assert "redness and mild swelling" in fake_api.texts(PATIENT_ID)[-1]


async def test_session_refusals(harness, fake_api, clock):
    await harness.link("/enroll Anna K session=3/3")
    await harness.send(STAFF_ID, "/session 1")
    assert "had all 3 sessions" in fake_api.texts(STAFF_ID)[-1]
    await harness.send(STAFF_ID, "/session 1 at=teatime")
    assert "can't read the session time" in fake_api.texts(STAFF_ID)[-1]
    await harness.send(STAFF_ID, "/session 99")
    assert "No patient matches" in fake_api.texts(STAFF_ID)[-1]
    assert len(harness.rows(Enrollment)) == 1


async def test_cancel_stops_all_reminders(harness, fake_api, clock):
    await harness.link()
    await harness.send(STAFF_ID, "/cancel 1")
    message_id, data = harness.buttons(STAFF_ID)  # it asks first (issue 19)
    await harness.press(STAFF_ID, data[0], message_id)
    assert "Stopped all pending messages for <b>Anna K</b> (7 messages)." in \
        fake_api.calls_to("editMessageText")[-1].params["text"]
    clock.set_local(2, 10, 30)
    assert (await harness.dispatch()).handled == 0


async def test_invite_replaces_a_lost_link(harness, fake_api):
    old = await harness.enroll()
    await harness.send(STAFF_ID, "/invite 1")
    caption = fake_api.calls_to("sendPhoto")[-1].params["caption"]
    new = caption.split("?start=")[1].split()[0]
    assert new != old and "Older links no longer work" in caption
    await harness.send(PATIENT_ID, f"/start {old}")
    assert "expired" in fake_api.texts(PATIENT_ID)[-1]
    assert harness.rows(Patient)[0].status == PatientStatus.AWAITING_LINK
    await harness.send(PATIENT_ID, f"/start {new}")
    assert harness.rows(Patient)[0].status == PatientStatus.ACTIVE
    assert len(harness.rows(Invite)) == 2


async def test_stats_count_the_period(harness, fake_api, clock):
    await harness.link()
    await harness.enroll("/enroll Never Linked")
    clock.set_local(0, 19, 5)
    await harness.dispatch()
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, data[2], message_id)
    await harness.send(STAFF_ID, "/stats 7")
    text = fake_api.texts(STAFF_ID)[-1]
    assert "Last 7 days" in text and "Enrolled: 2 · linked: 1" in text
    assert "Messages sent: 2" in text and "worried 1" in text and "Check-ins escalated to staff: 1" in text
    await harness.send(STAFF_ID, "/stats lots")
    assert "Write <code>/stats</code>" in fake_api.texts(STAFF_ID)[-1]


async def test_staff_commands_show_patient_data_only_in_private_or_the_staff_group(harness, fake_api):
    await harness.link()
    await harness.send(STAFF_ID, "/patient 1", chat_id=-100777, chat_type="supergroup")
    assert "private chat" in fake_api.texts(-100777)[-1] and "Anna K" not in fake_api.texts(-100777)[-1]


async def test_staff_commands_work_in_the_staff_group(fake_api, database_url, clock):
    from tests.conftest import BotHarness, bot_env

    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, STAFF_CHAT_ID="-100555"), clock).start()
    try:
        await bot.link()
        await bot.send(STAFF_ID, "/patient 1", chat_id=-100555, chat_type="supergroup")
        assert "<b>Anna K</b> (#1)" in fake_api.texts(-100555)[-1]
        await bot.send(STAFF_ID, "/enroll Ivo", chat_id=-100555, chat_type="supergroup")
        assert "private chat" in fake_api.texts(-100555)[-1]  # invite links stay out of groups
    finally:
        await bot.stop()
