"""A thread per patient: when the staff chat is a forum supergroup, each patient has a topic of their own.

``STAFF_CHAT_ID`` is asked once whether it is a forum (``getChat``'s ``is_forum``, cached, and asked
again when Telegram's answers say it changed). In a forum, everything :func:`bot.alerts.alert_staff`
sends about a patient goes into the patient's topic, "#12 Anna K", created on first use
(``createForumTopic``; one creator at a time, across processes, by a claim in the database). A topic
staff deleted is made again on next use; a chat that stopped being a forum gets alerts in the chat
itself, as before. The lifecycle marks topics to close or reopen (``jobs/staff/topics.note_topic``);
:func:`settle_topics` does it after each dispatcher pass.

Without a forum nothing here changes anything: alerts go to the chat, replies work as they always did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram import Bot, Chat
from telegram.error import BadRequest, TelegramError

from bot.services import Services
from jobs.staff import topics
from jobs.storage.models import Patient
from jobs.storage.states import PatientStatus

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long getChat's answer is trusted (topics may be turned on or off in the app at any time; the
# staff chat's own messages, which say is_forum, refresh it sooner).
FORUM_CHECK_EVERY = timedelta(minutes=15)
# After createForumTopic was refused for lack of rights, how long alerts go to General before asking again.
REFUSED_PAUSE = timedelta(minutes=10)
MAX_TOPIC_NAME = 128  # Telegram: 1-128 characters
_POLL = 0.05  # seconds between looks at the database while another process creates a topic


def topic_name(patient_id: int, name: str) -> str:
    """ "#12 Anna K", cut to Telegram's 128 characters (counted as Telegram counts, in UTF-16 units)."""
    title = f"#{patient_id} {name}".strip()
    while len(title.encode("utf-16-le")) // 2 > MAX_TOPIC_NAME:
        title = title[:-1]
    return title.rstrip()


def _says(exc: TelegramError, *phrases: str) -> bool:
    message = str(exc).lower()
    return any(phrase.lower() in message for phrase in phrases)


def thread_gone(exc: TelegramError) -> bool:
    """Telegram's answer when a topic was deleted, or the chat is no longer a forum."""
    return isinstance(exc, BadRequest) and _says(exc, "message thread not found", "topic_deleted", "topic deleted")


def note_staff_chat(services: Services, chat: Chat | None) -> None:
    """A message from the staff chat says whether it is a forum now: trust that over the cached answer."""
    if chat is None or chat.id != services.settings.staff_chat_id:
        return
    is_forum = bool(chat.is_forum)
    if services.forum.is_forum != is_forum:
        log.info("the staff chat is %s a forum now", "" if is_forum else "no longer")
    services.forum.is_forum, services.forum.checked_at = is_forum, services.clock()


async def staff_forum(services: Services, bot: Bot, *, fresh: bool = False) -> int | None:
    """The staff chat's id if it is a forum supergroup (topics on), else None."""
    chat_id = services.settings.staff_chat_id
    if chat_id is None:
        return None
    state, now = services.forum, services.clock()
    if fresh or state.is_forum is None or state.checked_at is None or now - state.checked_at >= FORUM_CHECK_EVERY:
        try:
            chat = await bot.get_chat(chat_id)
        except TelegramError as exc:
            log.warning("could not ask Telegram whether the staff chat is a forum: %s", exc)
            return chat_id if state.is_forum else None
        was, state.is_forum, state.checked_at = state.is_forum, bool(chat.is_forum), now
        if was is not None and was != state.is_forum:
            log.info("the staff chat is %s a forum now", "" if state.is_forum else "no longer")
    return chat_id if state.is_forum else None


async def patient_thread(services: Services, bot: Bot, patient_id: int) -> tuple[int, int] | None:
    """(staff chat, thread) for what concerns this patient, creating the topic on first use; None: the chat itself."""
    chat_id = await staff_forum(services, bot)
    if chat_id is None:
        return None
    state = services.forum
    lock = state.locks.setdefault(patient_id, asyncio.Lock())
    try:
        async with lock:  # this process: one creation per patient at a time; the others wait and find it made
            return await _thread_or_create(services, bot, chat_id, patient_id)
    finally:
        if not lock.locked() and not getattr(lock, "_waiters", None) and state.locks.get(patient_id) is lock:
            del state.locks[patient_id]  # nobody holds or awaits it: no lock kept per patient ever alerted


async def _thread_or_create(services: Services, bot: Bot, chat_id: int, patient_id: int) -> tuple[int, int] | None:
    """The patient's topic, or the claim to create it and then the topic; waits while another process creates it."""
    state = services.forum
    claim = await services.store.run(topics.claim_topic, patient_id=patient_id, chat_id=chat_id,
                                     now=services.clock())
    waited = 0.0
    while claim.claim is topics.Claim.BUSY and waited < state.wait_for_other:
        # Another bot process is creating it: it will be there in a moment.
        await asyncio.sleep(_POLL)
        waited += _POLL
        claim = await services.store.run(topics.claim_topic, patient_id=patient_id, chat_id=chat_id,
                                         now=services.clock())
    if claim.claim is topics.Claim.HAVE:
        return chat_id, claim.thread_id
    if claim.claim is topics.Claim.BUSY:
        log.warning("patient %d's topic is still being created elsewhere; this alert goes to General", patient_id)
        return None
    thread = await _create_topic(services, bot, chat_id, patient_id)
    return (chat_id, thread) if thread is not None else None


