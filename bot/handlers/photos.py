"""Photo check-ins: a patient's photo that answers a photo step goes to staff for review; staff review it.

The review buttons are for staff only: *Looks as expected*, *Please call the patient*, *Ask for
another photo*. The patient is told the outcome in the clinic's voice; the staff message shows who
reviewed it and how, without its buttons, so nobody reviews it twice.
"""

from __future__ import annotations

import logging
from functools import partial

from telegram import Update
from telegram.error import BadRequest, TelegramError

from bot.access import note_refused
from bot.alerts import MAX_CAPTION, alert_staff, split_for_limit
from bot.context import AftercareContext
from bot.inbox_views import close_silence, refresh_items, staffer_of
from bot.services import Services
from jobs.buttons import REVIEW_LABELS, photo_review_keyboard
from jobs.care.photos import Review, review_photo, take_photo_answer
from jobs.intake import has_effect, note_effect
from jobs.refusal import Refusal
from jobs.staff.inbox import resolve_by_message
from messages.catalog import html_to_plain

log = logging.getLogger(__name__)

PHOTO_RELAYED = "relayed"  # the same effect a relayed message notes: staff have it


async def photo_answer(update: Update, context: AftercareContext, patient) -> bool:
    """If this photo answers the patient's open photo step: staff get it to review. False: it does not."""
    services = context.services
    message = update.effective_message
    answer = await services.store.run(take_photo_answer, patient_id=patient.id, file_id=message.photo[-1].file_id,
                                      update_id=update.update_id, now=services.clock())
    if answer is None:
        return False
    await close_silence(services, context.bot, patient.id)
    if await services.store.run(has_effect, update_id=update.update_id, effect=PHOTO_RELAYED):
        await message.reply_html(services.text(patient.locale, "photo_received"))
        return True
    staff = services.staff_locale
    enrollment = answer.enrollment
    header = services.text(staff, "alert_photo", name=patient.name, patient_id=patient.id, day=answer.day,
                           session_number=enrollment.session_number, series_length=enrollment.series_length,
                           step=services.catalog.step_title(staff, answer.step.step_key))
    words = message.caption or ""
    whole = header + (services.text(staff, "relay_photo_caption", text=words) if words else "")
    caption, follow_up = split_for_limit(header, whole, words, MAX_CAPTION)
    reviews = photo_review_keyboard(answer.photo.id, text=partial(services.text, staff))
    delivered = await alert_staff(services, context.bot, caption, patient_id=patient.id, photo=answer.photo.file_id,
                                  follow_up=follow_up, reply_markup=reviews, inbox_kind="photo")
    if delivered:
        await services.store.run(note_effect, update_id=update.update_id, effect=PHOTO_RELAYED)
    log.info("patient %d answered photo step %d (photo %d); %d staff chat(s) have it", patient.id, answer.step.id,
             answer.photo.id, delivered)
    await message.reply_html(services.text(patient.locale, "photo_received" if delivered else "relay_failed"))
    return True


async def photo_review_button(update: Update, context: AftercareContext) -> None:
    """Staff review a photo: record it, tell the patient in the clinic's voice, mark the staff message."""
    services = context.services
    query, user = update.callback_query, update.effective_user
    button = context.button
    if not await services.is_staff(user.id):
        log.info("photo review button refused for user %s", user.id)
        await note_refused(services)
        raise Refusal("not_your_button")
    review = Review(button.value)
    result = await services.store.run(review_photo, photo_id=button.number, review=review, staff_id=user.id,
                                      now=services.clock())
    patient = result.patient
    await query.answer()
    log.info("staff %s reviewed photo %d of patient %d: %s", user.id, result.photo.id, patient.id, review.value)
    staff = context.locale
    told = await _tell_patient(services, context.bot, patient, review)
    note = services.text(staff, "photo_reviewed_note", label=services.text(staff, REVIEW_LABELS[review]),
                         who=user.full_name or str(user.id))
    if not told:
        note += "\n" + services.text(staff, "photo_review_not_delivered", name=patient.name)
    if query.message is not None:
        # The photo's alert is an inbox item: reviewing it resolves it, and every staff copy says by whom.
        label = services.text(services.staff_locale, REVIEW_LABELS[review])
        if not told:
            label += " — " + html_to_plain(services.text(services.staff_locale, "photo_review_not_delivered",
                                                         name=patient.name))
        item_id = await services.store.run(resolve_by_message, chat_id=query.message.chat.id,
                                           message_id=query.message.message_id, staffer=staffer_of(update),
                                           now=services.clock(), note=label)
        if item_id is not None:
            await refresh_items(services, context.bot, [item_id])
            return
    caption = query.message.caption_html if query.message and query.message.caption else ""
    try:
        await query.edit_message_caption(f"{caption}\n\n{note}".strip(), reply_markup=None)
    except BadRequest:
        # Not a photo (forged onto another message) or unchanged: say it in a message of its own.
        await context.bot.send_message(query.message.chat.id if query.message else user.id, note)


async def _tell_patient(services: Services, bot, patient, review: Review) -> bool:
    """The outcome, in the patient's language; False if it could not reach them."""
    if patient.chat_id is None:
        return False
    locale = patient.locale
    key = {Review.OK: "photo_review_ok", Review.AGAIN: "photo_review_again"}.get(
        review, "photo_review_call" if patient.phone else "photo_review_call_no_phone")
    text = services.text(locale, key, name=patient.name, emergency_phone=services.emergency_phone(locale))
    try:
        await bot.send_message(patient.chat_id, text)
    except TelegramError as exc:
        log.warning("photo review of patient %d not delivered: %s", patient.id, exc)
        return False
    return True
