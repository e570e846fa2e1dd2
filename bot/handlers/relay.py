"""Talking to the clinic: a patient's messages go to staff; a staff reply goes back.

Texts and photos are sent on; voice messages, audio, videos and files are copied (with a caption
naming the patient). Stickers and video notes from a patient get an answer instead: they cannot
carry that caption.

One handler for every plain message, because the same text means different things by who
sends it: a staff member replying to a relayed message, a linked patient, or a stranger. In a forum
staff chat a staff member's message in a patient's topic that replies to none of the patient's
messages is a note for the team (kept on ``/patient``, never sent).
"""

from __future__ import annotations

import html
import logging
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.constants import ChatType
from telegram.error import Forbidden, TelegramError

from bot.alerts import MAX_CAPTION, MAX_TEXT, Writer, Written, alert_staff, split_for_limit
from bot.context import AftercareContext
from bot.erasure import remember
from bot.handlers.answers import closed_notice, red_flag_follow_up, worried_follow_up
from bot.handlers.enroll import form_text
from bot.handlers.photos import photo_answer
from bot.inbox_views import close_silence, refresh_items, staffer_of
from bot.services import Services
from bot.topics import note_staff_chat, queue_reopen
from jobs.care.escalation import days_since_session
from jobs.care.silence import patient_wrote
from jobs.events import ESCALATED, FROM_WORDS, record_event
from jobs.inputs import display_phone, storable_text
from jobs.intake import has_effect, note_effect
from jobs.patients.queries import current_enrollment
from jobs.patients.self_service import mark_reachable, patient_for_chat
from jobs.staff.inbox import InboxKind, ItemOrigin
from jobs.staff.relay import FROM_CLINIC, FROM_PATIENT, keep_message, patient_for_relay, staff_replied
from jobs.staff.topics import add_note, edit_note, has_note, patient_of_topic
from jobs.storage.states import PatientStatus

log = logging.getLogger(__name__)

RELAYED = "relayed"  # the effect noted on the update once staff have the patient's message


async def incoming_message(update: Update, context: AftercareContext) -> None:
    """Route a message: staff reply -> patient; patient -> staff; stranger -> explanation."""
    services = context.services
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    note_staff_chat(services, chat)
    if message.reply_to_message and await services.is_staff(user.id if user else None):
        context.for_staff()
        patient = await services.store.run(patient_for_relay, staff_chat_id=chat.id,
                                           staff_message_id=message.reply_to_message.message_id)
        if patient is not None:
            await _reply_to_patient(update, context, services, patient)
            return
    if chat.type != ChatType.PRIVATE:
        if message.is_topic_message and await services.is_staff(user.id if user else None):
            context.for_staff()
            await _note_in_topic(update, context, services)
        return  # otherwise the staff group's own conversation is not for us
    if message.text and await services.is_staff(user.id):
        context.for_staff()
        if await form_text(update, context):
            return  # an answer to the staff member's open /enroll form
    patient = await services.store.run(patient_for_chat, chat_id=chat.id)
    if patient is not None and patient.status == PatientStatus.UNREACHABLE:
        # A patient who blocked us and writes again is reachable again: re-plan what is still valid.
        patient = await services.store.run(mark_reachable, chat_id=chat.id,
                                           quiet_hours=services.settings.quiet_hours, now=services.clock())
    if patient is None:
        if await services.is_staff(user.id if user else None):
            context.for_staff()
            await context.reply("staff_hint")
        else:
            await context.reply("stranger")
        return
    if message.photo and await photo_answer(update, context, patient):
        return  # the answer to a photo check-in: staff have it with its review buttons
    await _relay_to_staff(update, context, services, patient)


async def edited_message(update: Update, context: AftercareContext) -> None:
    """A patient edited a message: staff get the new text once, marked as an edit. Nothing else re-runs
    (an edited command, an edited staff reply, an edited answer to the /enroll form); an edited note
    in a patient's topic is kept as edited."""
    services = context.services
    message, chat = update.effective_message, update.effective_chat
    if chat.type != ChatType.PRIVATE and message.is_topic_message:
        # A staff member corrected a note in a patient's topic: the note says what it says now.
        await services.store.run(edit_note, staff_chat_id=chat.id, staff_message_id=message.message_id,
                                 text=message.text or message.caption or "")
        return
    if chat.type != ChatType.PRIVATE or not (message.text or message.caption):
        return
    if (message.text or "").startswith("/") or await services.is_staff(update.effective_user.id):
        return
    patient = await services.store.run(patient_for_chat, chat_id=chat.id)
    if patient is None:
        return
    await _relay_to_staff(update, context, services, patient, edited=True)


