"""End to end: a thread per patient when the staff chat is a forum supergroup.

Each patient's alerts and messages go into a topic of their own ("#1 Anna K"), made on first use; a
staff reply there reaches the patient and is confirmed; anything else staff write there is a note for
the team, never sent; the topic closes when the plan ends and reopens when it resumes. Without a
forum nothing changes. All through the fake Bot API, with the test clock.
"""

from __future__ import annotations

import asyncio
import html
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.alerts import alert_staff
from bot.app import build_services
from bot.outbox import outbox_rounds
from bot.settings import Settings
from bot.topics import topic_name
from jobs.staff.outbox import Action, StaffPacer, StaffPacing
from jobs.storage.models import Patient, StaffNote, StaffNotice
from jobs.storage.states import PatientStatus
from tests.conftest import PATIENT_ID, STAFF_ID, BotHarness, bot_env

FORUM = -1001777000001
COLLEAGUE = 1002  # a second admin


@pytest.fixture
async def forum_bot(fake_api, database_url, clock):
    fake_api.add_group(FORUM)
    bot = BotHarness(fake_api, bot_env(fake_api, database_url, STAFF_CHAT_ID=str(FORUM),
                                       STAFF_IDS=f"{STAFF_ID},{COLLEAGUE}"), clock)
    await bot.start()
    yield bot
    await bot.stop()


async def in_group(bot: BotHarness, user_id: int, text: str, **kwargs) -> None:
    """A staff member writes in the staff group (a topic with message_thread_id, a reply with reply_to_message_id)."""
    await bot.send(user_id, text, chat_id=FORUM, chat_type="supergroup", **kwargs)


async def confirm(bot: BotHarness, chat_id: int) -> None:
    """Staff press "yes" under the bot's latest question in ``chat_id`` (a /cancel, asked first)."""
    message_id, data = bot.buttons(chat_id)
    await bot.press(STAFF_ID, data[0], message_id, chat_id=chat_id)


def last_in_topic(api, thread: int, *, containing: str = "") -> dict:
    """The bot's latest message in the topic whose text or caption contains ``containing``."""
    found = [m for m in api.topic_messages(FORUM, thread) if containing in (m.get("text") or m.get("caption") or "")]
    assert found, f"nothing containing {containing!r} in topic {thread}"
    return found[-1]


async def worried(bot: BotHarness, clock) -> None:
    """The patient answers the session-evening check-in with "I'm worried"."""
    clock.set_local(0, 19, 5)
    await bot.dispatch()
    message_id, data = bot.buttons(PATIENT_ID)
    await bot.press(PATIENT_ID, data[2], message_id)


