"""The staff console: /patients, /patient, /session, /cancel, /invite, /stats.

Every command is staff-only (checked in bot.access) and works in a private chat or the staff chat.
A patient is named by number (``/patient 12``) or by name (``/patient Anna``); an unknown or
ambiguous name gets a reply saying so and what to type.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.access import staff_only
from bot.callbacks import PATIENTS, parse_callback
from bot.enroll_args import parse_session_time
from bot.handlers.common import edit_or_send
from bot.handlers.enroll import cancel_form
from bot.invite_card import invite_link, qr_png
from bot.keyboards import patients_keyboard
from bot.services import Services, services_of
from jobs.console import (
    PATIENT_FILTERS,
    cancel_patient,
    clinic_stats,
    find_patients,
    list_patients,
    patient_timeline,
    record_next_session,
    reinvite,
)
from jobs.enrollment import EnrollmentError
from jobs.inputs import InputRefused, clean_query, echo, parse_int
from jobs.storage.models import ACTIVE, AWAITING_LINK, OPEN_STATES, Patient

log = logging.getLogger(__name__)

PAGE_SIZE = 10
_MARKS = {"sent": "✅", "pending": "⏳", "claimed": "⏳", "skipped": "⏭", "failed": "❌", "cancelled": "✖"}


async def _resolve(update: Update, services: Services, query: str, usage_key: str) -> Patient | None:
    """The one patient ``query`` names, or None after replying why not."""
    locale = services.locale_of(update)
    try:
        query = clean_query(query)
    except InputRefused as exc:
        await update.effective_message.reply_html(services.text(locale, exc.key, **exc.values))
        return None
    if not query:
        await update.effective_message.reply_html(services.text(locale, usage_key))
        return None
    matches = await services.store.run(find_patients, query=query)
    if not matches:
        await update.effective_message.reply_html(services.text(locale, "console_unknown_patient", query=echo(query)))
        return None
    if len(matches) > 1:
        listing = ", ".join(f"#{p.id} {p.name}" for p in matches[:8])
        await update.effective_message.reply_html(services.text(
            locale, "console_ambiguous", query=echo(query), matches=listing, example=matches[0].id))
        return None
    return matches[0]


async def _patient_from_args(update: Update, context: ContextTypes.DEFAULT_TYPE, usage_key: str) -> Patient | None:
    """The patient the command's arguments name, or None after replying why not."""
    return await _resolve(update, services_of(context), " ".join(context.args or []), usage_key)


def _split_at(text: str) -> tuple[str, str | None]:
    """"Anna K at=yesterday 17:00" -> ("Anna K", "yesterday 17:00")."""
    head, sep, tail = text.partition("at=")
    return head.strip(), (tail.strip() if sep else None)


@staff_only
async def patients_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/patients [active|awaiting_link|paused|stopped|unreachable|due]``: one page, with buttons."""
    services = services_of(context)
    which = (context.args[0].lower() if context.args else ACTIVE)
    if which == "awaiting":
        which = AWAITING_LINK
    if which not in PATIENT_FILTERS:
        await update.effective_message.reply_html(services.text(
            services.locale_of(update), "patients_usage", filters=", ".join(PATIENT_FILTERS)))
        return
    text, keyboard = await _patients_page(services, services.locale_of(update), which, 0)
    await update.effective_message.reply_html(text, reply_markup=keyboard)


@staff_only
async def patients_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A filter or page button of /patients."""
    services = services_of(context)
    query = update.callback_query
    button = parse_callback(query.data)
    if button is None or button.kind != PATIENTS or button.value not in PATIENT_FILTERS:
        await query.answer(services.text(services.locale_of(update), "not_your_button"))
        return
    await query.answer()
    text, keyboard = await _patients_page(services, services.locale_of(update), button.value, button.number)
    await edit_or_send(query, text, reply_markup=keyboard)


async def _patients_page(services: Services, locale: str, which: str, page: int):
    protocol = services.catalog.protocol()
    rows, total = await services.store.run(
        list_patients, which=which, page=page, page_size=PAGE_SIZE, now=services.clock(),
        window_after=protocol.next_session_after, window_before=protocol.next_session_before)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    lines = [services.text(locale, "patients_title", title=services.text(locale, f"filter_{which}"),
                           total=total, page=page + 1, pages=pages)]
    zone = services.settings.clinic_timezone
    for row in rows:
        enrollment = row.enrollment
        lines.append(services.text(
            locale, "patients_line", patient_id=row.patient.id, name=row.patient.name,
            session_number=enrollment.session_number if enrollment else "-",
            series_length=enrollment.series_length if enrollment else "-",
            session_date=services.catalog.format_date(locale, enrollment.session_at.astimezone(zone))
            if enrollment else "-"))
    if not rows:
        lines.append(services.text(locale, "patients_empty"))
    filters = [(key, services.text(locale, f"filter_{key}")) for key in PATIENT_FILTERS]
    keyboard = patients_keyboard(filters, current=which, page=page, pages=pages,
                                 previous=services.text(locale, "button_previous"),
                                 following=services.text(locale, "button_next"))
    return "\n".join(lines), keyboard


