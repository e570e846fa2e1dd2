"""Patient commands: /status, /pause, /resume, /stop, /delete, /timezone, /language.

Each acts only on the patient linked to the sending chat. /stop and /delete ask for a
confirmation with buttons first.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update

from bot.alerts import alert_staff
from bot.context import AftercareContext
from bot.delivery import wake_dispatcher
from bot.handlers.common import edit_or_send
from bot.inbox_views import refresh_items
from bot.services import Services
from bot.timezones import zone_for_city, zone_for_location
from jobs.buttons import NO, confirm_keyboard, language_keyboard
from jobs.care.planning import next_session_window
from jobs.inputs import InputRefused, clean_query, echo
from jobs.patients.confirmations import close_prompt, open_prompt
from jobs.patients.self_service import (
    erase_patient,
    inbox_items_of_chat,
    patient_for_chat,
    patient_status,
    set_locale,
    set_paused,
    set_timezone,
    stop_patient,
)
from jobs.refusal import Refusal
from jobs.storage.states import PatientStatus

log = logging.getLogger(__name__)


def _local_text(services: Services, locale: str, moment: datetime, zone: str) -> str:
    return services.catalog.format_date(locale, moment.astimezone(ZoneInfo(zone)), with_time=True)


async def _patient_or_explain(update: Update, services: Services):
    """The patient linked to this chat (a stranger is refused with an explanation)."""
    patient = await services.store.run(patient_for_chat, chat_id=update.effective_chat.id)
    if patient is None:
        raise Refusal("not_a_patient")
    return patient


async def status_command(update: Update, context: AftercareContext) -> None:
    """Session k of n, the next message and when, and when the next session is due."""
    services = context.services
    status = await services.store.run(patient_status, chat_id=update.effective_chat.id)
    patient, enrollment, upcoming = status.patient, status.enrollment, status.next_reminder
    locale, catalog = patient.locale, services.catalog
    lines = [services.text(locale, "status_title", )]
    if enrollment is not None:
        lines.append(services.text(
            locale, "status_session", session_number=enrollment.session_number,
            series_length=enrollment.series_length,
            session_date=catalog.format_date(locale, enrollment.session_at.astimezone(ZoneInfo(patient.timezone))),
        ))
    if patient.status != PatientStatus.ACTIVE:
        lines.append(services.text(locale, f"patient_state_{patient.status}"))
    elif upcoming is not None:
        # "(in 3 hours)" beside the date: the patient need not work out how far off it is.
        lines.append(services.text(locale, "status_next", when=_local_text(services, locale, upcoming.due_at,
                                                                            patient.timezone),
                                   relative=catalog.format_relative(locale, upcoming.due_at - services.clock())))
    else:
        lines.append(services.text(locale, "status_nothing_planned"))
    if enrollment is not None:
        if enrollment.session_number < enrollment.series_length:
            protocol = catalog.protocol_for(enrollment.protocol_name)
            start, end = next_session_window(protocol, session_at=enrollment.session_at)
            zone = ZoneInfo(patient.timezone)
            lines.append(services.text(locale, "status_next_session",
                                       start=catalog.format_date(locale, start.astimezone(zone)),
                                       end=catalog.format_date(locale, end.astimezone(zone))))
        else:
            lines.append(services.text(locale, "status_series_done"))
    lines.append(services.text(locale, "status_zone", zone=patient.timezone))
    await update.effective_message.reply_html("\n".join(lines))


async def pause_command(update: Update, context: AftercareContext) -> None:
    """Hold all messages until /resume."""
    await _set_paused(update, context, paused=True)


async def resume_command(update: Update, context: AftercareContext) -> None:
    """Continue after /pause."""
    await _set_paused(update, context, paused=False)


async def _set_paused(update: Update, context: AftercareContext, *, paused: bool) -> None:
    services = context.services
    applied = await services.store.run(set_paused, chat_id=update.effective_chat.id, paused=paused,
                                       quiet_hours=services.settings.quiet_hours, now=services.clock())
    patient = applied.patient
    log.info("patient %d %s (was %s)", patient.id, "paused" if paused else "resumed", applied.before.value)
    await update.effective_message.reply_html(services.text(patient.locale, "paused" if paused else "resumed"))


async def stop_command(update: Update, context: AftercareContext) -> None:
    """Ask to confirm stopping all messages."""
    await _ask_confirmation(update, context, "stop")


async def delete_command(update: Update, context: AftercareContext) -> None:
    """Ask to confirm erasing the patient's data."""
    await _ask_confirmation(update, context, "delete")


async def _ask_confirmation(update: Update, context: AftercareContext, action: str) -> None:
    services = context.services
    patient = await _patient_or_explain(update, services)
    locale = patient.locale
    nonce = await services.store.run(open_prompt, chat_id=update.effective_chat.id, action=action,
                                     now=services.clock())
    await update.effective_message.reply_html(
        services.text(locale, f"{action}_confirm"),
        reply_markup=confirm_keyboard(action, nonce, yes=services.text(locale, f"button_yes_{action}"),
                                      no=services.text(locale, "button_keep")),
    )