async def test_alerts_messages_replies_and_notes_live_in_the_patients_topic(forum_bot, fake_api, clock):
    await forum_bot.link()
    await worried(forum_bot, clock)
    topic = fake_api.topic_named(FORUM, "#1 Anna K")
    assert len(fake_api.calls_to("createForumTopic")) == 1
    thread = topic.thread_id
    intro, alert = fake_api.in_topic(FORUM, thread)
    assert "Reply" in intro and "/patient 1" in intro
    assert "I'm worried" in alert and "Anna K" in alert
    assert fake_api.in_topic(FORUM, None) == []  # nothing about Anna lands in General

    # The patient writes: into the same topic; no second topic.
    clock.advance(minutes=5)
    await forum_bot.send(PATIENT_ID, "It burns a bit")
    relayed = last_in_topic(fake_api, thread, containing="It burns a bit")
    assert relayed["is_topic_message"] and len(fake_api.calls_to("createForumTopic")) == 1

    # A staff reply to it reaches the patient, and the topic hears it went.
    await in_group(forum_bot, STAFF_ID, "Cool it with a clean damp cloth; we'll call you.",
                   reply_to_message_id=relayed["message_id"])
    assert html.unescape(fake_api.texts(PATIENT_ID)[-1]).endswith("Cool it with a clean damp cloth; we'll call you.")
    assert fake_api.in_topic(FORUM, thread)[-1] == "Sent to Anna K ✓"
    # A reply to the alert works the same.
    await in_group(forum_bot, COLLEAGUE, "Calling you now.", reply_to_message_id=last_in_topic(
        fake_api, thread, containing="I'm worried")["message_id"])
    assert fake_api.texts(PATIENT_ID)[-1].endswith("Calling you now.")

    # A plain message in the topic is a note for the team: kept, never sent.
    to_patient = len(fake_api.texts(PATIENT_ID))
    sent_by_bot = len(fake_api.sent_messages(FORUM))
    await in_group(forum_bot, COLLEAGUE, "Spoke to her: mild, as expected. Check tomorrow.", message_thread_id=thread)
    await in_group(forum_bot, STAFF_ID, "", message_thread_id=thread, photo_file_id="staff-photo")
    assert len(fake_api.texts(PATIENT_ID)) == to_patient and len(fake_api.sent_messages(FORUM)) == sent_by_bot
    notes = forum_bot.rows(StaffNote)
    assert [(n.author_id, n.kind, n.text) for n in notes] == [
        (COLLEAGUE, "text", "Spoke to her: mild, as expected. Check tomorrow."), (STAFF_ID, "photo", "")]

    # A staff command typed in the topic runs as a command, and answers in the topic.
    await in_group(forum_bot, STAFF_ID, "/patient 1", message_thread_id=thread)
    card = fake_api.in_topic(FORUM, thread)[-1]
    assert "Team notes" in card and "Spoke to her: mild, as expected." in card and "📷 a photo" in card
    assert len(fake_api.texts(PATIENT_ID)) == to_patient
    # In the patient's topic the patient goes without saying.
    await in_group(forum_bot, STAFF_ID, "/patient", message_thread_id=thread)
    assert fake_api.in_topic(FORUM, thread)[-1] == card
    await in_group(forum_bot, STAFF_ID, "/patient")  # in General it still needs a name
    assert "/patient 12" in fake_api.in_topic(FORUM, None)[-1]


async def test_two_first_uses_at_once_make_one_topic(forum_bot, fake_api, clock, database_url):
    await forum_bot.link()
    services, bot = forum_bot.services, forum_bot.app.bot
    # A second bot process on the same database (its own memory, its own locks).
    other = build_services(Settings.from_env(forum_bot.env), clock=clock, migrate=False)
    try:
        await asyncio.gather(
            alert_staff(services, bot, "one", patient_id=1), alert_staff(services, bot, "two", patient_id=1),
            alert_staff(other, bot, "three", patient_id=1), forum_bot.send(PATIENT_ID, "four"))
        # Both processes' outbox jobs at once: the topic is still made once.
        await asyncio.gather(outbox_rounds(services, bot), outbox_rounds(other, bot))
    finally:
        other.store.dispose()
    assert len(fake_api.calls_to("createForumTopic")) == 1
    thread = fake_api.topic_named(FORUM, "#1 Anna K").thread_id
    assert {"one", "two", "three"} <= set(fake_api.in_topic(FORUM, thread))
    assert any("four" in text for text in fake_api.in_topic(FORUM, thread))
    assert fake_api.in_topic(FORUM, None) == []
    [patient] = forum_bot.rows(Patient)
    assert (patient.topic_chat_id, patient.topic_thread_id, patient.topic_claimed_until) == (FORUM, thread, None)


