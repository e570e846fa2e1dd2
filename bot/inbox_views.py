"""How an inbox item looks in a staff chat, and keeping every message that shows it up to date.

An alert in Telegram is a view of an item (jobs/staff/inbox.py): its words, a line saying who took or
resolved it, and the buttons the item's status allows. After any change every view is edited, in
every staff chat it went to, so two staff never both call: the edits are queued in the staff outbox
(bot/outbox.py), ahead of routine alerts.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from functools import partial

from telegram import Bot, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, RetryAfter, TelegramError

from bot.limits import MAX_CAPTION, MAX_TEXT, fits
from bot.services import Services
from jobs.buttons import INBOX_RESOLVE, INBOX_TAKE, inbox_keyboard
from jobs.staff.inbox import InboxKind, Staffer, resolve_for_patient, views_of
from jobs.staff.outbox import Action, ClaimedNotice, Notice, Priority
from jobs.storage.models import InboxItem, InboxView
from jobs.storage.states import InboxStatus

log = logging.getLogger(__name__)


def staffer_of(update: Update) -> Staffer:
    """The staff member behind an update, by Telegram id and the name Telegram gives (for "Marta is on it")."""
    user = update.effective_user
    # Never refused for its characters: a name with a direction override still takes the item.
    name = " ".join("".join(c for c in (user.full_name or "") if c.isprintable()).split())
    return Staffer(user.id, name[:200] or str(user.id))


def _when(services: Services, moment: datetime, locale: str) -> str:
    return services.catalog.format_date(locale, moment.astimezone(services.settings.clinic_timezone), with_time=True)


def status_line(services: Services, item: InboxItem, locale: str | None = None) -> str:
    """"🙋 Taken by Marta (Tue 24 Nov, 15:40)", "✅ Resolved by …", then the item's note; nothing while open
    without one. In ``locale`` (None: STAFF_LANGUAGE)."""
    staff = locale or services.staff_locale
    line = ""
    if item.status == InboxStatus.TAKEN:
        line = services.text(staff, "inbox_line_taken", who=item.taken_by_name or str(item.taken_by),
                             when=_when(services, item.taken_at, staff), item_id=item.id)
    elif item.status == InboxStatus.RESOLVED:
        if item.resolved_by is None:
            line = services.text(staff, "inbox_line_closed", when=_when(services, item.resolved_at, staff))
        else:
            line = services.text(staff, "inbox_line_resolved", who=item.resolved_by_name or str(item.resolved_by),
                                 when=_when(services, item.resolved_at, staff))
    if item.note:
        # A note says why an item open or taken is still work ("📞 Please call the patient — reviewed by …").
        line = "\n".join(part for part in (line, services.text(staff, "inbox_line_note", note=item.note)) if part)
    return line


def markup_for(services: Services, item: InboxItem, extra: InlineKeyboardMarkup | None,
               locale: str | None = None) -> InlineKeyboardMarkup | None:
    """The buttons the item's status allows, under the alert's own (which go once it is resolved), labelled in
    ``locale`` (None: STAFF_LANGUAGE)."""
    text = partial(services.text, locale or services.staff_locale)
    if item.status == InboxStatus.OPEN:
        return inbox_keyboard(item.id, (INBOX_TAKE, INBOX_RESOLVE), text=text, extra=extra)
    if item.status == InboxStatus.TAKEN:
        return inbox_keyboard(item.id, (INBOX_RESOLVE,), text=text, extra=extra)
    return None


def render(services: Services, item: InboxItem, *, lead: str = "", body: str | None = None,
           caption: bool = False, locale: str | None = None) -> str:
    """The words of a view: its lead, its own words (or the item's), and the status line, in ``locale`` (the
    view's: None, STAFF_LANGUAGE)."""
    words = item.text if body is None else body
    if not words:
        words = services.text(locale or services.staff_locale, "inbox_erased", item_id=item.id)
    status = status_line(services, item, locale)
    parts = [part for part in (lead, words, status) if part]
    text = "\n\n".join(parts)
    limit = MAX_CAPTION if caption else MAX_TEXT
    if not fits(text, limit):
        # The words fitted on their own when sent; the status line matters more than their end now.
        text = "\n\n".join(part for part in (lead, status) if part) or words
    return text


def extra_markup(view: InboxView, bot: Bot | None) -> InlineKeyboardMarkup | None:
    """The alert's own buttons, kept with the view."""
    if not view.extra_markup:
        return None
    return InlineKeyboardMarkup.de_json(json.loads(view.extra_markup), bot)


async def close_silence(services: Services, bot: Bot, patient_id: int) -> None:
    """The patient answered: their "no answer" items are resolved (by the system) and their alerts say so."""
    closed = await services.store.run(resolve_for_patient, patient_id=patient_id, kinds=(InboxKind.SILENCE.value,),
                                      now=services.clock())
    if closed:
        await refresh_items(services, bot, closed)


async def refresh_items(services: Services, bot: Bot, item_ids: list[int]) -> int:
    """Queue an edit of every message that shows these items, one per staff chat; return how many are queued.

    The staff outbox makes them (bot/outbox.py), urgent, showing each item as it is then: an edit
    already waiting for a chat stands for this one too. A view not sent yet needs none: an alert is
    rendered when it goes out.
    """
    notices = []
    for item_id in dict.fromkeys(item_ids):
        found = await services.store.run(views_of, item_id=item_id)
        if found.item is None:
            continue
        for chat_id in dict.fromkeys(view.chat_id for view in found.views):
            notices.append(Notice(chat_id, Action.EDIT, {"item_id": item_id}, patient_id=found.item.patient_id,
                                  priority=Priority.URGENT, dedup_key=f"edit:{item_id}:{chat_id}"))
    return await services.queue_staff(notices)


async def edit_calls(services: Services, notice: ClaimedNotice) -> int:
    """How many messages of the item this edit changes in its chat (its budget)."""
    found = await services.store.run(views_of, item_id=notice.payload["item_id"])
    return max(sum(1 for view in found.views if view.chat_id == notice.chat_id), 1)


async def edit_views(services: Services, bot: Bot, notice: ClaimedNotice) -> int:
    """Edit every message of the notice's item in its chat to the item's current state; return how many.

    A 429 goes up to the outbox (which tries again later); any other refusal of one message is
    logged and the others still change.
    """
    item_id, edited = notice.payload["item_id"], 0
    found = await services.store.run(views_of, item_id=item_id)
    if found.item is None:
        return 0
    for view in found.views:
        if view.chat_id != notice.chat_id:
            continue
        # In the language the message was written in, whatever its reader speaks now.
        locale = services.catalog.resolve_locale(view.locale, fallback=services.staff_locale)
        text = render(services, found.item, lead=view.lead, body=view.body, caption=view.caption, locale=locale)
        markup = markup_for(services, found.item, extra_markup(view, None), locale=locale)
        try:
            if view.caption:
                await bot.edit_message_caption(chat_id=view.chat_id, message_id=view.message_id, caption=text,
                                               reply_markup=markup)
            else:
                await bot.edit_message_text(text, chat_id=view.chat_id, message_id=view.message_id,
                                            reply_markup=markup)
            edited += 1
        except RetryAfter:
            raise
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.warning("could not update inbox item %d's message in chat %s: %s", item_id, view.chat_id, exc)
        except TelegramError as exc:
            # A staff member who blocked the bot, a deleted message: the other views still change.
            log.warning("could not update inbox item %d's message in chat %s: %s", item_id, view.chat_id, exc)
    return edited