async def _create_topic(services: Services, bot: Bot, chat_id: int, patient_id: int) -> int | None:
    """Create the patient's topic (the claim is ours); None if Telegram would not, and why is logged."""
    state, now = services.forum, services.clock()
    patient = await services.store.run(lambda session: session.get(Patient, patient_id))
    if patient is None or (state.refused_until is not None and now < state.refused_until):
        await services.store.run(topics.release_claim, patient_id=patient_id)
        return None
    try:
        topic = await bot.create_forum_topic(chat_id, topic_name(patient.id, patient.name))
    except TelegramError as exc:
        await services.store.run(topics.release_claim, patient_id=patient_id)
        if _says(exc, "not a forum"):
            state.is_forum, state.checked_at = False, now
            log.info("the staff chat is no longer a forum: alerts go to the chat itself")
        elif _says(exc, "not enough rights", "administrator", "CHAT_ADMIN_REQUIRED"):
            state.refused_until = now + REFUSED_PAUSE
            log.warning("the bot may not create topics in the staff chat (make it an admin with 'Manage topics'); "
                        "alerts go to General meanwhile: %s", exc)
        else:
            log.warning("could not create patient %d's topic: %s", patient_id, exc)
        return None
    thread = topic.message_thread_id
    await services.store.run(topics.topic_created, patient_id=patient_id, chat_id=chat_id, thread_id=thread)
    log.info("created patient %d's topic in the staff chat (thread %d)", patient_id, thread)
    try:
        await bot.send_message(chat_id, services.text(services.staff_locale, "topic_intro", name=patient.name,
                                                      patient_id=patient.id), message_thread_id=thread)
    except TelegramError as exc:
        log.warning("could not post the introduction in patient %d's topic: %s", patient_id, exc)
    return thread


async def send_about(services: Services, bot: Bot, chat_id: int, patient_id: int | None,
                     send: Callable[[int | None], Awaitable[T]]) -> tuple[T, int | None]:
    """``send(thread)`` to ``chat_id``: into the patient's topic when it is the forum staff chat, else as before.

    Returns what ``send`` returned and the thread it went to. A topic Telegram no longer has is
    forgotten and made again (or, if the chat stopped being a forum, the chat itself is used).
    """
    if patient_id is None or chat_id != services.settings.staff_chat_id:
        return await send(None), None
    where = await patient_thread(services, bot, patient_id)
    if where is None:
        return await send(None), None
    try:
        return await send(where[1]), where[1]
    except TelegramError as exc:
        if not thread_gone(exc):
            if isinstance(exc, BadRequest) and _says(exc, "TOPIC_CLOSED"):
                # The bot may no longer post in closed topics (it lost "Manage topics"): the chat itself.
                log.warning("patient %d's topic is closed to the bot; this alert goes to General", patient_id)
                return await send(None), None
            raise
    log.info("patient %d's topic is gone from the staff chat; making it again", patient_id)
    await services.store.run(topics.forget_topic, patient_id=patient_id, chat_id=where[0], thread_id=where[1])
    await staff_forum(services, bot, fresh=True)
    again = await patient_thread(services, bot, patient_id)
    if again is None:
        return await send(None), None
    return await send(again[1]), again[1]


async def reopen_for_patient(services: Services, bot: Bot, patient_id: int) -> None:
    """The patient wrote: a closed topic is opened again, so that every colleague can answer in it."""
    chat_id = await staff_forum(services, bot)
    if chat_id is None:
        return
    topic = await services.store.run(topics.topic_of, patient_id=patient_id, chat_id=chat_id)
    if topic is not None and topic.closed:
        await _change(services, bot, chat_id, patient_id, topic.thread_id, close=False, override=True)


async def settle_topics(services: Services, bot: Bot) -> int:
    """Close or reopen the topics the lifecycle marked (plans ended or resumed, series done); return how many."""
    chat_id = await staff_forum(services, bot)
    if chat_id is None:
        return 0
    done = 0
    for patient in await services.store.run(topics.pending_topics, chat_id=chat_id, now=services.clock()):
        if patient.status == PatientStatus.DELETED:
            # Erased: the topic keeps no name, only the number.
            try:
                await bot.edit_forum_topic(chat_id, patient.topic_thread_id, name=topic_name(patient.id, ""))
            except TelegramError as exc:
                if not _says(exc, "TOPIC_NOT_MODIFIED") and not thread_gone(exc):
                    log.warning("could not rename erased patient %d's topic: %s", patient.id, exc)
        if await _change(services, bot, chat_id, patient.id, patient.topic_thread_id,
                         close=patient.topic_pending == "closed"):
            done += 1
    return done


async def _change(services: Services, bot: Bot, chat_id: int, patient_id: int, thread: int, *, close: bool,
                  override: bool = False) -> bool:
    try:
        if close:
            await bot.close_forum_topic(chat_id, thread)
        else:
            await bot.reopen_forum_topic(chat_id, thread)
    except TelegramError as exc:
        if thread_gone(exc):
            await services.store.run(topics.forget_topic, patient_id=patient_id, chat_id=chat_id, thread_id=thread)
            return False
        if not _says(exc, "TOPIC_NOT_MODIFIED"):  # already so: nothing to do but record it
            log.warning("could not %s patient %d's topic: %s", "close" if close else "reopen", patient_id, exc)
            return False
    await services.store.run(topics.topic_settled, patient_id=patient_id, closed=close, override=override)
    log.info("%s patient %d's topic", "closed" if close else "reopened", patient_id)
    return True