async def test_the_topic_closes_when_the_plan_ends_and_reopens_when_it_resumes(forum_bot, fake_api, clock):
    await forum_bot.link()
    await forum_bot.send(PATIENT_ID, "hello")
    topic = fake_api.topic_named(FORUM, "#1 Anna K")
    # The patient stops: after the next dispatcher pass the topic is closed.
    await forum_bot.send(PATIENT_ID, "/stop")
    message_id, data = forum_bot.buttons(PATIENT_ID)
    await forum_bot.press(PATIENT_ID, data[0], message_id)
    await forum_bot.rounds()
    assert topic.closed and len(fake_api.calls_to("closeForumTopic")) == 1
    await forum_bot.rounds()
    assert len(fake_api.calls_to("closeForumTopic")) == 1  # done once
    # /resume: reopened.
    clock.advance(hours=1)
    await forum_bot.send(PATIENT_ID, "/resume")
    await forum_bot.rounds()
    assert not topic.closed and len(fake_api.calls_to("reopenForumTopic")) == 1
    # Staff cancel (typed in the patient's topic, which names the patient): closed; a new session: open again.
    await in_group(forum_bot, STAFF_ID, "/cancel", message_thread_id=topic.thread_id)
    await confirm(forum_bot, FORUM)  # /cancel asks first (issue 19)
    assert forum_bot.rows(Patient)[0].status == PatientStatus.CANCELLED
    await forum_bot.rounds()
    assert topic.closed
    # An alert about the patient meanwhile still goes into the closed topic (the bot is an admin).
    await alert_staff(forum_bot.services, forum_bot.app.bot, "still about Anna", patient_id=1)
    await forum_bot.send_notices()
    assert fake_api.in_topic(FORUM, topic.thread_id)[-1] == "still about Anna"
    clock.advance(days=30)
    await forum_bot.send(STAFF_ID, "/session 1")
    await forum_bot.rounds()
    assert not topic.closed
    [patient] = forum_bot.rows(Patient)
    assert (patient.topic_closed, patient.topic_pending) == (False, None)


async def test_a_patient_who_writes_into_a_closed_topic_opens_it_again(forum_bot, fake_api, clock):
    await forum_bot.link()
    await forum_bot.send(PATIENT_ID, "hello")
    topic = fake_api.topic_named(FORUM, "#1 Anna K")
    await forum_bot.send(STAFF_ID, "/cancel 1")
    await confirm(forum_bot, STAFF_ID)
    await forum_bot.rounds()
    assert topic.closed
    await forum_bot.send(PATIENT_ID, "I still have a question")
    assert not topic.closed  # so that any colleague can answer in it
    await forum_bot.rounds()
    assert not topic.closed


async def test_the_topic_closes_when_the_series_is_done(forum_bot, fake_api, clock):
    await forum_bot.link("/enroll Anna K session=3/3")
    await forum_bot.send(PATIENT_ID, "hello")
    topic = fake_api.topic_named(FORUM, "#1 Anna K")
    clock.advance(days=27)
    await forum_bot.rounds()
    assert not topic.closed  # the closing message of the series is still to come
    clock.advance(days=2)
    await forum_bot.rounds()
    # The closing message went, but the outcome questions (day 30 and 90) are still to come: staff
    # may need the topic for a "worse" answer.
    assert not topic.closed
    clock.advance(days=80)  # past the 90-day question's validity
    await forum_bot.rounds()
    assert topic.closed


async def test_erasure_closes_the_topic_takes_the_name_off_it_and_drops_the_notes(forum_bot, fake_api, clock):
    await forum_bot.link()
    await forum_bot.send(PATIENT_ID, "hello")
    topic = fake_api.topic_named(FORUM, "#1 Anna K")
    await in_group(forum_bot, STAFF_ID, "a note", message_thread_id=topic.thread_id)
    assert forum_bot.rows(StaffNote)
    await forum_bot.send(PATIENT_ID, "/delete")
    message_id, data = forum_bot.buttons(PATIENT_ID)
    await forum_bot.press(PATIENT_ID, data[0], message_id)
    assert forum_bot.rows(StaffNote) == []
    await forum_bot.rounds()
    assert (topic.name, topic.closed) == ("#1", True)
    # A message written in the erased patient's topic is not kept.
    await in_group(forum_bot, STAFF_ID, "another note", message_thread_id=topic.thread_id)
    assert forum_bot.rows(StaffNote) == []


async def test_a_topic_deleted_by_staff_is_made_again_on_next_use(forum_bot, fake_api, clock):
    await forum_bot.link()
    await forum_bot.send(PATIENT_ID, "first")
    first = fake_api.topic_named(FORUM, "#1 Anna K").thread_id
    fake_api.delete_topic_by_user(FORUM, first)
    await forum_bot.send(PATIENT_ID, "second")
    second = fake_api.topic_named(FORUM, "#1 Anna K").thread_id
    assert second != first and len(fake_api.calls_to("createForumTopic")) == 2
    assert any("second" in text for text in fake_api.in_topic(FORUM, second))
    # A reply in the new topic reaches the patient.
    await in_group(forum_bot, STAFF_ID, "got it", reply_to_message_id=last_in_topic(
        fake_api, second, containing="second")["message_id"])
    assert fake_api.texts(PATIENT_ID)[-1].endswith("got it")


