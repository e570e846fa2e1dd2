"""``/enroll``: staff enroll a patient in one line, or step by step with buttons.

``/enroll Anna K at=yesterday 17:00 session=2/4`` enrolls at once; ``/enroll`` alone opens a
form (name, treatment, session number, time) whose state lives in the database (jobs.staff.forms), so
it survives a restart and works across several bot instances. Both end in
:func:`finish_enrollment`, which writes the plan and replies with the invite link and QR code.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, Update
from telegram.error import TelegramError

from bot.access import staff_only
from bot.context import AftercareContext
from bot.enroll_args import EnrollArgs, parse_enroll_args, parse_session_time
from bot.erasure import remember
from bot.handlers.common import edit_or_send
from bot.invite_card import invite_link, qr_png
from bot.services import Services
from bot.timezones import zone_for_city
from jobs.buttons import (
    ENROLL_LANGUAGE,
    ENROLL_LANGUAGE_AUTO,
    ENROLL_LENGTH,
    ENROLL_NUMBER,
    ENROLL_OPTION,
    ENROLL_PROTOCOL,
    ENROLL_WHEN,
    ENROLL_WHEN_NOW,
    ENROLL_WHEN_OTHER,
    ENROLL_ZONE,
    ENROLL_ZONE_CLINIC,
    ENROLL_ZONE_OTHER,
    Button,
    enroll_language_keyboard,
    enroll_zone_keyboard,
    protocol_keyboard,
    series_length_keyboard,
    session_number_keyboard,
    when_keyboard,
)
from jobs.patients.enrollment import MAX_SERIES_LENGTH, enroll_patient, recent_namesake
from jobs.patients.enrollment_request import (
    EnrollmentRules,
    parse_called,
    parse_name,
    read_enrollment,
    resolve_defaults,
)
from jobs.refusal import Refusal
from jobs.staff import forms
from jobs.staff.forms import advance_form, close_form, current_form, note_form_message, open_form
from jobs.storage.models import called_name
from messages.catalog import Raw

log = logging.getLogger(__name__)

# The options the "when" screen offers to change, and the step each opens.
FORM_OPTIONS = {"length": forms.ASK_LENGTH, "language": forms.ASK_LANGUAGE, "zone": forms.ASK_ZONE,
                "called": forms.ASK_CALLED}
# "A course is usually 3 to 6 sessions": the form offers numbers up to this (or the clinic's default).
USUAL_LONGEST_SERIES = 6


def _staff_locale(services: Services, update: Update) -> str:
    return services.staff_screen_locale(update)


async def enroll_command(update: Update, context: AftercareContext) -> None:
    """``/enroll …`` with a name enrolls now; ``/enroll`` alone opens the form."""
    services = context.services
    locale = _staff_locale(services, update)
    text = update.effective_message.text.partition(" ")[2]
    if not text.strip():
        await services.store.run(open_form, user_id=update.effective_user.id, now=services.clock())
        await update.effective_message.reply_html(services.text(locale, "enroll_ask_name"))
        return
    catalog = services.catalog
    try:
        args = parse_enroll_args(text, now=services.clock(), clinic_zone=services.settings.clinic_timezone,
                                 protocols=sorted(catalog.protocols), locales=catalog.locales,
                                 phone_region=services.settings.phone_region,
                                 series_length=services.settings.series_length)
    except Refusal as exc:
        raise exc.with_hint("enroll_example") from exc
    await finish_enrollment(update, context, args)


def _form_screen(services: Services, locale: str, form) -> tuple[str, InlineKeyboardMarkup | None]:
    """The form's message for its current step: what was chosen so far, then the question and its buttons."""
    settings, catalog = services.settings, services.catalog
    step = form.step
    keyboard: InlineKeyboardMarkup | None = None
    if step == forms.ASK_PROTOCOL:
        question = services.text(locale, "enroll_ask_protocol")
        keyboard = protocol_keyboard([(p.name, p.title) for p in catalog.protocols.values()])
    elif step == forms.ASK_NUMBER:
        question = services.text(locale, "enroll_ask_number", series_length=settings.series_length)
        keyboard = session_number_keyboard(_most_offered(settings.series_length))
    elif step == forms.ASK_LENGTH:
        question = services.text(locale, "enroll_ask_length")
        low = form.session_number or 1
        keyboard = series_length_keyboard(range(low, max(low, _most_offered(settings.series_length)) + 1))
    elif step == forms.ASK_LANGUAGE:
        question = services.text(locale, "enroll_ask_language")
        keyboard = enroll_language_keyboard(services.text(locale, "enroll_language_auto"),
                                            [(code, catalog.bot(code, "language_name")) for code in catalog.locales])
    elif step == forms.ASK_ZONE:
        question = services.text(locale, "enroll_ask_zone")
        keyboard = enroll_zone_keyboard(services.text(locale, "enroll_zone_clinic", zone=settings.clinic_timezone.key),
                                        services.text(locale, "enroll_zone_other"))
    elif step == forms.ASK_ZONE_NAME:
        question = services.text(locale, "enroll_ask_zone_name")
    elif step == forms.ASK_CALLED:
        question = services.text(locale, "enroll_ask_called")
    elif step == forms.ASK_WHEN:
        question = services.text(locale, "enroll_ask_when")
        options = [(option, services.text(locale, f"enroll_option_{option}")) for option in FORM_OPTIONS]
        keyboard = when_keyboard(services.text(locale, "enroll_when_now"), services.text(locale, "enroll_when_other"),
                                 options)
    else:  # forms.ASK_TIME
        question = services.text(locale, "enroll_ask_time")
    return f"{_form_summary(services, locale, form)}\n\n{question}", keyboard


