"""``/enroll``: staff enroll a patient in one line, or step by step with buttons.

``/enroll Anna K at=yesterday 17:00 session=2/4`` enrolls at once; ``/enroll`` alone opens a
form (name, treatment, session number, time) whose state lives in the database (jobs.forms), so
it survives a restart and works across several bot instances. Both end in
:func:`finish_enrollment`, which writes the plan and replies with the invite link and QR code.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.access import staff_only
from bot.callbacks import ENROLL_NUMBER_KIND, ENROLL_PROTOCOL_KIND, ENROLL_WHEN, parse_callback
from bot.enroll_args import EnrollArgs, parse_enroll_args, parse_session_time
from bot.handlers.common import edit_or_send
from bot.invite_card import invite_link, qr_png
from bot.keyboards import protocol_keyboard, session_number_keyboard, when_keyboard
from bot.services import Services, services_of
from jobs import forms
from jobs.enrollment import enroll_patient, recent_namesake
from jobs.forms import advance_form, close_form, current_form, open_form
from jobs.inputs import InputRefused, clean_name
from messages.catalog import Raw

log = logging.getLogger(__name__)


def _staff_locale(services: Services, update: Update) -> str:
    user = update.effective_user
    return services.catalog.resolve_locale(user.language_code if user else None)


@staff_only(private=True)
async def enroll_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/enroll …`` with a name enrolls now; ``/enroll`` alone opens the form."""
    services = services_of(context)
    locale = _staff_locale(services, update)
    text = update.effective_message.text.partition(" ")[2]
    if not text.strip():
        await services.store.run(open_form, user_id=update.effective_user.id, now=services.clock())
        await update.effective_message.reply_html(services.text(locale, "enroll_ask_name"))
        return
    catalog = services.catalog
    try:
        args = parse_enroll_args(text, now=services.clock(), clinic_zone=services.settings.clinic_timezone,
                                 protocols=sorted(catalog.protocols), locales=catalog.locales)
    except InputRefused as exc:
        await _reply_error(update, services, locale, exc)
        return
    await finish_enrollment(update, context, args)


async def form_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A staff member's text answering their open form (the name, or a typed time); False if none is open."""
    services = services_of(context)
    user_id, now = update.effective_user.id, services.clock()
    form = await services.store.run(current_form, user_id=user_id, now=now)
    if form is None:
        return False
    locale = _staff_locale(services, update)
    if form.step not in (forms.ASK_NAME, forms.ASK_TIME):
        await update.effective_message.reply_html(services.text(locale, "enroll_use_buttons"))
        return True
    text = update.effective_message.text or ""
    if form.step == forms.ASK_NAME:
        try:  # checked as it is typed, not after every button
            name = clean_name(text)
        except InputRefused as exc:
            await _reply_error(update, services, locale, exc, usage=False)
            return True
        await services.store.run(advance_form, user_id=user_id, expect=forms.ASK_NAME, now=now, name=name)
        protocols = [(p.name, p.title) for p in services.catalog.protocols.values()]
        await update.effective_message.reply_html(services.text(locale, "enroll_ask_protocol"),
                                                  reply_markup=protocol_keyboard(protocols))
        return True
    try:
        session_at = parse_session_time(text, now=now, zone=services.settings.clinic_timezone)
    except InputRefused as exc:
        await _reply_error(update, services, locale, exc, usage=False)
        return True
    await _finish_form(update, context, session_at)
    return True


