"""The answer buttons under an outcome step ("how has your skin changed since your treatment?").

A press records the answer (jobs/care/outcomes.py), marks it on the buttons (which stay, so a
second press within the step's validity changes it) and thanks the patient; a "worse" answer
goes to staff as an inbox item, and the patient is told the clinic will be in touch. The first
answer is followed by "anything you'd like to tell us?": the patient's words then reach staff as
any message does (bot/handlers/relay.py), so nothing new is needed to carry them.

A step with ``photo = true`` then asks, once, whether the clinic may keep the patient's photos to
compare before and after (Yes / No buttons that stay, so the answer can be changed), and with a yes
asks for a photo in the same light as the day-3 one (jobs/care/comparison.py). Without a yes, no photo
is asked for.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.alerts import alert_staff
from bot.context import AftercareContext
from jobs.buttons import YES, outcome_keyboard, photo_consent_keyboard, scale_label
from jobs.care.comparison import FollowUp, answer_consent
from jobs.care.outcomes import answer_outcome
from jobs.staff.inbox import InboxKind

log = logging.getLogger(__name__)


async def outcome_button(update: Update, context: AftercareContext) -> None:
    """Record or change an outcome answer; a newly "worse" one opens an item for staff."""
    services = context.services
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:  # the button handler routes presses only
        return
    reminder_id, answer = context.button.number, context.button.value
    result = await services.store.run(answer_outcome, reminder_id=reminder_id, chat_id=user.id,
                                      answer=answer, catalog=services.catalog, now=services.clock())
    patient, locale = result.patient, result.patient.locale

    def label(key: str, in_locale: str = locale) -> str:
        return scale_label(result.scale, key, catalog=services.catalog, locale=in_locale)

    async def reply(key: str, **values: object) -> None:
        # To the presser's own chat: the pressed message may be too old for Telegram to reply to.
        await context.bot.send_message(user.id, services.text(locale, key, **values), parse_mode=ParseMode.HTML)

    if result.previous == answer:
        await query.answer(services.text(locale, "already_answered"))
        return
    await query.answer()
    try:
        await query.edit_message_reply_markup(outcome_keyboard(reminder_id, result.scale, catalog=services.catalog,
                                                               locale=locale, chosen=answer))
    except BadRequest as exc:  # the message is too old to edit, or unchanged: the reply below still says it
        log.info("outcome %d: buttons not updated: %s", reminder_id, exc.message)
    if result.previous is not None:
        await reply("outcome_changed", answer=label(answer), previous=label(result.previous))
    if result.worse:
        if result.previous is None or result.newly_worse:
            await reply("outcome_worse", name=patient.name)
    elif result.previous is None:
        await reply("outcome_thanks", name=patient.name)
    if result.previous is None:
        # The free-text follow-up: what the patient writes next is relayed to staff like any message.
        await reply("outcome_tell_us")
    if result.follow_up is FollowUp.ASK_CONSENT:
        await context.bot.send_message(user.id, services.text(locale, "photo_consent_question", name=patient.called_by),
                                       parse_mode=ParseMode.HTML,
                                       reply_markup=_consent_keyboard(services, locale, reminder_id))
    elif result.follow_up is FollowUp.ASK_PHOTO:
        await reply("comparison_photo_request", name=patient.called_by)
    log.info("patient %d answered outcome %d: %s (was %s)", patient.id, reminder_id, answer, result.previous)
    if result.newly_worse:
        def text(staff: str) -> str:  # in each staff chat's language (the number is added by alert_staff)
            return services.text(staff, "alert_outcome_worse", name=patient.name, patient_id=patient.id,
                                 answer=label(answer, staff), step=services.catalog.step_title(staff, result.step_key))

        await alert_staff(services, context.bot, text, patient_id=patient.id, inbox_kind=InboxKind.OUTCOME)


def _consent_keyboard(services, locale: str, reminder_id: int, chosen: str | None = None):
    return photo_consent_keyboard(reminder_id, yes=services.text(locale, "button_consent_yes"),
                                  no=services.text(locale, "button_consent_no"), chosen=chosen)


async def photo_consent_button(update: Update, context: AftercareContext) -> None:
    """Yes or no to keeping photos for comparison; the other button changes it (a no withdraws a yes)."""
    services = context.services
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:  # the button handler routes presses only
        return
    reminder_id, choice = context.button.number, context.button.value
    result = await services.store.run(answer_consent, reminder_id=reminder_id, chat_id=user.id,
                                      given=choice == YES, now=services.clock())
    patient, locale = result.patient, result.patient.locale
    if result.previous is result.given:
        await query.answer(services.text(locale, "already_answered"))
        return
    await query.answer()
    try:
        await query.edit_message_reply_markup(_consent_keyboard(services, locale, reminder_id, chosen=choice))
    except BadRequest as exc:  # too old to edit: the reply below still says it
        log.info("photo consent %d: buttons not updated: %s", reminder_id, exc.message)
    if result.given:
        key = "photo_consent_yes"
    else:
        key = "photo_consent_withdrawn" if result.previous else "photo_consent_no"
    await context.bot.send_message(user.id, services.text(locale, key, name=patient.called_by),
                                   parse_mode=ParseMode.HTML)
    if result.ask_photo:
        await context.bot.send_message(user.id, services.text(locale, "comparison_photo_request",
                                                              name=patient.called_by), parse_mode=ParseMode.HTML)
    log.info("patient %d: photo consent %s (was %s); %d comparison photo(s) forgotten", patient.id,
             choice, result.previous, result.forgotten)