def _form_summary(services: Services, locale: str, form) -> str:
    """What the form holds so far, with the defaults it will use for what was not asked."""
    settings, catalog = services.settings, services.catalog
    lines = [services.text(locale, "enroll_form_title", name=form.name or "")]
    if form.protocol:
        protocol = catalog.protocols.get(form.protocol)
        title = protocol.title if protocol else form.protocol
        lines.append(services.text(locale, "enroll_form_protocol", protocol=title))
    if form.session_number:
        lines.append(services.text(locale, "enroll_form_session", session_number=form.session_number,
                                   series_length=form.series_length or settings.series_length))
        language = (catalog.bot(form.locale, "language_name") if form.locale
                    else services.text(locale, "enroll_language_auto"))
        lines.append(services.text(locale, "enroll_form_language", language=language))
        lines.append(services.text(locale, "enroll_form_zone", zone=form.timezone or settings.clinic_timezone.key))
        lines.append(services.text(locale, "enroll_form_called", called=called_name(form.name or "", form.called)))
    return "\n".join(lines)


def _most_offered(default_length: int) -> int:
    """How many session numbers to offer: the clinic's default series, and at least the usual 6."""
    return max(default_length, USUAL_LONGEST_SERIES)


async def form_text(update: Update, context: AftercareContext) -> bool:
    """A staff member's text answering their open form (name, time zone or time); False if none is open."""
    services = context.services
    user_id, now = update.effective_user.id, services.clock()
    form = await services.store.run(current_form, user_id=user_id, now=now)
    if form is None:
        return False
    locale = _staff_locale(services, update)
    message = update.effective_message
    if form.step not in (forms.ASK_NAME, forms.ASK_TIME, forms.ASK_ZONE_NAME, forms.ASK_CALLED):
        await message.reply_html(services.text(locale, "enroll_use_buttons"))
        return True
    text = (message.text or "").strip()
    if form.step == forms.ASK_TIME:
        session_at = parse_session_time(text, now=now, zone=services.settings.clinic_timezone)
        await _finish_form(update, context, session_at)
        return True
    if form.step == forms.ASK_NAME:
        # The name is checked as it is typed (control characters, invisible, too long), not after every button.
        form = await services.store.run(advance_form, user_id=user_id, expect=forms.ASK_NAME, now=now,
                                        name=parse_name(text))
    elif form.step == forms.ASK_CALLED:
        form = await services.store.run(advance_form, user_id=user_id, expect=forms.ASK_CALLED, now=now,
                                        called=parse_called(text), step=forms.ASK_WHEN)
    else:
        zone = zone_for_city(text)
        if zone is None:
            raise Refusal("enroll_error_bad_zone", value=text)
        form = await services.store.run(advance_form, user_id=user_id, expect=forms.ASK_ZONE_NAME, now=now,
                                        timezone=zone.key, step=forms.ASK_WHEN)
    if form is not None:
        # A typed answer cannot edit the form's message: the next screen is a new one, summary included.
        screen, keyboard = _form_screen(services, locale, form)
        sent = await message.reply_html(screen, reply_markup=keyboard)
        await services.store.run(note_form_message, user_id=user_id, message_id=sent.message_id)
    return True