async def test_topics_turned_off_send_alerts_to_the_chat_again(forum_bot, fake_api, clock):
    await forum_bot.link()
    await forum_bot.send(PATIENT_ID, "first")
    fake_api.set_forum(FORUM, False)
    await forum_bot.send(PATIENT_ID, "second")
    call = fake_api.sent_messages(FORUM)[-1]
    assert "second" in call.params["text"] and "message_thread_id" not in call.params
    # A reply to it works as it always did without a forum.
    await in_group(forum_bot, STAFF_ID, "answer", reply_to_message_id=fake_api.bot_messages(FORUM)[-1]["message_id"])
    assert fake_api.texts(PATIENT_ID)[-1].endswith("answer")
    assert fake_api.texts(FORUM)[-1] == "Sent to Anna K."
    await forum_bot.send(PATIENT_ID, "third")
    assert len(fake_api.calls_to("createForumTopic")) == 1


async def test_a_bot_without_manage_topics_keeps_alerting_in_general(fake_api, database_url, clock):
    fake_api.add_group(FORUM, can_manage_topics=False)
    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, STAFF_CHAT_ID=str(FORUM)), clock).start()
    try:
        await bot.link()
        await bot.send(PATIENT_ID, "first")
        await bot.send(PATIENT_ID, "second")
        assert [c.status for c in fake_api.calls_to("createForumTopic")] == [400]  # asked once, not per alert
        texts = fake_api.in_topic(FORUM, None)
        assert any("first" in t for t in texts) and any("second" in t for t in texts)
        assert fake_api.topics(FORUM) == []
    finally:
        await bot.stop()


async def test_without_a_forum_nothing_changes(fake_api, database_url, clock):
    fake_api.add_group(FORUM, forum=False)
    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, STAFF_CHAT_ID=str(FORUM)), clock).start()
    try:
        await bot.link()
        await bot.send(PATIENT_ID, "a question")
        group_message_id = fake_api.sent_messages(FORUM)[-1]
        assert "message_thread_id" not in group_message_id.params
        await in_group(bot, STAFF_ID, "an answer", reply_to_message_id=len(fake_api.sent_messages(FORUM)))
        assert fake_api.texts(PATIENT_ID)[-1].endswith("an answer")
        assert fake_api.texts(FORUM)[-1] == "Sent to Anna K."
        await in_group(bot, STAFF_ID, "team chatter")
        assert fake_api.texts(FORUM)[-1] == "Sent to Anna K."  # the bot stays out of the team's talk
        assert bot.rows(StaffNote) == []
        assert fake_api.calls_to("createForumTopic") == []
        await bot.rounds()
        assert fake_api.calls_to("closeForumTopic") == []
    finally:
        await bot.stop()


def test_topic_names_fit_telegrams_limit():
    assert topic_name(12, "Anna K") == "#12 Anna K"
    assert topic_name(12, "") == "#12"
    long = topic_name(123456, "😀" * 120)
    assert len(long.encode("utf-16-le")) // 2 <= 128 and long.startswith("#123456 😀")


# A NUL byte, which PostgreSQL refuses in text, is dropped rather than the edit lost.
@pytest.mark.parametrize("edited_text", ["call at 6", "call\x00 at 6"], ids=["plain", "nul"])
async def test_an_edited_note_is_kept_as_edited(forum_bot, fake_api, edited_text):
    await forum_bot.link()
    await forum_bot.send(PATIENT_ID, "hello")
    thread = fake_api.topic_named(FORUM, "#1 Anna K").thread_id
    note = fake_api.message_update(user_id=STAFF_ID, text="call at 5", chat_id=FORUM, message_thread_id=thread)
    await forum_bot.process(note)
    edit = fake_api.message_update(user_id=STAFF_ID, text=edited_text, chat_id=FORUM, message_thread_id=thread,
                                   edited=True)
    edit["edited_message"]["message_id"] = note["message"]["message_id"]
    to_patient = len(fake_api.texts(PATIENT_ID))
    await forum_bot.process(edit)
    assert [n.text for n in forum_bot.rows(StaffNote)] == ["call at 6"]
    assert len(fake_api.texts(PATIENT_ID)) == to_patient


