"""Telling staff: escalations, bookings, blocked patients and relayed patient messages.

Alerts go to ``STAFF_CHAT_ID`` when set (into the patient's own topic when that chat is a forum:
bot/topics.py), otherwise to each staff member privately. They are queued here and sent by the staff
outbox (bot/outbox.py) at each chat's pace: :func:`alert_staff` queues, :func:`deliver_alert` sends.
An alert about a patient is remembered (when sent), so that a staff member who replies to it
reaches the patient.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import TelegramError

from bot.erasure import remember
from bot.inbox_views import markup_for, render
from bot.limits import MAX_CAPTION, MAX_TEXT, fits, visible_length  # noqa: F401  (their home for the relay)
from bot.services import Services
from bot.topics import send_about
from jobs.inputs import display_phone
from jobs.staff.inbox import InboxKind, add_view, open_item, patient_phone
from jobs.staff.outbox import Action, ClaimedNotice, Notice, Priority
from jobs.staff.relay import remember_relay
from jobs.storage.models import InboxItem

log = logging.getLogger(__name__)

# Which alerts go first when a staff chat has more waiting than it may be sent.
KIND_PRIORITY = {
    InboxKind.WORRIED: Priority.URGENT, InboxKind.ESCALATION: Priority.URGENT,
    InboxKind.MESSAGE: Priority.PATIENT, InboxKind.PHOTO: Priority.PATIENT,
}

@dataclass(frozen=True)
class StaffText:
    """A ``[bot]`` text for staff written in each chat's language as it is sent (``Services.chat_locale``: the
    staff group's STAFF_LANGUAGE, a staff member's own language in their private chat). Its values are names
    and numbers, the same in every language; an alert with more (a date, a patient's message, an inbox item)
    is written by a :data:`Writer` instead, once per language, when it is queued."""

    key: str
    values: dict[str, object] = field(default_factory=dict)  # names and numbers: JSON, in the queued notice

    def render(self, services: Services, locale: str, phone: str | None = None) -> str:
        text = services.text(locale, self.key, **self.values)
        return f"{text}\n{services.text(locale, 'alert_phone', phone=phone)}" if phone else text


def chunks(words: str, limit: int = MAX_TEXT) -> list[str]:
    """Plain ``words`` as HTML messages of at most ``limit`` each (split between characters, escaped after)."""
    parts, current, size = [], [], 0
    for char in words:
        width = len(char.encode("utf-16-le")) // 2
        if size + width > limit:
            parts.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current:
        parts.append("".join(current))
    return [html.escape(part, quote=False) for part in parts if part.strip()]


def split_for_limit(header: str, whole: str, words: str, limit: int) -> tuple[str, list[str] | None]:
    """``whole`` (header and words together) if it fits ``limit``; else ``header``, the plain ``words`` to
    follow on their own, in as many messages as they need."""
    return (whole, None) if fits(whole, limit) else (header, chunks(words))


@dataclass(frozen=True)
class Written:
    """An alert as written in one language: its text, what follows it (what did not fit beside the header),
    and its own buttons (a photo's review)."""

    text: str
    follow_up: list[str] | None = None
    reply_markup: InlineKeyboardMarkup | None = None


# Writes an alert in a language: called once for each language its staff chats read.
Writer = Callable[[str], str | Written]


async def alert_staff(services: Services, bot: Bot, text: str | StaffText | Writer, *, patient_id: int | None = None,
                      photo: str | None = None, copy_of: Message | None = None, exclude: int | None = None,
                      follow_up: list[str] | None = None, reply_markup: InlineKeyboardMarkup | None = None,
                      inbox_kind: str | None = None, inbox_origin: str | None = None,
                      priority: Priority | None = None, dedup_key: str | None = None) -> int:
    """Queue ``text`` for staff (but ``exclude``); return how many staff chats it is queued for.

    The staff outbox (bot/outbox.py) sends it, at each staff chat's pace, the most urgent first
    (``priority``: by default from ``inbox_kind``); ``dedup_key`` queues it once however often this is
    called with it (a silence alert whose reminder was claimed again). ``bot`` is not called here.

    ``text`` is best a :class:`Writer` (a function of the language): the alert is then written once for each
    language its chats read (``Services.chat_locale``: STAFF_LANGUAGE in the group, a staff member's own in
    their private chat), dates and all, and each chat's notice keeps its own words (a row per chat: durable
    as it is, nothing to work out again when sent). A plain ``str`` is sent as it is, to every chat.

    With ``photo``, the photo with ``text`` as its caption; with ``copy_of``, a copy of that
    message (a patient's voice message, video or file) with ``text`` as its caption. ``follow_up``
    (HTML messages) come right after: what did not fit beside the header. A staff reply to any of
    them reaches the patient. ``reply_markup``: buttons of the alert's own (a photo's review).

    With ``inbox_kind`` (jobs.staff.inbox.InboxKind: "worried", "photo", "silence", "message", …) the alert
    is an inbox item (``inbox_origin``, jobs.staff.inbox.ItemOrigin: what raised it, where the kind does not
    say): it is opened (a patient's further message joins their open conversation's item), the alert
    carries *I'll take it* / *Resolved* under its own buttons, and every message sent is remembered
    as a view of the item, edited when the item changes (bot/inbox_views.py), in its own language. The
    item keeps the STAFF_LANGUAGE words; a view in another language keeps its own (``inbox_view.body``).
    The item is shown as it is when the alert goes out, not as it was when queued.
    """
    chats = [chat_id for chat_id in await services.staff_chats() if chat_id != exclude]
    if not chats and exclude is None:
        log.error("an alert reached no staff chat: none is set (set STAFF_CHAT_ID or STAFF_IDS)")
    if isinstance(text, StaffText):
        if inbox_kind is not None or follow_up:
            raise ValueError("an inbox item or a long alert is written by a Writer: pass one")
        phone = await services.store.run(patient_phone, patient_id=patient_id) if patient_id is not None else None
        return await services.queue_staff([
            Notice(chat_id, Action.SEND, {"staff_text": [text.key, text.values],
                                          "phone": display_phone(phone) if phone else None},
                   patient_id=patient_id, priority=priority or Priority.ROUTINE,
                   dedup_key=f"{dedup_key}:{chat_id}" if dedup_key else None)
            for chat_id in chats])
    staff = services.staff_locale
    by_locale: dict[str, list[int]] = {}
    for chat_id in chats:
        locale = await services.chat_locale(chat_id) if callable(text) else staff
        by_locale.setdefault(locale, []).append(chat_id)
    # STAFF_LANGUAGE's first: the item keeps its words.
    locales = [staff] + [locale for locale in by_locale if locale != staff]
    written: dict[str, Written] = {}
    for locale in locales:
        one = text(locale) if callable(text) else text
        one = one if isinstance(one, Written) else Written(one, follow_up, reply_markup)
        if patient_id is not None:
            one = Written(await with_phone(services, one.text, patient_id, locale), one.follow_up, one.reply_markup)
        written[locale] = one
    item = None
    if inbox_kind is not None:
        item = await services.store.run(open_item, kind=inbox_kind, patient_id=patient_id, text=written[staff].text,
                                        now=services.clock(), origin=inbox_origin)
        if priority is None:
            priority = KIND_PRIORITY.get(InboxKind(inbox_kind), Priority.ROUTINE)
    queued = 0
    for locale, locale_chats in by_locale.items():
        one = written[locale]
        # A view shows the item's words when they are its own (a conversation's later message, or another
        # language, shows its own words under the item's status and buttons).
        body = None if item is None or item.text == one.text else one.text
        queued += await send_to_chats(services, bot, locale_chats, one.text, patient_id=patient_id, photo=photo,
                                      copy_of=copy_of, follow_up=one.follow_up, reply_markup=one.reply_markup,
                                      item_id=item.id if item else None, body=body,
                                      priority=priority or Priority.ROUTINE, dedup_key=dedup_key,
                                      locale=None if locale == staff else locale)
    return queued


async def with_phone(services: Services, text: str, patient_id: int, locale: str | None = None) -> str:
    """``text`` with the patient's number under it (in ``locale``, else STAFF_LANGUAGE), when the clinic has one,
    so whoever reads the alert can call."""
    phone = await services.store.run(patient_phone, patient_id=patient_id)
    if not phone:
        return text
    line = services.text(locale or services.staff_locale, "alert_phone", phone=display_phone(phone))
    return text if line in text else f"{text}\n{line}"


async def send_to_chats(services: Services, bot: Bot, chats: list[int], text: str, *, patient_id: int | None,
                        photo: str | None = None, copy_of: Message | None = None, follow_up: list[str] | None = None,
                        reply_markup: InlineKeyboardMarkup | None = None, item_id: int | None = None,
                        lead: str = "", body: str | None = None, priority: Priority = Priority.ROUTINE,
                        dedup_key: str | None = None, locale: str | None = None) -> int:
    """Queue the alert for each of ``chats`` (one notice each); return how many.

    With ``item_id`` the words and buttons are the item's, rendered when sent (``lead`` above them,
    ``body`` instead of the item's text, the status line and buttons in ``locale``: None, STAFF_LANGUAGE);
    ``reply_markup`` is then the alert's own buttons, kept under the item's. Without it, ``text`` and
    ``reply_markup`` go as they are.
    """
    payload = {
        "text": text, "photo": photo, "follow_up": list(follow_up or ()),
        "copy": [copy_of.chat_id, copy_of.message_id] if copy_of is not None else None,
        "markup": reply_markup.to_dict() if reply_markup is not None else None,
        "item_id": item_id, "lead": lead, "body": body, "locale": locale,
    }
    return await services.queue_staff([
        Notice(chat_id, Action.SEND, payload, patient_id=patient_id, priority=priority,
               dedup_key=f"{dedup_key}:{chat_id}" if dedup_key else None)
        for chat_id in chats])


async def alert_calls(services: Services, notice: ClaimedNotice) -> int:
    """The most calls this alert may make in its chat: the topic and its introduction, the alert, what follows."""
    calls = 1 + len(notice.payload.get("follow_up") or ())
    if notice.patient_id is not None and notice.chat_id == services.settings.staff_chat_id \
            and services.forum.is_forum is not False:
        calls += 2
    return calls


async def deliver_alert(services: Services, bot: Bot, notice: ClaimedNotice) -> None:
    """Send one queued alert to its chat (into the patient's topic in a forum); remember it for replies.

    Raises what Telegram raised for the alert itself (the outbox decides: wait, retry, give up); a
    follow-up message that fails is only logged, as the alert is out and must not go twice.
    """
    payload, chat_id, patient_id = notice.payload, notice.chat_id, notice.patient_id
    photo, copy = payload.get("photo"), payload.get("copy")
    caption = photo is not None or copy is not None
    extra = InlineKeyboardMarkup.de_json(payload["markup"], None) if payload.get("markup") else None
    item_id, text, markup = payload.get("item_id"), payload.get("text") or "", extra
    locale = payload.get("locale")  # the language it is written in (None: STAFF_LANGUAGE)
    if payload.get("staff_text"):
        key, values = payload["staff_text"]
        locale = await services.chat_locale(chat_id)
        text = StaffText(key, values).render(services, locale, payload.get("phone"))
    if item_id is not None:
        item = await services.store.run(lambda session: session.get(InboxItem, item_id))
        if item is None:
            log.info("inbox item %d is gone; its alert to chat %s is not sent", item_id, chat_id)
            return
        text = render(services, item, lead=payload.get("lead") or "", body=payload.get("body"), caption=caption,
                      locale=locale)
        markup = markup_for(services, item, extra, locale=locale)

    async def first(thread: int | None) -> Message:
        if copy is not None:
            return await bot.copy_message(chat_id, from_chat_id=copy[0], message_id=copy[1], caption=text,
                                          message_thread_id=thread, reply_markup=markup)
        if photo is not None:
            return await bot.send_photo(chat_id, photo=photo, caption=text, message_thread_id=thread,
                                        reply_markup=markup)
        return await bot.send_message(chat_id, text, message_thread_id=thread, reply_markup=markup)

    # In a forum staff chat, into the patient's topic (bot/topics.py); anywhere else, as it always was.
    message, thread = await send_about(services, bot, chat_id, patient_id, first)
    if item_id is not None:
        await services.store.run(add_view, item_id=item_id, chat_id=chat_id, message_id=message.message_id,
                                 caption=caption, lead=payload.get("lead") or "", body=payload.get("body"),
                                 extra_markup=json.dumps(payload["markup"]) if payload.get("markup") else None,
                                 locale=locale)
    sent = [message.message_id]
    try:
        for part in payload.get("follow_up") or ():
            sent.append((await bot.send_message(chat_id, part, message_thread_id=thread)).message_id)
    except TelegramError as exc:
        log.warning("could not alert staff chat %s (the message after the header): %s", chat_id, exc)
    if patient_id is not None:
        for message_id in sent:
            await services.store.run(remember_relay, staff_chat_id=chat_id, staff_message_id=message_id,
                                     patient_id=patient_id, now=services.clock())
        # What names the patient, for erasure: the alert (an inbox item's is edited with the item) and
        # the patient's words after it.
        await remember(services, patient_id, chat_id, sent[:1] if item_id is None else [], caption=caption,
                       locale=locale)
        await remember(services, patient_id, chat_id, sent[1:], locale=locale)
