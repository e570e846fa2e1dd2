"""The staff inbox in Telegram: the buttons under alerts, /inbox, /take, /resolve; a patient's shared number."""

from __future__ import annotations

import logging

from telegram import ReplyKeyboardRemove, Update

from bot.access import note_refused
from bot.context import AftercareContext
from bot.inbox_views import refresh_items, staffer_of
from bot.limits import MAX_TEXT, fits
from jobs.buttons import INBOX_TAKE
from jobs.inputs import InputRefused, clean_text, display_phone, parse_phone, parse_row_id
from jobs.patients.self_service import record_shared_phone
from jobs.refusal import Refusal
from jobs.staff.inbox import NOTE_LIMIT, open_items, resolve_item, take_item
from jobs.storage.states import InboxStatus
from messages.catalog import Raw

log = logging.getLogger(__name__)

# /inbox shows this many items; the rest are counted.
INBOX_PAGE = 30
_ICONS = {"worried": "⚠️", "escalation": "🔴", "photo": "📷", "silence": "🔕", "message": "💬", "outcome": "📉"}


async def inbox_button(update: Update, context: AftercareContext) -> None:
    """*I'll take it* / *Resolved* under an alert: the item changes and every view of it is edited."""
    services = context.services
    query = update.callback_query
    button = context.button
    if not await services.is_staff(update.effective_user.id):
        await note_refused(services)
        raise Refusal("not_your_button")
    context.for_staff()
    staffer = staffer_of(update)
    if button.value == INBOX_TAKE:
        item = await services.store.run(take_item, item_id=button.number, staffer=staffer, now=services.clock())
        notice = context.text("inbox_took", item_id=item.id)
    else:
        item = await services.store.run(resolve_item, item_id=button.number, staffer=staffer, now=services.clock())
        notice = context.text("inbox_resolved", item_id=item.id)
    log.info("staff %s: inbox item %d is %s", staffer.user_id, item.id, item.status)
    await query.answer(notice[:200])
    await refresh_items(services, context.bot, [item.id])


def _item_id(context: AftercareContext, usage: str) -> tuple[int, str]:
    """The item number the command names (and any words after it)."""
    if not context.args:
        raise Refusal(usage)
    try:
        item_id = parse_row_id(context.args[0].lstrip("#"), key=usage)
    except InputRefused as exc:
        raise Refusal(usage) from exc
    return item_id, clean_text(" ".join(context.args[1:]), limit=NOTE_LIMIT)


async def take_command(update: Update, context: AftercareContext) -> None:
    """``/take 5``: the same as pressing *I'll take it* under item 5's alert."""
    services = context.services
    item_id, _ = _item_id(context, "inbox_take_usage")
    item = await services.store.run(take_item, item_id=item_id, staffer=staffer_of(update), now=services.clock())
    await context.reply("inbox_took", item_id=item.id)
    await refresh_items(services, context.bot, [item.id])


async def resolve_command(update: Update, context: AftercareContext) -> None:
    """``/resolve 5 called her, all fine``: resolve item 5 with a note (or add the note if already resolved)."""
    services = context.services
    item_id, note = _item_id(context, "inbox_resolve_usage")
    item = await services.store.run(resolve_item, item_id=item_id, staffer=staffer_of(update), now=services.clock(),
                                    note=note or None)
    await context.reply("inbox_noted" if note else "inbox_resolved", item_id=item.id)
    await refresh_items(services, context.bot, [item.id])


async def inbox_command(update: Update, context: AftercareContext) -> None:
    """``/inbox``: what is open or taken, oldest first, with the patient and how long each has waited."""
    services = context.services
    locale = context.locale
    now = services.clock()
    rows, total = await services.store.run(open_items, limit=INBOX_PAGE)
    if not rows:
        await context.reply("inbox_empty")
        return
    lines = [context.text("inbox_header", total=total)]
    shown = 0
    for row in rows:
        item = row.item
        who = (context.text("inbox_row_patient", name=row.patient_name, patient_id=row.patient_id)
               if row.patient_name else context.text("inbox_row_erased"))
        if row.patient_phone:
            who += context.text("inbox_row_phone", phone=display_phone(row.patient_phone))
        taken = (context.text("inbox_row_taken", who=item.taken_by_name or str(item.taken_by))
                 if item.status == InboxStatus.TAKEN else "")
        lines.append(context.text(
            "inbox_row", item_id=item.id, icon=_ICONS.get(item.kind, "•"), kind=_kind(context, item),
            who=Raw(who), waited=services.duration(locale, now - item.opened_at), taken=Raw(taken)))
        if not fits("\n".join(lines), MAX_TEXT - 300):  # room for the last two lines
            lines.pop()
            break
        shown += 1
    if total > shown:
        lines.append(context.text("inbox_more", more=total - shown))
    # The example names an item of this list: the oldest nobody has taken, else the oldest.
    example = next((row.item for row in rows if row.item.status == InboxStatus.OPEN), rows[0].item)
    lines.append(context.text("inbox_footer", item_id=example.id))
    await update.effective_message.reply_html("\n".join(lines))


async def contact_message(update: Update, context: AftercareContext) -> None:
    """A patient shared their number (the "I'm worried" flow's button): kept, shown on their open alerts."""
    services = context.services
    message, user = update.effective_message, update.effective_user
    contact = message.contact
    raw = contact.phone_number or ""
    try:
        phone = parse_phone(raw if raw.startswith("+") else f"+{raw}")
    except InputRefused as exc:
        raise Refusal("phone_not_own") from exc
    staff = services.staff_locale
    shared = await services.store.run(record_shared_phone, chat_id=update.effective_chat.id, sender_id=user.id,
                                      owner_id=contact.user_id, phone=phone,
                                      line=services.text(staff, "alert_phone", phone=display_phone(phone)),
                                      lines={locale: services.text(locale, "alert_phone", phone=display_phone(phone))
                                             for locale in services.catalog.locales})
    if shared is None:
        raise Refusal("stranger")
    patient, item_ids = shared
    log.info("patient %d shared their phone number (%d open alert(s) updated)", patient.id, len(item_ids))
    await message.reply_html(services.text(patient.locale, "phone_thanks", phone=display_phone(phone)),
                             reply_markup=ReplyKeyboardRemove())
    await refresh_items(services, context.bot, item_ids)


def _kind(context: AftercareContext, item) -> str:
    """"worried", or "worried (in their own words)" for one a red flag in the patient's words raised."""
    return context.text(f"inbox_kind_{item.kind}" + (f"_{item.origin}" if item.origin else ""))