async def _relay_to_staff(update: Update, context, services: Services, patient, *, edited: bool = False) -> None:
    message = update.effective_message
    # The patient's own words; a header plus them may not fit Telegram's limit: then they follow alone.
    # As staff will read it: no NUL, no lone surrogate (neither can be stored, measured or shown).
    words = storable_text(message.text or message.caption or "")
    # Words that carry a red flag are handled like "I'm worried"; so is an edit that adds one (caution first:
    # an edit of a message that already raised one raises it again).
    flagged = bool(words) and bool(services.catalog.red_flags.flags(words))
    # Handled again after a crash (the intake is at-least-once): staff already have it.
    if await services.store.run(has_effect, update_id=update.update_id, effect=RELAYED):
        log.info("update %d: patient %d's message already reached staff", update.update_id, patient.id)
        await _answer_patient(message, services, patient, flagged=flagged, delivered=True)
        return
    enrollment = await services.store.run(current_enrollment, patient_id=patient.id)
    day = days_since_session(enrollment.session_at, services.clock(), ZoneInfo(patient.timezone)) if enrollment else 0
    values = {"name": patient.name, "patient_id": patient.id, "day": day,
              "session_number": enrollment.session_number if enrollment else "?"}

    def alert(header: str, whole: str | None, limit: int) -> Writer:
        """The alert in a staff chat's language: ``header`` and the patient's words (``whole``, or the header
        and the caption), or the header alone with the words to follow when together they do not fit."""
        def write(staff: str) -> Written:
            note = _status_note(services, staff, patient, flagged=flagged)
            top = services.text(staff, header, **values)
            body = services.text(staff, whole, text=words, **values) if whole else top + (
                services.text(staff, "relay_photo_caption", text=words) if message.caption else "")
            return Written(*split_for_limit(top + note, body + note, words, limit))
        return write

    if edited and not flagged:
        delivered = await alert_staff(services, context.bot,
                                      alert("alert_relay_edited_header", "alert_relay_edited", MAX_TEXT),
                                      patient_id=patient.id, inbox_kind=InboxKind.MESSAGE,
                                      dedup_key=f"relay:{update.update_id}")
        if delivered:
            await services.store.run(note_effect, update_id=update.update_id, effect=RELAYED)
        log.info("relayed an edited message of patient %d to %d staff chat(s)", patient.id, delivered)
        return
    kind = InboxKind.WORRIED if flagged else InboxKind.MESSAGE
    origin = ItemOrigin.WORDS if flagged else None
    if message.photo or message.text is None:
        if message.sticker or message.video_note:
            # Neither can carry the caption that says who sent it, and a sticker says nothing clinical.
            await message.reply_html(services.text(patient.locale, "relay_unsupported"))
            return
        key = "alert_red_flag_media" if flagged else "alert_relay_photo" if message.photo else "alert_relay_media"
        # A photo is sent on; a voice message, an audio, a video or a file is copied as it is.
        media = {"photo": message.photo[-1].file_id} if message.photo else {"copy_of": message}
        delivered = await alert_staff(services, context.bot, alert(key, None, MAX_CAPTION), patient_id=patient.id,
                                      inbox_kind=kind, inbox_origin=origin, dedup_key=f"relay:{update.update_id}",
                                      **media)
    else:
        header, whole = ("alert_red_flag_header", "alert_red_flag") if flagged else ("alert_relay_header",
                                                                                      "alert_relay")
        delivered = await alert_staff(services, context.bot, alert(header, whole, MAX_TEXT), patient_id=patient.id,
                                      inbox_kind=kind, inbox_origin=origin, dedup_key=f"relay:{update.update_id}")
    if delivered:
        await services.store.run(note_effect, update_id=update.update_id, effect=RELAYED)
        await services.store.run(keep_message, patient_id=patient.id, direction=FROM_PATIENT, text=words,
                                 kind=_kind_of(message), now=services.clock(), update_id=update.update_id)
        if flagged:
            await services.store.run(record_event, kind=ESCALATED, patient_id=patient.id, detail=FROM_WORDS,
                                     now=services.clock())
        # Words are an answer to "how is your skin?" too: no nudge, no silence alert after them.
        await services.store.run(patient_wrote, patient_id=patient.id)
        await close_silence(services, context.bot, patient.id)
    log.info("relayed a message of patient %d to %d staff chat(s)%s", patient.id, delivered,
             " as a red flag" if flagged else "")
    if delivered and not edited:
        # The patient is talking to the clinic again: a closed topic opens, so that any colleague can answer.
        await queue_reopen(services, patient.id)
    await _answer_patient(message, services, patient, flagged=flagged, delivered=bool(delivered))


def _status_note(services: Services, staff: str, patient, *, flagged: bool) -> str:
    """Lines under a relayed message: that the patient had stopped (or ended the series), and for a red flag
    the number staff can call."""
    note = ""
    if patient.status == PatientStatus.STOPPED:
        note += "\n" + services.text(staff, "alert_relay_stopped")
    elif patient.status == PatientStatus.NOT_CONTINUING:
        note += "\n" + services.text(staff, "alert_relay_not_continuing")
    if flagged and patient.phone:
        note += "\n" + services.text(staff, "alert_phone", phone=display_phone(patient.phone))
    return note


