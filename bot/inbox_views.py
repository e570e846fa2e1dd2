"""How an inbox item looks in a staff chat, and keeping every message that shows it up to date.

An alert in Telegram is a view of an item (jobs/staff/inbox.py): its words, a line saying who took or
resolved it, and the buttons the item's status allows. After any change every view is edited, in
every staff chat it went to, so two staff never both call.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from functools import partial

from telegram import Bot, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError

from bot.limits import MAX_CAPTION, MAX_TEXT, fits
from bot.services import Services
from jobs.buttons import INBOX_RESOLVE, INBOX_TAKE, inbox_keyboard
from jobs.staff.inbox import InboxKind, Staffer, resolve_for_patient, views_of
from jobs.storage.models import InboxItem, InboxView
from jobs.storage.states import InboxStatus

log = logging.getLogger(__name__)


def staffer_of(update: Update) -> Staffer:
    """The staff member behind an update, by Telegram id and the name Telegram gives (for "Marta is on it")."""
    user = update.effective_user
    # Never refused for its characters: a name with a direction override still takes the item.
    name = " ".join("".join(c for c in (user.full_name or "") if c.isprintable()).split())
    return Staffer(user.id, name[:200] or str(user.id))


def _when(services: Services, moment: datetime) -> str:
    locale = services.staff_locale
    return services.catalog.format_date(locale, moment.astimezone(services.settings.clinic_timezone), with_time=True)


def status_line(services: Services, item: InboxItem) -> str:
    """"🙋 Taken by Marta (Tue 24 Nov, 15:40)", "✅ Resolved by …: note", or nothing while open."""
    staff = services.staff_locale
    if item.status == InboxStatus.TAKEN:
        return services.text(staff, "inbox_line_taken", who=item.taken_by_name or str(item.taken_by),
                             when=_when(services, item.taken_at), item_id=item.id)
    if item.status == InboxStatus.RESOLVED:
        if item.resolved_by is None:
            line = services.text(staff, "inbox_line_closed", when=_when(services, item.resolved_at))
        else:
            line = services.text(staff, "inbox_line_resolved", who=item.resolved_by_name or str(item.resolved_by),
                                 when=_when(services, item.resolved_at))
        if item.note:
            line += "\n" + services.text(staff, "inbox_line_note", note=item.note)
        return line
    return ""


def markup_for(services: Services, item: InboxItem, extra: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """The buttons the item's status allows, under the alert's own (which go once it is resolved)."""
    text = partial(services.text, services.staff_locale)
    if item.status == InboxStatus.OPEN:
        return inbox_keyboard(item.id, (INBOX_TAKE, INBOX_RESOLVE), text=text, extra=extra)
    if item.status == InboxStatus.TAKEN:
        return inbox_keyboard(item.id, (INBOX_RESOLVE,), text=text, extra=extra)
    return None


def render(services: Services, item: InboxItem, *, lead: str = "", body: str | None = None,
           caption: bool = False) -> str:
    """The words of a view: its lead, its own words (or the item's), and the status line."""
    words = item.text if body is None else body
    if not words:
        words = services.text(services.staff_locale, "inbox_erased", item_id=item.id)
    parts = [part for part in (lead, words, status_line(services, item)) if part]
    text = "\n\n".join(parts)
    limit = MAX_CAPTION if caption else MAX_TEXT
    if not fits(text, limit):
        # The words fitted on their own when sent; the status line matters more than their end now.
        text = "\n\n".join(part for part in (lead, status_line(services, item)) if part) or words
    return text


def extra_markup(view: InboxView, bot: Bot) -> InlineKeyboardMarkup | None:
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
    """Edit every message that shows these items to their current state; return how many were edited."""
    edited = 0
    for item_id in dict.fromkeys(item_ids):
        found = await services.store.run(views_of, item_id=item_id)
        if found.item is None:
            continue
        for view in found.views:
            text = render(services, found.item, lead=view.lead, body=view.body, caption=view.caption)
            markup = markup_for(services, found.item, extra_markup(view, bot))
            try:
                if view.caption:
                    await bot.edit_message_caption(chat_id=view.chat_id, message_id=view.message_id, caption=text,
                                                   reply_markup=markup)
                else:
                    await bot.edit_message_text(text, chat_id=view.chat_id, message_id=view.message_id,
                                                reply_markup=markup)
                edited += 1
            except BadRequest as exc:
                if "not modified" not in exc.message.lower():
                    log.warning("could not update inbox item %d's message in chat %s: %s", item_id, view.chat_id, exc)
            except TelegramError as exc:
                # A staff member who blocked the bot, a deleted message: the other views still change.
                log.warning("could not update inbox item %d's message in chat %s: %s", item_id, view.chat_id, exc)
    return edited