def _button_answer(services: Services, form, button: Button) -> dict | None:
    """The answers a form button (field and answer) gives at the form's current step, or None if it does not fit."""
    settings, catalog = services.settings, services.catalog
    step, field, value = form.step, button.value, button.choice
    # Digits only in ASCII and short: "²" and 200-digit forgeries are not numbers here.
    small_number = value.isascii() and value.isdigit() and len(value) <= 3
    if step == forms.ASK_PROTOCOL and field == ENROLL_PROTOCOL and value in catalog.protocols:
        return {"protocol": value}
    if step == forms.ASK_NUMBER and field == ENROLL_NUMBER and small_number \
            and 1 <= int(value) <= _most_offered(settings.series_length):
        number = int(value)
        # Session 5 with a default series of 3: the series is at least 5 long (changeable on the next screen).
        return {"session_number": number, "series_length": max(number, settings.series_length)}
    if step == forms.ASK_WHEN and field == ENROLL_OPTION and value in FORM_OPTIONS:
        return {"step": FORM_OPTIONS[value]}
    if step == forms.ASK_WHEN and field == ENROLL_WHEN and value == ENROLL_WHEN_OTHER:
        return {"step": forms.ASK_TIME}
    if step == forms.ASK_LENGTH and field == ENROLL_LENGTH and small_number \
            and (form.session_number or 1) <= int(value) <= MAX_SERIES_LENGTH:
        return {"series_length": int(value), "step": forms.ASK_WHEN}
    if step == forms.ASK_LANGUAGE and field == ENROLL_LANGUAGE \
            and (value == ENROLL_LANGUAGE_AUTO or value in catalog.locales):
        return {"locale": "" if value == ENROLL_LANGUAGE_AUTO else value, "step": forms.ASK_WHEN}
    if step == forms.ASK_ZONE and field == ENROLL_ZONE and value == ENROLL_ZONE_CLINIC:
        return {"timezone": settings.clinic_timezone.key, "step": forms.ASK_WHEN}
    if step == forms.ASK_ZONE and field == ENROLL_ZONE and value == ENROLL_ZONE_OTHER:
        return {"step": forms.ASK_ZONE_NAME}
    return None