async def _answer_patient(message, services: Services, patient, *, flagged: bool, delivered: bool) -> None:
    """A red flag: the guidance, as for "I'm worried". Otherwise: it reached the team, and, out of clinic hours,
    when they will read it and whom to call meanwhile."""
    locale = patient.locale
    if flagged and delivered:
        await red_flag_follow_up(message, services, patient)
        return
    text = services.text(locale, "relay_sent" if delivered else "relay_failed")
    if flagged:  # it did not reach the team: the number to call, and the closed notice out of hours
        await message.reply_html(text)
        await worried_follow_up(message, services, patient)
        return
    closed = closed_notice(services, patient, "relay_closed_note") if delivered else None
    await message.reply_html(text if closed is None else f"{text}\n{closed}")


def _kind_of(message) -> str:
    """text | photo | media, as the conversation's record keeps it."""
    return "photo" if message.photo else ("text" if message.text is not None else "media")


async def send_staff_words(services: Services, bot, patient, words: str, *, html_text: str | None = None) -> None:
    """Staff's words to a patient, under the clinic's header, split to fit (a chat reply, the console's box).

    ``html_text`` keeps a chat message's own formatting; plain ``words`` are escaped. Telegram errors propagate.
    """
    header = services.text(patient.locale, "relay_reply_header")
    body = html_text if html_text is not None else html.escape(words, quote=False)
    text, rest = split_for_limit(header, f"{header}\n{body}", words, MAX_TEXT)
    await bot.send_message(patient.chat_id, text)
    for part in rest or ():
        await bot.send_message(patient.chat_id, part)


async def _note_in_topic(update: Update, context: AftercareContext, services: Services) -> None:
    """Staff wrote in a patient's topic without replying to the patient: a note for the team, never sent."""
    message, chat = update.effective_message, update.effective_chat
    patient = await services.store.run(patient_of_topic, chat_id=chat.id, thread_id=message.message_thread_id)
    if patient is None or patient.status == PatientStatus.DELETED:
        return  # a topic staff made for something else, or an erased patient's
    if await services.store.run(has_note, staff_chat_id=chat.id, staff_message_id=message.message_id):
        return  # the same update handled again after a crash
    kind = _kind_of(message)
    await services.store.run(add_note, patient_id=patient.id, author_id=update.effective_user.id,
                             text=message.text or message.caption or "", kind=kind, staff_chat_id=chat.id,
                             staff_message_id=message.message_id, now=services.clock())
    log.info("staff %s added a note to patient %d", update.effective_user.id, patient.id)


async def _reply_to_patient(update: Update, context, services: Services, patient) -> None:
    message = update.effective_message
    staff = context.locale
    if (message.text or message.caption or "").startswith("/"):
        # A command typed as a reply (one Telegram sent without its command entity) is never a message.
        await message.reply_html(services.text(staff, "relay_reply_is_command", name=patient.name))
        return
    if patient.chat_id is None:
        await message.reply_html(services.text(staff, "relay_reply_failed", name=patient.name))
        return
    header = services.text(patient.locale, "relay_reply_header", )
    bot, chat_id = context.bot, patient.chat_id
    try:
        caption, rest = split_for_limit(header, f"{header}\n{message.caption_html}", message.caption or "",
                                        MAX_CAPTION) if message.caption else (header, None)
        if message.photo:
            await bot.send_photo(chat_id, photo=message.photo[-1].file_id, caption=caption)
        elif message.sticker or message.video_note:  # no caption possible: the header goes first
            await bot.send_message(chat_id, header)
            await bot.copy_message(chat_id, from_chat_id=message.chat_id, message_id=message.message_id)
        elif message.text is None:
            await bot.copy_message(chat_id, from_chat_id=message.chat_id, message_id=message.message_id,
                                   caption=caption)
        else:
            await send_staff_words(services, bot, patient, message.text, html_text=message.text_html)
            rest = None
        for part in rest or ():
            await bot.send_message(chat_id, part)
    except (Forbidden, TelegramError) as exc:
        log.warning("staff reply to patient %d not delivered: %s", patient.id, exc)
        await message.reply_html(services.text(staff, "relay_reply_failed", name=patient.name))
        return
    log.info("staff %s replied to patient %d", update.effective_user.id, patient.id)
    await services.store.run(keep_message, patient_id=patient.id, direction=FROM_CLINIC,
                             text=message.text or message.caption or "", kind=_kind_of(message),
                             now=services.clock(), update_id=update.update_id, staff_id=update.effective_user.id)
    in_topic = message.is_topic_message
    if in_topic:
        # In the patient's topic the whole team reads it: confirmed in the staff chat's language.
        done = await message.reply_html(services.text(services.staff_locale, "topic_reply_done", name=patient.name))
    else:
        done = await message.reply_html(services.text(staff, "relay_reply_done", name=patient.name))
    # The edit that drops the name (an erasure) keeps the language of the reply.
    await remember(services, patient.id, message.chat_id, [done], locale=None if in_topic else staff)
    # Whoever answers the patient has the item that alert shows, if nobody had it yet: everyone sees so.
    taken = await services.store.run(staff_replied, patient_id=patient.id, chat_id=message.chat_id,
                                     message_id=message.reply_to_message.message_id,
                                     staffer=staffer_of(update), now=services.clock())
    if taken is not None:
        await refresh_items(services, context.bot, [taken])
