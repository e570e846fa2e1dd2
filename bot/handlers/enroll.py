"""``/enroll``: staff enroll a patient in one line, or step by step with buttons.

``/enroll Anna K at=yesterday 17:00 session=2/4`` enrolls at once; ``/enroll`` alone opens a
form (name, treatment, session number, time). Both end in :func:`finish_enrollment`, which
writes the plan and replies with the invite link and its QR code.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes, ConversationHandler

from bot.access import staff_only
from bot.enroll_args import EnrollArgs, parse_enroll_args, parse_session_time
from bot.invite_card import invite_link, qr_png
from bot.keyboards import (
    ENROLL_NUMBER,
    ENROLL_PROTOCOL,
    ENROLL_WHEN_NOW,
    protocol_keyboard,
    session_number_keyboard,
    when_keyboard,
)
from bot.services import Services, services_of
from jobs.enrollment import EnrollmentError, enroll_patient
from messages.catalog import Raw

log = logging.getLogger(__name__)

# Conversation states of the guided form.
ASK_NAME, ASK_PROTOCOL, ASK_NUMBER, ASK_WHEN, ASK_TIME = range(5)
FORM_KEY = "enroll_form"


def _staff_locale(services: Services, update: Update) -> str:
    user = update.effective_user
    return services.catalog.resolve_locale(user.language_code if user else None)


@staff_only(private=True)
async def enroll_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """``/enroll …`` with a name enrolls now; ``/enroll`` alone starts the form."""
    services = services_of(context)
    locale = _staff_locale(services, update)
    text = update.effective_message.text.partition(" ")[2]
    if not text.strip():
        context.user_data[FORM_KEY] = {}
        await update.effective_message.reply_html(services.text(locale, "enroll_ask_name"))
        return ASK_NAME
    catalog = services.catalog
    try:
        args = parse_enroll_args(text, now=services.clock(), clinic_zone=services.settings.clinic_timezone,
                                 protocols=sorted(catalog.protocols), locales=catalog.locales)
    except EnrollmentError as exc:
        await _reply_error(update, services, locale, exc)
        return ConversationHandler.END
    await finish_enrollment(update, context, args)
    return ConversationHandler.END


async def form_name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Form step 1: the name."""
    services = services_of(context)
    context.user_data.setdefault(FORM_KEY, {})["name"] = update.effective_message.text
    protocols = [(p.name, p.title) for p in services.catalog.protocols.values()]
    await update.effective_message.reply_html(services.text(_staff_locale(services, update), "enroll_ask_protocol"),
                                              reply_markup=protocol_keyboard(protocols))
    return ASK_PROTOCOL