async def confirm_button(update: Update, context: AftercareContext) -> None:
    """The answer to a /stop or /delete confirmation."""
    services = context.services
    query = update.callback_query
    button = context.button
    chat_id = update.effective_user.id  # the presser's own private chat: nobody acts for a patient
    patient = await services.store.run(patient_for_chat, chat_id=chat_id)
    if patient is None:
        raise Refusal("not_your_button")
    action, choice, locale = button.value, button.choice, patient.locale
    # Only the chat's open prompt confirms: a forged, repeated or superseded button does nothing.
    if not await services.store.run(close_prompt, chat_id=chat_id, action=action, nonce=button.nonce,
                                    now=services.clock()):
        raise Refusal("button_stale", locale=locale)
    if choice == NO:
        await query.answer()
        await edit_or_send(query, services.text(locale, "kept"))
        return
    # The change first: a refusal (already stopped, say) is then the press's one answer.
    if action == "stop":
        await services.store.run(stop_patient, chat_id=chat_id, now=services.clock())
        log.info("patient %d stopped their messages", patient.id)
        # Staff hear of it, as of "I'm not continuing": someone may want to ask why.
        await alert_staff(services, context.bot, services.text(services.staff_locale, "alert_stopped",
                                                               name=patient.name, patient_id=patient.id),
                          patient_id=patient.id)
        done = "stop_done"
    else:
        items = await services.store.run(inbox_items_of_chat, chat_id=chat_id)
        await services.store.run(erase_patient, chat_id=chat_id, now=services.clock())
        log.info("patient %d erased their data", patient.id)
        services.scrub_wanted = True  # the intake scrubs the files once this update keeps no payload
        # Their alerts in staff chats lose the name and the words too.
        await refresh_items(services, context.bot, items)
        done = "delete_done"
    await query.answer()
    await edit_or_send(query, services.text(locale, done))
    if action != "stop":
        # The rest of the staff chats' messages that name them, and their topic, at once (bot/erasure.py).
        wake_dispatcher(services, context.job_queue)


async def timezone_command(update: Update, context: AftercareContext) -> None:
    """``/timezone Madrid`` sets the zone by city; ``/timezone`` alone offers to share a location."""
    services = context.services
    patient = await _patient_or_explain(update, services)
    locale = patient.locale
    query = " ".join(context.args or [])
    if not query:
        keyboard = ReplyKeyboardMarkup([[KeyboardButton(services.text(locale, "button_share_location"),
                                                        request_location=True)]],
                                       resize_keyboard=True, one_time_keyboard=True)
        await update.effective_message.reply_html(services.text(locale, "timezone_prompt", zone=patient.timezone),
                                                  reply_markup=keyboard)
        return
    try:
        query = clean_query(query)
    except InputRefused as exc:
        # Never quote a 5,000-character "city" back: the reply would be too long to send.
        key = "timezone_too_long" if exc.key == "input_too_long" else exc.key
        await update.effective_message.reply_html(services.text(locale, key, **exc.values))
        return
    zone = zone_for_city(query)
    if zone is None:
        await update.effective_message.reply_html(services.text(locale, "timezone_unknown", query=echo(query)))
        return
    await _apply_zone(update, services, zone)


async def location_message(update: Update, context: AftercareContext) -> None:
    """A shared location sets the patient's time zone."""
    services = context.services
    location = update.effective_message.location
    zone = zone_for_location(latitude=location.latitude, longitude=location.longitude)
    patient = await _patient_or_explain(update, services)
    if zone is None:
        await update.effective_message.reply_html(services.text(patient.locale, "timezone_unknown", query="📍"))
        return
    await _apply_zone(update, services, zone)


async def _apply_zone(update: Update, services: Services, zone: ZoneInfo) -> None:
    now = services.clock()
    patient = await services.store.run(set_timezone, chat_id=update.effective_chat.id, zone=zone,
                                       quiet_hours=services.settings.quiet_hours, now=now)
    log.info("patient %d moved to zone %s", patient.id, zone.key)
    await update.effective_message.reply_html(
        services.text(patient.locale, "timezone_set", zone=zone.key, local_time=f"{now.astimezone(zone):%H:%M}"),
        reply_markup=ReplyKeyboardRemove(),
    )


async def language_command(update: Update, context: AftercareContext) -> None:
    """Offer a button per language the clinic has texts for."""
    services = context.services
    patient = await _patient_or_explain(update, services)
    catalog = services.catalog
    choices = [(code, catalog.bot(code, "language_name")) for code in catalog.locales]
    await update.effective_message.reply_html(services.text(patient.locale, "language_prompt"),
                                              reply_markup=language_keyboard(choices))


async def language_button(update: Update, context: AftercareContext) -> None:
    """Set the language chosen with a /language button."""
    services = context.services
    query = update.callback_query
    code = context.button.value
    chat_id = update.effective_user.id
    if code not in services.catalog.locales:
        raise Refusal("not_your_button")
    patient = await services.store.run(patient_for_chat, chat_id=chat_id)
    if patient is None:
        raise Refusal("not_your_button")
    await services.store.run(set_locale, chat_id=chat_id, locale=code)
    await query.answer()
    await edit_or_send(query, services.text(code, "language_set"))