@staff_only(private=True)
async def form_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The form's buttons: treatment, session number, "just now" / "another time"."""
    services = services_of(context)
    query = update.callback_query
    user_id, now, locale = update.effective_user.id, services.clock(), _staff_locale(services, update)
    button = parse_callback(query.data)
    kind = button.kind if button is not None else None
    if kind == ENROLL_PROTOCOL_KIND and button.value in services.catalog.protocols:
        step = await services.store.run(advance_form, user_id=user_id, expect=forms.ASK_PROTOCOL, now=now,
                                        protocol=button.value)
        if step is not None:
            await query.answer()
            length = services.settings.series_length
            await edit_or_send(query, services.text(locale, "enroll_ask_number", series_length=length),
                               reply_markup=session_number_keyboard(length))
            return
    elif kind == ENROLL_NUMBER_KIND:
        step = None
        if button.number <= services.settings.series_length:
            step = await services.store.run(advance_form, user_id=user_id, expect=forms.ASK_NUMBER, now=now,
                                            session_number=button.number)
        if step is not None:
            await query.answer()
            await edit_or_send(
                query, services.text(locale, "enroll_ask_when"),
                reply_markup=when_keyboard(services.text(locale, "enroll_when_now"),
                                           services.text(locale, "enroll_when_other")))
            return
    elif kind == ENROLL_WHEN:
        form = await services.store.run(current_form, user_id=user_id, now=now)
        if form is not None and form.step == forms.ASK_WHEN:
            await query.answer()
            if button.value == "now":
                with contextlib.suppress(BadRequest):  # a photo, or already without buttons: nothing to remove
                    await query.edit_message_reply_markup(reply_markup=None)
                await _finish_form(update, context, now)
            else:
                await services.store.run(advance_form, user_id=user_id, expect=forms.ASK_WHEN, now=now,
                                         step=forms.ASK_TIME)
                await edit_or_send(query, services.text(locale, "enroll_ask_time"))
            return
    # No open form at that step (finished, cancelled, expired, or forged data): say so, change nothing.
    await query.answer(services.text(locale, "enroll_form_stale"))


async def _finish_form(update: Update, context: ContextTypes.DEFAULT_TYPE, session_at) -> None:
    services = services_of(context)
    form = await services.store.run(close_form, user_id=update.effective_user.id)
    if form is None:
        return
    args = EnrollArgs(name=form.name or "", session_at=session_at, session_number=form.session_number or 1,
                      protocol=form.protocol)
    await finish_enrollment(update, context, args)


async def cancel_form(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """``/cancel`` with an open form drops it; False if there was none."""
    services = services_of(context)
    form = await services.store.run(close_form, user_id=update.effective_user.id)
    if form is None:
        return False
    await update.effective_message.reply_html(services.text(_staff_locale(services, update), "enroll_cancelled"))
    return True


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
            series_length=settings.series_length if args.series_length is None else args.series_length, zone=zone,
            # Empty: take the patient's Telegram language when they link.
            locale=args.locale or "",
            quiet_hours=settings.quiet_hours, invite_ttl=settings.invite_ttl,
            enrolled_by=update.effective_user.id, now=services.clock(),
        )
    except InputRefused as exc:
        await _reply_error(update, services, locale, exc)
        return
    patient, enrollment = enrolled.patient, enrolled.enrollment
    twin = await services.store.run(recent_namesake, name=patient.name, patient_id=patient.id, now=services.clock())
    log.info("staff %s enrolled patient %d (%d steps planned)", update.effective_user.id, patient.id, enrolled.planned)
    link = invite_link(context.bot.username, enrolled.token)
    clinic_zone = settings.clinic_timezone

    def when(moment):  # in the clinic's zone, with day and month names in the staff member's language
        return services.catalog.format_date(locale, moment.astimezone(clinic_zone), with_time=True, with_year=True)

    caption = services.text(
        locale, "enroll_done",
        name=patient.name, patient_id=patient.id,
        session_number=enrollment.session_number, series_length=enrollment.series_length,
        protocol_title=protocol.title,
        session_time=f"{when(enrollment.session_at)} ({clinic_zone.key})",
        planned=enrolled.planned,
        stale_note=Raw(services.text(locale, "enroll_stale_note", stale=enrolled.stale) if enrolled.stale else ""),
        expires=when(enrolled.invite_expires_at),
        link=link,
    )
    if zone != settings.clinic_timezone:
        caption += services.text(locale, "enroll_patient_zone", zone=zone.key)
    if twin is not None:
        minutes = int((services.clock() - twin.created_at).total_seconds() // 60)
        caption += services.text(locale, "enroll_duplicate_note", minutes=minutes, patient_id=twin.id)
    await update.effective_message.reply_photo(photo=qr_png(link), caption=caption, parse_mode=ParseMode.HTML)


async def _reply_error(update: Update, services: Services, locale: str, exc: InputRefused, *,
                       usage: bool = True) -> None:
    settings = services.settings
    text = services.text(locale, exc.key, **exc.values)
    if usage:
        values = {"series_length": settings.series_length, "protocols": ", ".join(sorted(services.catalog.protocols)),
                  "clinic_zone": settings.clinic_timezone.key}
        text += "\n\n" + services.text(locale, "enroll_usage", **values)
    await update.effective_message.reply_html(text)