async def form_protocol(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Form step 2: the protocol (a button)."""
    services = services_of(context)
    query = update.callback_query
    await query.answer()
    name = query.data.removeprefix(ENROLL_PROTOCOL)
    if name not in services.catalog.protocols:
        return ASK_PROTOCOL
    context.user_data.setdefault(FORM_KEY, {})["protocol"] = name
    length = services.settings.series_length
    locale = _staff_locale(services, update)
    await query.edit_message_text(services.text(locale, "enroll_ask_number", series_length=length),
                                  parse_mode=ParseMode.HTML, reply_markup=session_number_keyboard(length))
    return ASK_NUMBER


async def form_number(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Form step 3: which session of the series (a button)."""
    services = services_of(context)
    query = update.callback_query
    await query.answer()
    context.user_data.setdefault(FORM_KEY, {})["number"] = int(query.data.removeprefix(ENROLL_NUMBER))
    locale = _staff_locale(services, update)
    await query.edit_message_text(
        services.text(locale, "enroll_ask_when"), parse_mode=ParseMode.HTML,
        reply_markup=when_keyboard(services.text(locale, "enroll_when_now"), services.text(locale, "enroll_when_other")),
    )
    return ASK_WHEN


async def form_when(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Form step 4: "just now" finishes; "another time" asks for it."""
    services = services_of(context)
    query = update.callback_query
    await query.answer()
    if query.data == ENROLL_WHEN_NOW:
        await query.edit_message_reply_markup(reply_markup=None)
        return await _finish_form(update, context, services.clock())
    await query.edit_message_text(services.text(_staff_locale(services, update), "enroll_ask_time"),
                                  parse_mode=ParseMode.HTML)
    return ASK_TIME


async def form_time(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Form step 5: a typed session time; a bad one is asked again."""
    services = services_of(context)
    try:
        session_at = parse_session_time(update.effective_message.text, now=services.clock(),
                                        zone=services.settings.clinic_timezone)
    except EnrollmentError as exc:
        await _reply_error(update, services, _staff_locale(services, update), exc)
        return ASK_TIME
    return await _finish_form(update, context, session_at)


async def _finish_form(update: Update, context: ContextTypes.DEFAULT_TYPE, session_at) -> int:
    form = context.user_data.pop(FORM_KEY, {})
    args = EnrollArgs(name=form.get("name", ""), session_at=session_at, session_number=form.get("number", 1),
                      protocol=form.get("protocol"))
    await finish_enrollment(update, context, args)
    return ConversationHandler.END


async def form_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """``/cancel`` inside the form: drop it."""
    services = services_of(context)
    context.user_data.pop(FORM_KEY, None)
    await update.effective_message.reply_html(services.text(_staff_locale(services, update), "enroll_cancelled"))
    return ConversationHandler.END


async def form_stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A form button pressed after the form ended (or by someone else): say so, change nothing."""
    services = services_of(context)
    await update.callback_query.answer(services.text(_staff_locale(services, update), "enroll_form_stale"))


async def finish_enrollment(update: Update, context: ContextTypes.DEFAULT_TYPE, args: EnrollArgs) -> None:
    """Write the patient and plan, then reply with the invite link and QR code (or what was wrong)."""
    services = services_of(context)
    settings, catalog = services.settings, services.catalog
    locale = _staff_locale(services, update)
    protocol = catalog.protocol(args.protocol or settings.default_protocol)
    zone = args.zone or settings.clinic_timezone
    try:
        enrolled = await services.store.run(
            enroll_patient,
            name=args.name, protocol=protocol, session_at=args.session_at, session_number=args.session_number,
            series_length=args.series_length or settings.series_length, zone=zone,
            # Empty: take the patient's Telegram language when they link.
            locale=args.locale or "",
            quiet_hours=settings.quiet_hours, invite_ttl=settings.invite_ttl,
            enrolled_by=update.effective_user.id, now=services.clock(),
        )
    except EnrollmentError as exc:
        await _reply_error(update, services, locale, exc)
        return
    patient, enrollment = enrolled.patient, enrolled.enrollment
    log.info("staff %s enrolled patient %d (%d steps planned)", update.effective_user.id, patient.id, enrolled.planned)
    link = invite_link(context.bot.username, enrolled.token)
    clinic_zone = settings.clinic_timezone
    caption = services.text(
        locale, "enroll_done",
        name=patient.name, patient_id=patient.id,
        session_number=enrollment.session_number, series_length=enrollment.series_length,
        protocol_title=protocol.title,
        session_time=f"{enrollment.session_at.astimezone(clinic_zone):%a %d %b %Y, %H:%M} ({clinic_zone.key})",
        planned=enrolled.planned,
        stale_note=Raw(services.text(locale, "enroll_stale_note", stale=enrolled.stale) if enrolled.stale else ""),
        expires=f"{enrolled.invite_expires_at.astimezone(clinic_zone):%a %d %b %Y, %H:%M}",
        link=link,
    )
    await update.effective_message.reply_photo(photo=qr_png(link), caption=caption, parse_mode=ParseMode.HTML)


async def _reply_error(update: Update, services: Services, locale: str, exc: EnrollmentError) -> None:
    settings = services.settings
    values = {"series_length": settings.series_length, "protocols": ", ".join(sorted(services.catalog.protocols)),
              "clinic_zone": settings.clinic_timezone.key}
    usage = services.text(locale, "enroll_usage", **values)
    await update.effective_message.reply_html(services.text(locale, exc.key, **exc.values) + "\n\n" + usage)