@staff_only(private=True)
async def form_button(update: Update, context: AftercareContext) -> None:
    """The form's buttons: treatment, session number, the options, "just now" / "another time"."""
    services = context.services
    query = update.callback_query
    user_id, now, locale = update.effective_user.id, services.clock(), _staff_locale(services, update)
    form = await services.store.run(current_form, user_id=user_id, now=now)
    button = context.button
    just_now = button.value == ENROLL_WHEN and button.choice == ENROLL_WHEN_NOW
    if form is not None and form.step == forms.ASK_WHEN and just_now:
        await query.answer()
        await edit_or_send(query, _form_summary(services, locale, form))
        await _finish_form(update, context, now)
        return
    answers = _button_answer(services, form, button) if form is not None else None
    if answers is not None:
        form = await services.store.run(advance_form, user_id=user_id, expect=form.step, now=now, **answers)
    if answers is None or form is None:
        # No open form at that step (finished, cancelled, expired, or forged data): say so, change nothing.
        await query.answer(services.text(locale, "enroll_form_stale"))
        return
    await query.answer()
    screen, keyboard = _form_screen(services, locale, form)
    # A press that leaves the screen as it was (the same protocol again) is not an error.
    await edit_or_send(query, screen, reply_markup=keyboard)
    if query.message is not None:
        await services.store.run(note_form_message, user_id=user_id, message_id=query.message.message_id)


async def _finish_form(update: Update, context: AftercareContext, session_at) -> None:
    services = context.services
    form = await services.store.run(close_form, user_id=update.effective_user.id)
    if form is None:
        return
    if form.message_id is not None and update.callback_query is None:
        # A typed time ends the form: its message says what was chosen, not "Send the session time…".
        try:
            await context.bot.edit_message_text(_form_summary(services, _staff_locale(services, update), form),
                                                chat_id=update.effective_chat.id, message_id=form.message_id)
        except TelegramError as exc:
            log.info("the form's message could not be updated: %s", exc)
    # The form's answers are read as /enroll's line is (buttons only offer good values; a form older than
    # a settings change may not hold any more).
    fields = {"name": form.name or "", "session_at": session_at, "session": form.session_number,
              "series": form.series_length, "protocol": form.protocol, "tz": form.timezone, "lang": form.locale,
              "called": form.called}
    rules = EnrollmentRules.of(settings=services.settings, catalog=services.catalog, now=services.clock())
    try:
        args = read_enrollment(fields, rules=rules)
    except Refusal as exc:
        raise exc.with_hint("enroll_example") from exc
    await finish_enrollment(update, context, args)


async def cancel_form(update: Update, context: AftercareContext) -> bool:
    """``/cancel`` with an open form drops it; False if there was none."""
    services = context.services
    form = await services.store.run(close_form, user_id=update.effective_user.id)
    if form is None:
        return False
    await update.effective_message.reply_html(services.text(_staff_locale(services, update), "enroll_cancelled"))
    return True


async def finish_enrollment(update: Update, context: AftercareContext, args: EnrollArgs) -> None:
    """Write the patient and plan, then reply with the invite link and QR code (or what was wrong)."""
    services = context.services
    settings, catalog = services.settings, services.catalog
    locale = _staff_locale(services, update)
    try:
        wanted = resolve_defaults(args, rules=EnrollmentRules.of(settings=settings, catalog=catalog,
                                                                 now=services.clock()))
        enrolled = await services.store.run(
            enroll_patient,
            name=args.name, protocol=wanted.protocol, session_at=args.session_at, session_number=args.session_number,
            series_length=wanted.series_length, zone=wanted.zone, locale=wanted.locale,
            quiet_hours=settings.quiet_hours, invite_ttl=settings.invite_ttl,
            enrolled_by=update.effective_user.id, now=services.clock(), phone=args.phone, called=wanted.called,
        )
    except Refusal as exc:
        raise exc.with_hint("enroll_example") from exc
    protocol, zone = wanted.protocol, wanted.zone
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
    if enrolled.planned and enrolled.stale >= enrolled.planned:
        # The invite still works (staff may mean it), but an empty plan must not look like a normal one.
        caption += services.text(locale, "enroll_nothing_left", patient_id=patient.id)
    if twin is not None:
        ago = services.catalog.format_relative(locale, twin.created_at - services.clock())
        caption += services.text(locale, "enroll_duplicate_note", ago=ago, patient_id=twin.id, new_id=patient.id)
    sent = await update.effective_message.reply_photo(photo=qr_png(link), caption=caption)
    await remember(services, patient.id, sent.chat_id, [sent], caption=True, locale=locale)