async def test_topics_turned_on_later_are_noticed_from_the_groups_own_messages(fake_api, database_url, clock):
    fake_api.add_group(FORUM, forum=False)
    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, STAFF_CHAT_ID=str(FORUM)), clock).start()
    try:
        await bot.link()
        await bot.send(PATIENT_ID, "before")
        assert fake_api.calls_to("createForumTopic") == []
        fake_api.set_forum(FORUM, True)
        await in_group(bot, STAFF_ID, "we turned topics on")  # its chat says is_forum: no need to wait for a re-check
        await bot.send(PATIENT_ID, "after")
        thread = fake_api.topic_named(FORUM, "#1 Anna K").thread_id
        assert any("after" in text for text in fake_api.in_topic(FORUM, thread))
        assert len(fake_api.calls_to("getChat")) == 1
    finally:
        await bot.stop()


async def test_a_forum_is_asked_again_after_a_while(fake_api, database_url, clock):
    fake_api.add_group(FORUM, forum=False)
    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, STAFF_CHAT_ID=str(FORUM)), clock).start()
    try:
        await bot.link()
        await bot.send(PATIENT_ID, "before")
        fake_api.set_forum(FORUM, True)
        clock.advance(minutes=5)
        await bot.send(PATIENT_ID, "still cached")
        assert fake_api.topics(FORUM) == []
        clock.advance(minutes=15)
        await bot.send(PATIENT_ID, "asked again")
        assert any("asked again" in text for text in fake_api.in_topic(FORUM, fake_api.topics(FORUM)[0].thread_id))
    finally:
        await bot.stop()


async def test_a_closed_topic_the_bot_may_no_longer_post_in_sends_to_general(forum_bot, fake_api):
    await forum_bot.link()
    await forum_bot.send(PATIENT_ID, "hello")
    topic = fake_api.topic_named(FORUM, "#1 Anna K")
    await forum_bot.send(STAFF_ID, "/cancel 1")
    await confirm(forum_bot, STAFF_ID)
    await forum_bot.rounds()
    assert topic.closed
    fake_api.groups[FORUM].can_manage_topics = False
    assert await alert_staff(forum_bot.services, forum_bot.app.bot, "about Anna", patient_id=1) == 1
    await forum_bot.send_notices()
    assert fake_api.in_topic(FORUM, None)[-1] == "about Anna"


async def test_a_creation_claimed_elsewhere_is_waited_for_then_taken_over_once_its_lease_ran_out(
        forum_bot, fake_api, clock):
    await forum_bot.link()
    forum_bot.services.forum.wait_for_other = 0.2  # a real wait: another process would be done long before

    def claimed_until(moment):
        with forum_bot.session() as session:
            session.exec(update(Patient).values(topic_claimed_until=moment))
            session.commit()

    # Another process is creating Anna's topic (and never finishes): after the wait, General.
    claimed_until(clock() + timedelta(seconds=30))
    assert await alert_staff(forum_bot.services, forum_bot.app.bot, "meanwhile", patient_id=1) == 1
    await forum_bot.send_notices()
    assert fake_api.in_topic(FORUM, None)[-1] == "meanwhile" and fake_api.calls_to("createForumTopic") == []
    # That process died: once its lease has run out, this one makes the topic.
    clock.advance(seconds=31)
    await alert_staff(forum_bot.services, forum_bot.app.bot, "now", patient_id=1)
    await forum_bot.send_notices()
    assert fake_api.in_topic(FORUM, fake_api.topic_named(FORUM, "#1 Anna K").thread_id)[-1] == "now"


