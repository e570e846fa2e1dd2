"""Photo check-ins: a patient's photo that answers a photo step goes to staff for review; staff review it.

The review buttons are for staff only: *Looks as expected*, *Please call the patient*, *Ask for
another photo*. The patient is told the outcome in the clinic's voice; the staff message shows who
reviewed it and how, without its buttons, so nobody reviews it twice.
"""

from __future__ import annotations

import logging
from functools import partial

from telegram import KeyboardButton, ReplyKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError

from bot.access import note_refused
from bot.alerts import MAX_CAPTION, Written, alert_staff, split_for_limit
from bot.context import AftercareContext
from bot.handlers.answers import closed_notice, red_flag_follow_up
from bot.inbox_views import close_silence, refresh_items, staffer_of
from bot.services import Services
from jobs.buttons import REVIEW_LABELS, photo_review_keyboard
from jobs.care.photos import Review, review_photo, settle_review, take_photo_answer
from jobs.events import ESCALATED, FROM_WORDS, record_event
from jobs.inputs import display_phone, storable_text
from jobs.intake import has_effect, note_effect
from jobs.refusal import Refusal
from jobs.staff.inbox import InboxKind, ItemOrigin, patient_phone
from messages.catalog import html_to_plain
from messages.protocol import KIND_OUTCOME

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
    enrollment = answer.enrollment
    # A photo to compare before and after (an outcome step's, with consent) says so, and where to see the pair.
    key = "alert_comparison_photo" if answer.step.kind == KIND_OUTCOME else "alert_photo"
    words = storable_text(message.caption or "")
    # A caption with a red flag makes the photo a worried item (its review buttons stay), as a message would.
    flagged = bool(words) and bool(services.catalog.red_flags.flags(words))
    phone = await services.store.run(patient_phone, patient_id=patient.id)

    def caption(staff: str) -> Written:  # in each staff chat's language
        header = services.text(staff, key, name=patient.name, patient_id=patient.id, day=answer.day,
                               session_number=enrollment.session_number, series_length=enrollment.series_length,
                               step=services.catalog.step_title(staff, answer.step.step_key))
        if phone:  # before the split: the number is never cut off
            header += "\n" + services.text(staff, "alert_phone", phone=display_phone(phone))
        if flagged:
            header += "\n" + services.text(staff, "alert_red_flag_line")
        whole = header + (services.text(staff, "relay_photo_caption", text=words) if words else "")
        text, follow_up = split_for_limit(header, whole, words, MAX_CAPTION)
        return Written(text, follow_up, photo_review_keyboard(answer.photo.id, text=partial(services.text, staff)))

    delivered = await alert_staff(services, context.bot, caption, patient_id=patient.id, photo=answer.photo.file_id,
                                  inbox_kind=InboxKind.WORRIED if flagged else InboxKind.PHOTO,
                                  inbox_origin=ItemOrigin.WORDS if flagged else None,
                                  dedup_key=f"photo:{update.update_id}")
    if delivered:
        await services.store.run(note_effect, update_id=update.update_id, effect=PHOTO_RELAYED)
        if flagged:
            await services.store.run(record_event, kind=ESCALATED, patient_id=patient.id, detail=FROM_WORDS,
                                     now=services.clock())
    log.info("patient %d answered photo step %d (photo %d); %d staff chat(s) have it%s", patient.id,
             answer.step.id, answer.photo.id, delivered, " as a red flag" if flagged else "")
    if flagged and delivered:
        await red_flag_follow_up(message, services, patient)
        return True
    text = services.text(patient.locale, "photo_received" if delivered else "relay_failed")
    closed = closed_notice(services, patient, "relay_closed_note") if delivered else None
    await message.reply_html(text if closed is None else f"{text}\n{closed}")
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
    await services.note_staff(user)
    context.for_staff()
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
        # The photo's alert is an inbox item: the review decides what becomes of it (jobs/care/photos.py),
        # and every staff copy says by whom.
        label = services.text(services.staff_locale, "photo_reviewed_note_plain",
                              label=services.text(services.staff_locale, REVIEW_LABELS[review]),
                              who=staffer_of(update).name)
        if not told:
            label += " — " + html_to_plain(services.text(services.staff_locale, "photo_review_not_delivered",
                                                         name=patient.name))
        item_ids = await services.store.run(settle_review, photo_id=result.photo.id, chat_id=query.message.chat.id,
                                            message_id=query.message.message_id, staffer=staffer_of(update),
                                            note=label, now=services.clock())
        if item_ids:
            await refresh_items(services, context.bot, item_ids)
            return
    caption = query.message.caption_html if query.message and query.message.caption else ""
    try:
        await query.edit_message_caption(f"{caption}\n\n{note}".strip(), reply_markup=None)
    except BadRequest:
        # Not a photo (forged onto another message) or unchanged: say it in a message of its own.
        await context.bot.send_message(query.message.chat.id if query.message else user.id, note)


async def _tell_patient(services: Services, bot, patient, review: Review) -> bool:
    """The outcome, in the patient's language; False if it could not reach them.

    A call to come: out of clinic hours, when the clinic opens (in the patient's zone), not "soon";
    without a number, the patient is asked for one with the share button, as the worried flow does.
    """
    if patient.chat_id is None:
        return False
    locale = patient.locale
    markup = None
    closed = services.closed_until(locale, patient.timezone)
    if review == Review.OK:
        key = "photo_review_ok"
    elif review == Review.AGAIN:
        key = "photo_review_again"
    elif not patient.phone:
        key = "photo_review_call_no_phone"
        markup = ReplyKeyboardMarkup([[KeyboardButton(services.text(locale, "button_share_phone"),
                                                      request_contact=True)]],
                                     resize_keyboard=True, one_time_keyboard=True)
    else:
        key = "photo_review_call" if closed is None else "photo_review_call_closed"
    text = services.text(locale, key, name=patient.called_by, emergency_phone=services.emergency_phone(locale),
                         when=closed or "")
    try:
        await bot.send_message(patient.chat_id, text, reply_markup=markup)
    except TelegramError as exc:
        log.warning("photo review of patient %d not delivered: %s", patient.id, exc)
        return False
    return True
