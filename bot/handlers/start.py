"""``/start``: a patient opens their invite link (``/start <token>``) and is linked to the clinic.

A chat follows one patient record at a time: opening another patient's invite from a chat that
already follows someone asks, with buttons, whether to switch, and changes nothing until then.
"""

from __future__ import annotations

import html
import logging

from telegram import Update

from bot.alerts import StaffText, alert_staff
from bot.context import AftercareContext
from bot.delivery import wake_dispatcher
from bot.handlers.staff import join_as_staff
from bot.services import Services
from jobs.buttons import NO, switch_keyboard
from jobs.patients.invites import (
    TAKEN,
    LinkResult,
    confirm_switch,
    decline_switch,
    patient_of_taken_link,
    redeem_invite,
)
from jobs.patients.lifecycle import LifecycleEvent
from jobs.patients.self_service import patient_for_chat
from jobs.refusal import Refusal
from jobs.staff.membership import STAFF_TOKEN_PREFIX
from jobs.storage.states import PatientStatus
from messages.catalog import Raw

log = logging.getLogger(__name__)


async def start_command(update: Update, context: AftercareContext) -> None:
    """Link the chat to the invite's patient, greet them by name and send what is due at once."""
    services = context.services
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    locale = context.locale
    if not context.args:
        patient = await services.store.run(patient_for_chat, chat_id=chat.id)
        if patient is not None:
            await message.reply_html(_where_you_stand(services, patient))
        else:
            await message.reply_html(services.text(locale, "start_no_token"))
        return
    if services.wrong_tokens.is_throttled(user.id):
        log.warning("invite attempts from user %s throttled", user.id)
        await message.reply_html(services.text(locale, "start_throttled"))
        return
    if context.args[0].startswith(STAFF_TOKEN_PREFIX):
        await join_as_staff(update, context, context.args[0])
        return
    try:
        result = await services.store.run(redeem_invite, token=context.args[0], chat_id=chat.id,
                                          now=services.clock(), locale=locale,
                                          quiet_hours=services.settings.quiet_hours)
    except Refusal as refusal:
        await services.wrong_tokens.wrong_token(user.id)
        log.info("invite refused for chat %s: %s", chat.id, refusal.key)
        if refusal.key == TAKEN:
            await _tell_staff_of_taken_link(services, context, refusal.values["patient_id"])
        raise
    if result.already:
        await message.reply_html(_where_you_stand(services, result.patient))
        return
    if result.switch_from is not None:
        await _ask_to_switch(update, services, result)
        return
    await _linked(update, context, services, result)


async def _tell_staff_of_taken_link(services: Services, context: AftercareContext, patient_id: int) -> None:
    """Someone opened an old link of a patient linked elsewhere: staff hear of it (who tried is not said:
    the patient's own new account and a stranger look alike, and staff answer both with ``/invite``)."""
    patient = await services.store.run(patient_of_taken_link, patient_id=patient_id)
    if patient is None:
        return
    log.warning("an old invite of patient %d was opened from another chat and refused", patient.id)
    await alert_staff(services, context.bot, StaffText("alert_taken_link", {"name": patient.name,
                                                                             "patient_id": patient.id}),
                      patient_id=patient.id)


def _where_you_stand(services: Services, patient) -> str:
    """The reply to an invite the chat has already opened: true to the patient's status."""
    if patient.status in (PatientStatus.ACTIVE, PatientStatus.PAUSED):
        return services.text(patient.locale, "start_already", name=patient.called_by)
    return services.text(patient.locale, f"patient_state_{patient.status}")


async def _ask_to_switch(update: Update, services: Services, result: LinkResult) -> None:
    locale = result.switch_from.locale
    keyboard = switch_keyboard(result.invite_id,
                               yes=services.text(locale, "button_switch_yes", name=result.patient.name),
                               no=services.text(locale, "button_switch_no", name=result.switch_from.name))
    log.info("chat %s asked whether to follow patient %d instead of %d", update.effective_chat.id,
             result.patient.id, result.switch_from.id)
    await update.effective_message.reply_html(
        services.text(locale, "switch_question", name=result.patient.name, current=result.switch_from.name),
        reply_markup=keyboard)


async def switch_button(update: Update, context: AftercareContext) -> None:
    """The answer to "this chat follows X: switch to Y?"."""
    services = context.services
    query = update.callback_query
    invite_id, choice = context.button.number, context.button.choice
    chat_id = update.effective_user.id  # the presser's own private chat
    if choice == NO:
        await services.store.run(decline_switch, invite_id=invite_id, chat_id=chat_id)
        await query.answer()
        await query.edit_message_text(services.text(context.locale, "kept"))
        return
    result = await services.store.run(confirm_switch, invite_id=invite_id, chat_id=chat_id,
                                      now=services.clock(), locale=context.locale,
                                      quiet_hours=services.settings.quiet_hours)
    await query.answer()
    await query.edit_message_reply_markup(None)
    if result.superseded_id is not None:
        patient = result.patient
        await alert_staff(services, context.bot, StaffText("alert_superseded", {
            "name": patient.name, "patient_id": patient.id, "old_id": result.superseded_id}), patient_id=patient.id)
    await _linked(update, context, services, result)


async def _linked(update: Update, context: AftercareContext, services: Services, result: LinkResult) -> None:
    patient, applied = result.patient, result.applied
    log.info("patient %d linked (%s, %d stale steps skipped)", patient.id, applied.event.value, applied.skipped)
    try:
        await _greet(update, services, result)
    finally:
        # What is due right now (the "what to expect" note) goes out at once, not at the next tick,
        # even if the greeting could not be sent: the one dispatcher job is woken (never run here, so
        # the in-flight bound and its staff report hold for these sends too).
        wake_dispatcher(services, context.job_queue)


async def _greet(update: Update, services: Services, result: LinkResult) -> None:
    message, patient, applied = update.effective_message, result.patient, result.applied
    if applied.event is not LifecycleEvent.LINK:
        if applied.after == PatientStatus.PAUSED:
            text = services.text(patient.locale, "start_linked_again_paused", name=patient.called_by)
        elif result.planned:
            text = services.text(patient.locale, "start_linked_again", name=patient.called_by, planned=result.planned)
        else:
            text = services.text(patient.locale, "start_linked_again_nothing", name=patient.called_by)
        await message.reply_html(text)
    else:
        quiet = services.settings.quiet_hours
        note = services.text(patient.locale, "start_quiet_note", quiet_start=f"{quiet.start:%H:%M}",
                             quiet_end=f"{quiet.end:%H:%M}") if quiet.enabled else ""
        await message.reply_html(services.text(patient.locale, "start_linked", name=patient.called_by) + note
                                 + privacy_line(services, patient.locale))


def privacy_line(services: Services, locale: str) -> str:
    """What the clinic keeps about the patient and how to erase it, with the privacy notice linked when set."""
    line = services.text(locale, "privacy_note")
    url = services.settings.privacy_url
    if url:
        link = Raw(f'<a href="{html.escape(url)}">{html.escape(url, quote=False)}</a>')
        line += services.text(locale, "privacy_link", link=link)
    return line