@staff_only
async def patient_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/patient <number or name>``: profile and full timeline."""
    services = services_of(context)
    patient = await _patient_from_args(update, context, "patient_usage")
    if patient is None:
        return
    timeline = await services.store.run(patient_timeline, patient_id=patient.id)
    locale, catalog = services.locale_of(update), services.catalog
    zone = ZoneInfo(patient.timezone)

    def when(moment):
        return catalog.format_date(locale, moment.astimezone(zone), with_time=True) if moment else "-"

    lines = [services.text(locale, "patient_profile", name=patient.name, patient_id=patient.id,
                           status=services.text(locale, f"state_{patient.status}"), zone=patient.timezone,
                           locale=patient.locale or "-", enrolled=when(patient.created_at),
                           linked=when(patient.linked_at))]
    for enrollment in timeline.enrollments:
        lines.append(services.text(locale, "patient_cycle", session_number=enrollment.session_number,
                                   series_length=enrollment.series_length, session_date=when(enrollment.session_at),
                                   protocol=enrollment.protocol_name))
        for reminder in (r for r in timeline.reminders if r.enrollment_id == enrollment.id):
            extra = ""
            if reminder.answer:
                extra = services.text(locale, "patient_step_answer", answer=reminder.answer)
            elif reminder.status in ("skipped", "failed", "cancelled") and reminder.outcome:
                extra = f" — {reminder.outcome}"
            lines.append(services.text(locale, "patient_step", mark=_MARKS.get(reminder.status, "•"),
                                       when=when(reminder.sent_at or reminder.due_at), step=reminder.step_key,
                                       extra=extra))
    text = "\n".join(lines)
    # Telegram's limit is 4096 characters; a long history is cut at the oldest end.
    await update.effective_message.reply_html(text if len(text) < 4000 else "…\n" + text[-3900:].split("\n", 1)[1])


@staff_only
async def session_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/session <patient> [at=<time>]``: record the next session of the series and plan its aftercare."""
    services = services_of(context)
    locale = services.locale_of(update)
    query, at = _split_at(update.effective_message.text.partition(" ")[2])
    patient = await _resolve(update, services, query, "session_usage")
    if patient is None:
        return
    now = services.clock()
    try:
        session_at = parse_session_time(at, now=now, zone=services.settings.clinic_timezone) if at else now
        if session_at > now + timedelta(minutes=10):
            raise EnrollmentError("enroll_error_future")
        timeline = await services.store.run(patient_timeline, patient_id=patient.id)
        last = timeline.enrollments[-1].protocol_name if timeline and timeline.enrollments else None
        protocol = services.catalog.protocols.get(last) or services.catalog.protocol()
        patient, enrollment, planned = await services.store.run(
            record_next_session, patient_id=patient.id, session_at=session_at, protocol=protocol,
            quiet_hours=services.settings.quiet_hours, now=now)
    except EnrollmentError as exc:
        values = {"query": echo(query), **exc.values}
        await update.effective_message.reply_html(services.text(locale, exc.key, **values) + "\n"
                                                  + services.text(locale, "session_usage"))
        return
    log.info("staff %s recorded session %d for patient %d", update.effective_user.id,
             enrollment.session_number, patient.id)
    await update.effective_message.reply_html(services.text(
        locale, "session_done", session_number=enrollment.session_number, series_length=enrollment.series_length,
        name=patient.name, session_date=services.catalog.format_date(
            locale, enrollment.session_at.astimezone(services.settings.clinic_timezone), with_time=True),
        planned=planned))


@staff_only
async def cancel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/cancel <patient>``: stop all of a patient's reminders (``/cancel`` alone leaves an open form)."""
    services = services_of(context)
    if not context.args and await cancel_form(update, context):
        return
    patient = await _patient_from_args(update, context, "cancel_usage")
    if patient is None:
        return
    count = await services.store.run(cancel_patient, patient_id=patient.id, now=services.clock())
    log.info("staff %s cancelled patient %d (%d reminders)", update.effective_user.id, patient.id, count)
    await update.effective_message.reply_html(services.text(services.locale_of(update), "cancel_done",
                                                            count=count, name=patient.name))


@staff_only
async def invite_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/invite <patient>``: a fresh invite link and QR code; older links stop working."""
    services = services_of(context)
    patient = await _patient_from_args(update, context, "invite_usage")
    if patient is None:
        return
    now = services.clock()
    token = await services.store.run(reinvite, patient_id=patient.id, now=now, ttl=services.settings.invite_ttl)
    link = invite_link(context.bot.username, token)
    locale = services.locale_of(update)
    expires = services.catalog.format_date(locale, (now + services.settings.invite_ttl)
                                           .astimezone(services.settings.clinic_timezone), with_time=True)
    log.info("staff %s made a new invite for patient %d", update.effective_user.id, patient.id)
    await update.effective_message.reply_photo(
        photo=qr_png(link), parse_mode=ParseMode.HTML,
        caption=services.text(locale, "invite_done", name=patient.name, patient_id=patient.id, expires=expires,
                              link=link))


@staff_only
async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/stats [days]``: what happened over the last days (30 by default)."""
    services = services_of(context)
    locale = services.locale_of(update)
    try:
        days = parse_int(context.args[0] if context.args else "30", low=1, high=3650, key="stats_usage")
    except InputRefused as exc:
        await update.effective_message.reply_html(services.text(locale, exc.key))
        return
    now = services.clock()
    stats = await services.store.run(clinic_stats, since=now - timedelta(days=days), now=now)
    rate = f"{stats.booked / stats.rebook_offered:.0%}" if stats.rebook_offered else "-"
    await update.effective_message.reply_html(services.text(
        locale, "stats_text", days=days, enrolled=stats.enrolled, linked=stats.linked,
        sent=stats.messages["sent"], skipped=stats.messages["skipped"], failed=stats.messages["failed"],
        pending=sum(stats.messages[state] for state in OPEN_STATES), fine=stats.answers["fine"],
        red=stats.answers["red"], worried=stats.answers["worried"], escalations=stats.escalations,
        booked=stats.booked, offered=stats.rebook_offered, rate=rate))
