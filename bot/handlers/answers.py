"""Buttons under reminders: check-in answers (with escalation to staff) and rebooking answers."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from telegram import KeyboardButton, ReplyKeyboardMarkup, Update

from bot.alerts import alert_staff
from bot.context import AftercareContext
from bot.handlers.common import edit_or_send
from bot.inbox_views import close_silence
from bot.services import Services
from jobs.buttons import CHECKIN_LABELS, REBOOK_KEEP, REBOOK_LABELS, REBOOK_SURE, not_continuing_keyboard
from jobs.care.answers import BOOKED, LATER, NOT_CONTINUING, answer_checkin, answer_rebook
from jobs.care.escalation import WORRIED
from jobs.patients.self_service import patient_for_chat
from jobs.staff.inbox import InboxKind

log = logging.getLogger(__name__)

async def checkin_button(update: Update, context: AftercareContext) -> None:
    """Record "how is your skin?", answer in the clinic's voice, alert staff when the rule says so."""
    services = context.services
    query = update.callback_query
    reminder_id, answer = context.button.number, context.button.value
    result = await services.store.run(
        answer_checkin, reminder_id=reminder_id, chat_id=_chat_of(update), answer=answer,
        catalog=services.catalog, now=services.clock(),
    )
    patient, enrollment = result.patient, result.enrollment
    locale = patient.locale
    await query.answer()
    await close_silence(services, context.bot, patient.id)  # an answer closes "no answer" on the staff side
    key = {"fine": "checkin_fine", "worried": "checkin_worried"}.get(
        answer, "checkin_red_escalated" if result.escalate else "checkin_red_expected")
    await _show_answer(query, services, locale, CHECKIN_LABELS[answer])
    await query.message.reply_html(services.text(locale, key, name=patient.called_by, day=result.day,
                                                 when=day_phrase(services, locale, result.day)))
    log.info("patient %d answered check-in %d: %s (escalate=%s)", patient.id, reminder_id, answer, result.escalate)
    if result.escalate:
        def text(staff: str) -> str:  # in each staff chat's language (the number is added by alert_staff)
            return services.text(
                staff, "alert_escalation", name=patient.name, patient_id=patient.id,
                answer=services.text(staff, CHECKIN_LABELS[answer]), day=result.day,
                session_number=enrollment.session_number, series_length=enrollment.series_length,
                session_date=_date(services, staff, enrollment.session_at, services.settings.clinic_timezone.key),
            )

        kind = InboxKind.WORRIED if answer == WORRIED else InboxKind.ESCALATION
        await alert_staff(services, context.bot, text, patient_id=patient.id, inbox_kind=kind)
    if answer == WORRIED:
        await worried_follow_up(update.effective_message, services, patient)  # the check-in's message


def closed_notice(services: Services, patient, key: str) -> str | None:
    """Out of CLINIC_HOURS, the text ``key`` with the next opening in the patient's own zone and the number to
    call (``key`` + "_unknown" when no opening is known); None while the clinic is open."""
    settings = services.settings
    now = services.clock()
    if settings.clinic_hours.is_open(now, settings.clinic_timezone):
        return None
    locale = patient.locale
    opening = settings.clinic_hours.next_opening(now, settings.clinic_timezone)
    if opening is None:
        return services.text(locale, f"{key}_unknown", emergency_phone=services.emergency_phone(locale))
    when = services.catalog.format_date(locale, opening.astimezone(ZoneInfo(patient.timezone)), with_time=True)
    return services.text(locale, key, when=when, emergency_phone=services.emergency_phone(locale))


async def worried_follow_up(message, services: Services, patient) -> None:
    """Out of clinic hours, say so at once with the number to call; offer to share a number staff can ring."""
    locale = patient.locale
    closed = closed_notice(services, patient, "worried_clinic_closed")
    if closed is not None:
        await message.reply_html(closed)
    if not patient.phone:
        button = KeyboardButton(services.text(locale, "button_share_phone"), request_contact=True)
        await message.reply_html(services.text(locale, "worried_share_phone"), reply_markup=ReplyKeyboardMarkup(
            [[button]], resize_keyboard=True, one_time_keyboard=True))


async def red_flag_follow_up(message, services: Services, patient) -> None:
    """A patient's words carried a red flag: the red-flag guidance, then what *I'm worried* is answered with."""
    await message.reply_html(services.text(patient.locale, "red_flag_words", name=patient.name))
    await worried_follow_up(message, services, patient)


async def rebook_button(update: Update, context: AftercareContext) -> None:
    """Booked / remind me later / not continuing."""
    services = context.services
    query = update.callback_query
    reminder_id, answer = context.button.number, context.button.value
    if answer in (NOT_CONTINUING, REBOOK_KEEP):
        # Ending the series is asked once; only "yes, I'm not continuing" (REBOOK_SURE) does it.
        patient = await services.store.run(patient_for_chat, chat_id=_chat_of(update))
        locale = patient.locale if patient and patient.locale else services.locale_of(update)
        await query.answer()
        if answer == REBOOK_KEEP:
            await edit_or_send(query, services.text(locale, "rebook_kept"))
            return
        await query.message.reply_html(services.text(locale, "rebook_not_continuing_question"),
                                       reply_markup=not_continuing_keyboard(
                                           reminder_id, sure=services.text(locale, "button_not_continuing_sure"),
                                           keep=services.text(locale, "button_not_continuing_keep")))
        return
    answer = NOT_CONTINUING if answer == REBOOK_SURE else answer
    result = await services.store.run(
        answer_rebook, reminder_id=reminder_id, chat_id=_chat_of(update), answer=answer,
        quiet_hours=services.settings.quiet_hours, catalog=services.catalog, now=services.clock(),
    )
    patient, enrollment = result.patient, result.enrollment
    locale = patient.locale
    await query.answer()
    await _show_answer(query, services, locale, REBOOK_LABELS[answer])
    if answer == LATER:
        when = services.catalog.format_date(locale, result.snoozed_until.astimezone(ZoneInfo(patient.timezone)),
                                            with_time=True)
        await query.message.reply_html(services.text(locale, "rebook_later", when=when))
        return
    key = "rebook_booked" if answer == BOOKED else "rebook_not_continuing"
    await query.message.reply_html(services.text(locale, key, name=patient.called_by))
    alert = "alert_booked" if answer == BOOKED else "alert_not_continuing"
    await alert_staff(services, context.bot, lambda staff: services.text(
        staff, alert, name=patient.name, patient_id=patient.id, session_number=enrollment.session_number,
        next_number=enrollment.session_number + 1, series_length=enrollment.series_length,
    ), patient_id=patient.id)


async def _show_answer(query, services: Services, locale: str, label_key: str) -> None:
    """Replace the buttons with the chosen answer, so the message reads as answered."""
    text = (query.message.text_html if query.message and query.message.text else "")
    answered = services.text(locale, "answered", answer=services.text(locale, label_key))
    await edit_or_send(query, f"{text}\n\n{answered}".strip())


def day_phrase(services: Services, locale: str, day: int) -> str:
    """"on the day of your session", "on the day after your session", "on day 4 after your session"."""
    return services.text(locale, f"day_phrase_{day if day in (0, 1) else 'n'}", day=day)


def _chat_of(update: Update) -> int:
    """The presser's own private chat: only the patient themself may answer their reminders."""
    return update.effective_user.id


def _date(services: Services, locale: str, moment, zone: str) -> str:
    return services.catalog.format_date(locale, moment.astimezone(ZoneInfo(zone)))