async def test_a_note_with_a_nul_byte_is_kept_without_it(forum_bot, fake_api, clock):
    """PostgreSQL refuses NUL in text: the note is kept without it rather than lost to an error (both databases)."""
    await forum_bot.link()
    await worried(forum_bot, clock)
    thread = fake_api.topic_named(FORUM, "#1 Anna K").thread_id
    await in_group(forum_bot, COLLEAGUE, "call\x00 at 6", message_thread_id=thread)
    assert [n.text for n in forum_bot.rows(StaffNote)] == ["call at 6"]


async def test_erasure_takes_the_name_off_every_staff_message_that_named_the_patient(forum_bot, fake_api, clock):
    await forum_bot.link("/enroll Hilda Zwicky")
    await forum_bot.send(PATIENT_ID, "It burns a bit")  # the topic, its opening message, the relayed words
    topic = fake_api.topic_named(FORUM, "#1 Hilda Zwicky")
    services, bot = forum_bot.services, forum_bot.app.bot
    # An alert that is no inbox item (a booking, say), and one with a photo.
    await alert_staff(services, bot, "📅 <b>Hilda Zwicky</b> (#1) booked Tue 1 Dec, 10:00", patient_id=1)
    await alert_staff(services, bot, "📷 <b>Hilda Zwicky</b> (#1) sent a photo", patient_id=1, photo="ph-1")
    await forum_bot.rounds()  # the staff outbox sends them
    relayed = last_in_topic(fake_api, topic.thread_id, containing="It burns a bit")
    await in_group(forum_bot, STAFF_ID, "Cool it down.", reply_to_message_id=relayed["message_id"])  # "Sent to"
    await in_group(forum_bot, STAFF_ID, "/patient 1", message_thread_id=topic.thread_id)  # the card

    def naming() -> list[str]:
        shown = [m.get("text") or m.get("caption") or "" for m in fake_api.bot_messages(FORUM)]
        return [text for text in shown if "Hilda" in text or "burns" in text]

    assert len(naming()) >= 6, naming()

    def group_writes() -> int:
        return sum(1 for call in fake_api.calls if call.params.get("chat_id") == FORUM)

    # Telegram's pace for the group (the fake's flood control and the outbox's own, by the test's clock).
    fake_api.limit_groups(20, 60.0, clock=lambda: clock().timestamp())
    services.staff_pacer = StaffPacer(StaffPacing())
    services.outbox_sleep = lambda seconds: _advance(clock, seconds)
    clock.advance(minutes=2)  # the group's minute of calls above is over
    await forum_bot.send(PATIENT_ID, "/delete")
    message_id, data = forum_bot.buttons(PATIENT_ID)
    before = group_writes()
    outbox, forum_bot.send_notices = forum_bot.send_notices, _nothing  # the outbox's job, held back for now
    await forum_bot.press(PATIENT_ID, data[0], message_id)  # the erasure
    await forum_bot.rounds()  # and the dispatcher's passes, with their after-pass
    # Neither the erasure nor the dispatcher wrote to the staff group: the edits wait in the staff outbox.
    assert group_writes() == before and len(naming()) >= 6
    assert forum_bot.rows(StaffNotice, StaffNotice.action == Action.UNNAME.value)
    forum_bot.send_notices = outbox
    for _ in range(10):  # the outbox's job, run as its ticks would, each a few seconds later
        await outbox_rounds(services, bot)
        clock.advance(seconds=5)
    assert naming() == []
    assert not [call for call in fake_api.calls if call.status == 429]  # paced: never too many for the group
    assert (topic.name, topic.closed) == ("#1", True)
    assert "#1: erased at the patient's request" in last_in_topic(fake_api, topic.thread_id)["text"]
    # Each was edited once and forgotten: a later pass edits nothing.
    edits = len(fake_api.calls_to("editMessageText")) + len(fake_api.calls_to("editMessageCaption"))
    await forum_bot.rounds()
    await outbox_rounds(services, bot)
    assert len(fake_api.calls_to("editMessageText")) + len(fake_api.calls_to("editMessageCaption")) == edits


async def _nothing() -> None:
    return None


async def _advance(clock, seconds: float) -> None:
    clock.advance(seconds=seconds)
