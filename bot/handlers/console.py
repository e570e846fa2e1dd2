"""The staff console in the chat: /patients, /patient, /session, /cancel, /invite, /stats, and /console
(the way into the console's pages, bot/web/console/).

Every command is staff-only (checked in bot.access) and works in a private chat or the staff chat.
A patient is named by number (``/patient 12``) or by name (``/patient Anna``); an unknown or
ambiguous name is a Refusal saying so and what to type, answered by the one error handler.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, LinkPreviewOptions, Update, WebAppInfo
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.access import staff_only
from bot.context import AftercareContext
from bot.enroll_args import parse_session_time
from bot.erasure import queue_unname, remember
from bot.handlers.common import edit_or_send
from bot.handlers.enroll import cancel_form
from bot.inbox_views import staffer_of
from bot.invite_card import invite_link, qr_png
from bot.limits import MAX_CAPTION
from bot.menus import console_app_url, show_console_button
from bot.patient_card import (
    comparison_captions,
    consent_lines,
    history_lines,
    notes_lines,
    outcome_lines,
    profile_lines,
    timeline_lines,
)
from bot.services import Services
from bot.topics import queue_settle
from jobs.buttons import (
    NO,
    STAFF_CANCEL,
    STAFF_WITHDRAW,
    patients_keyboard,
    scale_label,
    session_confirm_keyboard,
    staff_confirm_keyboard,
)
from jobs.care.outcomes import OutcomeFigures, outcome_figures
from jobs.inputs import clean_query, echo, parse_int
from jobs.patients.enrollment import FUTURE_TOLERANCE
from jobs.refusal import Refusal
from jobs.staff.console import (
    PATIENT_FILTERS,
    cancel_patient,
    checkin_stats,
    clinic_stats,
    find_patients,
    list_patients,
    patient_timeline,
    patient_to_confirm,
    recent_session,
    record_next_session,
    reinvite,
    reopen_patient,
    view_patient,
    withdraw_patient,
)
from jobs.staff.console_access import create_login
from jobs.staff.inbox import InboxStats, inbox_stats
from jobs.staff.topics import patient_of_topic
from jobs.storage.models import Patient
from jobs.storage.states import OPEN_REMINDER_STATES, PatientStatus, ReminderStatus
from messages.catalog import html_to_plain

log = logging.getLogger(__name__)

PAGE_SIZE = 10


async def _resolve(update: Update, services: Services, query: str, usage_key: str) -> Patient:
    """The one patient ``query`` names; a Refusal saying why not (answered by the one error handler)."""
    query = clean_query(query)
    if not query:
        # Typed in a patient's topic of the forum staff chat, "/patient" alone means that patient.
        message = update.effective_message
        if message.is_topic_message and update.effective_chat.id == services.settings.staff_chat_id:
            patient = await services.store.run(patient_of_topic, chat_id=update.effective_chat.id,
                                               thread_id=message.message_thread_id)
            if patient is not None and patient.status != PatientStatus.DELETED:
                return patient
        raise Refusal(usage_key)
    matches = await services.store.run(find_patients, query=query)
    if not matches:
        raise Refusal("console_unknown_patient", query=echo(query))
    if len(matches) > 1:
        listing = ", ".join(f"#{p.id} {p.name}" for p in matches[:8])
        # The example repeats the command that was typed: "/session 12", not always "/patient 12".
        raise Refusal("console_ambiguous", query=echo(query), matches=listing, example=matches[0].id,
                      command=usage_key.removesuffix("_usage"))
    return matches[0]


async def _patient_from_args(update: Update, context: AftercareContext, usage_key: str) -> Patient:
    """The patient the command's arguments name; a Refusal saying why not."""
    return await _resolve(update, context.services, " ".join(context.args or []), usage_key)


def _split_at(text: str) -> tuple[str, str | None]:
    """"Anna K at=yesterday 17:00" -> ("Anna K", "yesterday 17:00")."""
    head, sep, tail = text.partition("at=")
    return head.strip(), (tail.strip() if sep else None)


async def patients_command(update: Update, context: AftercareContext) -> None:
    """``/patients [active|awaiting_link|paused|stopped|unreachable|due]``: one page, with buttons."""
    services = context.services
    which = (context.args[0].lower() if context.args else PatientStatus.ACTIVE)
    if which == "awaiting":
        which = PatientStatus.AWAITING_LINK
    if which not in PATIENT_FILTERS:
        raise Refusal("patients_usage", filters=", ".join(PATIENT_FILTERS))
    text, keyboard = await _patients_page(services, context.locale, which, 0)
    await update.effective_message.reply_html(text, reply_markup=keyboard)


@staff_only
async def patients_button(update: Update, context: AftercareContext) -> None:
    """A filter or page button of /patients."""
    services = context.services
    query = update.callback_query
    button = context.button
    if button.value not in PATIENT_FILTERS:
        raise Refusal("not_your_button")
    await query.answer()
    text, keyboard = await _patients_page(services, context.locale, button.value, button.number)
    await edit_or_send(query, text, reply_markup=keyboard)


async def _patients_page(services: Services, locale: str, which: str, page: int):
    rows, total = await services.store.run(
        list_patients, which=which, page=page, page_size=PAGE_SIZE, now=services.clock(),
        protocols=services.catalog.protocols, default=services.catalog.protocol())
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


async def patient_command(update: Update, context: AftercareContext) -> None:
    """``/patient <number or name>``: profile and full timeline."""
    services = context.services
    patient = await _patient_from_args(update, context, "patient_usage")
    timeline = await services.store.run(view_patient, patient_id=patient.id, now=services.clock())
    message = update.effective_message
    if timeline is None or message is None:  # erased in between: as for any unknown patient
        raise Refusal("console_unknown_patient", query=str(patient.id))
    locale = context.locale
    lines = (profile_lines(services, locale, patient) + timeline_lines(services, locale, timeline)
             + outcome_lines(services, locale, patient, timeline.outcomes)
             + consent_lines(services, locale, timeline)
             + history_lines(services, locale, timeline)
             + notes_lines(services, locale, timeline))
    text = "\n".join(lines)
    # Telegram's limit is 4096 characters; a long history is cut at the oldest end.
    card = await message.reply_html(text if len(text) < 4000 else "…\n" + text[-3900:].split("\n", 1)[1])
    await remember(services, patient.id, card.chat_id, [card], locale=locale)
    captions = comparison_captions(services, locale, timeline)
    if timeline.comparison is not None and captions is not None:
        # Before and after, side by side: the first and the last photo as one album (only with the
        # patient's consent; the images stay on Telegram and are sent again by their file ids).
        album = [_album_photo(photo.file_id, caption) for photo, caption in zip(timeline.comparison, captions,
                                                                                strict=True)]
        try:
            sent = await message.reply_media_group(album)
        except BadRequest as exc:  # a file id Telegram no longer knows: the card above still says it all
            log.warning("patient %d: the photos to compare were not sent: %s", patient.id, exc.message)
            return
        await remember(services, patient.id, card.chat_id, list(sent), caption=True, locale=locale)


def _album_photo(file_id: str | None, caption: str) -> InputMediaPhoto:
    """One photo of the album with its caption; one over Telegram's 1024 characters goes as plain text, cut."""
    if len(html_to_plain(caption)) <= MAX_CAPTION:
        return InputMediaPhoto(file_id or "", caption=caption, parse_mode=ParseMode.HTML)
    return InputMediaPhoto(file_id or "", caption=html_to_plain(caption)[:MAX_CAPTION - 1] + "…", parse_mode=None)


async def session_command(update: Update, context: AftercareContext) -> None:
    """``/session <patient> [at=<time>]``: record the next session of the series and plan its aftercare.

    A session recorded within hours of the previous one is more likely a repeat: staff confirm it first.
    """
    services = context.services
    query, at = _split_at(update.effective_message.text.partition(" ")[2])
    patient = await _resolve(update, services, query, "session_usage")
    now = services.clock()
    try:
        session_at = parse_session_time(at, now=now, zone=services.settings.clinic_timezone) if at else now
    except Refusal as refusal:
        raise refusal.with_hint("session_usage", query=echo(query)) from refusal
    if session_at > now + FUTURE_TOLERANCE:
        raise Refusal("enroll_error_future", hint="session_usage")
    previous = await services.store.run(recent_session, patient_id=patient.id, session_at=session_at, now=now)
    if previous is not None:
        await _ask_to_confirm_session(update, services, patient, previous, session_at)
        return
    await _record_session(update, services, patient_id=patient.id, session_at=session_at)


async def _ask_to_confirm_session(update: Update, services: Services, patient: Patient, previous, session_at) -> None:
    locale = services.locale_of(update)
    zone = services.settings.clinic_timezone
    keyboard = session_confirm_keyboard(patient.id, previous.id, int(session_at.timestamp()),
                                        yes=services.text(locale, "button_session_record"),
                                        no=services.text(locale, "button_session_skip"))
    await update.effective_message.reply_html(services.text(
        locale, "session_confirm_repeat", name=patient.name, patient_id=patient.id,
        session_number=previous.session_number,
        previous=services.catalog.format_date(locale, previous.session_at.astimezone(zone), with_time=True),
        recorded=services.catalog.format_date(locale, previous.created_at.astimezone(zone), with_time=True),
        next_number=previous.session_number + 1), reply_markup=keyboard)


@staff_only
async def session_confirm_button(update: Update, context: AftercareContext) -> None:
    """Staff confirm (or drop) a session recorded soon after the previous one."""
    services = context.services
    query = update.callback_query
    button = context.button
    patient_id, enrollment_id, stamp = button.numbers
    await query.answer()
    if button.choice == NO:
        await query.edit_message_text(services.text(context.locale, "session_not_recorded"))
        return
    await query.edit_message_reply_markup(None)
    await _record_session(update, services, patient_id=patient_id, after_enrollment=enrollment_id,
                          session_at=datetime.fromtimestamp(stamp, tz=UTC))


async def _record_session(update: Update, services: Services, *, patient_id: int, session_at,
                          after_enrollment: int | None = None) -> None:
    locale = services.locale_of(update)
    timeline = await services.store.run(patient_timeline, patient_id=patient_id)
    last = timeline.enrollments[-1].protocol_name if timeline and timeline.enrollments else None
    try:
        done = await services.store.run(
            record_next_session, patient_id=patient_id, session_at=session_at,
            protocol=services.catalog.protocol_for(last), quiet_hours=services.settings.quiet_hours,
            now=services.clock(), staff_id=update.effective_user.id, after_enrollment=after_enrollment)
    except Refusal as refusal:
        raise refusal.with_hint("session_usage", query=str(patient_id)) from refusal
    enrollment, patient = done.enrollment, done.patient
    log.info("staff %s recorded session %d for patient %d (%s -> %s)", update.effective_user.id,
             enrollment.session_number, patient.id, done.applied.before.value, done.applied.after.value)
    text = services.text(
        locale, "session_done", session_number=enrollment.session_number, series_length=enrollment.series_length,
        name=patient.name, session_date=services.catalog.format_date(
            locale, enrollment.session_at.astimezone(services.settings.clinic_timezone), with_time=True),
        planned=done.upcoming)
    if done.applied.before != done.applied.after:
        text += "\n" + services.text(locale, "session_restarted", name=patient.name,
                                      before=services.text(locale, f"state_{done.applied.before.value}"))
    elif done.applied.after != PatientStatus.ACTIVE:
        text += "\n" + services.text(locale, "session_waits", status=services.text(
            locale, f"state_{done.applied.after.value}"))
    await update.effective_message.reply_html(text)


async def cancel_command(update: Update, context: AftercareContext) -> None:
    """``/cancel <patient>``: stop all of a patient's reminders (``/cancel`` alone leaves an open form)."""
    if not context.args and await cancel_form(update, context):
        return
    patient = await _patient_from_args(update, context, "cancel_usage")
    await _ask_staff(update, context, STAFF_CANCEL, patient)


async def withdraw_command(update: Update, context: AftercareContext) -> None:
    """``/withdraw <patient>``: a mistaken enrollment leaves the lists, erased as by /delete (asked first)."""
    patient = await _patient_from_args(update, context, "withdraw_usage")
    await _ask_staff(update, context, STAFF_WITHDRAW, patient)


async def _ask_staff(update: Update, context: AftercareContext, action: str, patient: Patient) -> None:
    """What cannot be undone by a button is asked first, naming the patient and what it does."""
    keyboard = staff_confirm_keyboard(action, patient.id, yes=context.text(f"button_{action}_yes"),
                                      no=context.text("button_staff_no"))
    await update.effective_message.reply_html(
        context.text(f"{action}_question", name=patient.name, patient_id=patient.id), reply_markup=keyboard)


@staff_only
async def staff_confirm_button(update: Update, context: AftercareContext) -> None:
    """Staff answer "cancel / withdraw this patient?": yes does it, no changes nothing."""
    services = context.services
    query, button = update.callback_query, context.button
    patient = await services.store.run(patient_to_confirm, patient_id=button.number)
    await query.answer()
    if button.choice == NO:
        await query.edit_message_text(context.text("staff_confirm_kept", name=patient.name))
        return
    act = cancel_patient if button.value == STAFF_CANCEL else withdraw_patient
    count = await services.store.run(act, patient_id=patient.id, now=services.clock(),
                                     staff_id=update.effective_user.id)
    log.info("staff %s %s patient %d (%d reminders)", update.effective_user.id,
             "cancelled" if button.value == STAFF_CANCEL else "withdrew", patient.id, count)
    done = "cancel_done" if button.value == STAFF_CANCEL else "withdraw_done"
    await query.edit_message_text(context.text(done, count=count, name=patient.name, patient_id=patient.id))
    if button.value != STAFF_CANCEL:
        # Erased: the staff chats' messages that name them, and their topic, go to the staff outbox now.
        await queue_unname(services)
        await queue_settle(services)


async def reopen_command(update: Update, context: AftercareContext) -> None:
    """``/reopen <patient>``: undo a patient's "I'm not continuing"; the booking reminders still valid return."""
    services = context.services
    patient = await _patient_from_args(update, context, "reopen_usage")
    applied = await services.store.run(reopen_patient, patient_id=patient.id, staff_id=update.effective_user.id,
                                       quiet_hours=services.settings.quiet_hours, now=services.clock())
    log.info("staff %s reopened patient %d (%d reminders back)", update.effective_user.id, patient.id,
             applied.revived)
    await context.reply("reopen_done", name=patient.name, count=applied.revived)


async def invite_command(update: Update, context: AftercareContext) -> None:
    """``/invite <patient>``: a fresh invite link and QR code; older links stop working."""
    services = context.services
    patient = await _patient_from_args(update, context, "invite_usage")
    now = services.clock()
    token = await services.store.run(reinvite, patient_id=patient.id, now=now, ttl=services.settings.invite_ttl)
    link = invite_link(context.bot.username, token)
    locale = context.locale
    expires = services.catalog.format_date(locale, (now + services.settings.invite_ttl)
                                           .astimezone(services.settings.clinic_timezone), with_time=True)
    log.info("staff %s made a new invite for patient %d", update.effective_user.id, patient.id)
    caption = services.text(locale, "invite_done", name=patient.name, patient_id=patient.id, expires=expires,
                            link=link)
    if patient.status not in (PatientStatus.ACTIVE, PatientStatus.AWAITING_LINK, PatientStatus.PAUSED):
        # Opening the link restarts the plan: say so, so staff know what the patient will get.
        caption += "\n" + services.text(locale, "invite_restarts", status=services.text(
            locale, f"state_{patient.status}"))
    sent = await update.effective_message.reply_photo(photo=qr_png(link), caption=caption)
    await remember(services, patient.id, sent.chat_id, [sent], caption=True, locale=locale)


async def stats_command(update: Update, context: AftercareContext) -> None:
    """``/stats [days]``: what happened over the last days (30 by default)."""
    services = context.services
    locale = context.locale
    days = parse_int(context.args[0] if context.args else "30", low=1, high=3650, key="stats_usage")
    now = services.clock()
    since = now - timedelta(days=days)
    stats = await services.store.run(clinic_stats, since=since, now=now)
    checkins = await services.store.run(checkin_stats, since=since, now=now)
    rate = services.catalog.format_percent(locale, stats.booked / stats.rebook_offered) if stats.rebook_offered else "-"
    summary = services.text(locale, "stats_text", period=services.text(locale, "stats_period", days=days), **as_written(
        services, locale, enrolled=stats.enrolled, linked=stats.linked,
        sent=stats.messages[ReminderStatus.SENT], skipped=stats.messages[ReminderStatus.SKIPPED],
        failed=stats.messages[ReminderStatus.FAILED],
        pending=sum(stats.messages[state] for state in OPEN_REMINDER_STATES), fine=stats.answers["fine"],
        red=stats.answers["red"], worried=stats.answers["worried"], escalations=stats.escalations,
        booked=stats.booked, offered=stats.rebook_offered, rate=rate))
    inbox = await services.store.run(inbox_stats, since=since, now=now)
    outcomes = await services.store.run(outcome_figures, since=since)
    await update.effective_message.reply_html(
        summary + "\n" + services.text(locale, "stats_checkins", **checkin_values(services, locale, checkins))
        + "\n" + inbox_stats_text(services, locale, inbox) + "\n" + outcome_stats_text(services, locale, outcomes))


def as_written(services, locale: str, /, **values: object) -> dict[str, object]:
    """``values`` with each count written as ``locale`` writes numbers (1,234 · 1 234 · 1.234)."""
    return {name: services.catalog.format_number(locale, value) if type(value) is int else value
            for name, value in values.items()}


def checkin_values(services, locale: str, stats) -> dict[str, object]:
    """/stats' check-in line: the share answered, the median wait, photos and their reviews, silences."""
    share = services.catalog.format_percent(locale, stats.answered / stats.asked) if stats.asked else "-"
    return as_written(services, locale, answered=stats.answered, asked=stats.asked, share=share,
                      median=services.duration(locale, stats.median_answer), photos=stats.photos,
                      reviewed=stats.reviewed, ok=stats.reviews["ok"], call=stats.reviews["call"],
                      again=stats.reviews["again"], nudged=stats.nudged, silent=stats.silent)


def outcome_stats_text(services, locale: str, figures: OutcomeFigures) -> str:
    """The outcome lines of /stats: share answered, answers by protocol step and by session, review requests.

    "Opened" is counted only through the HTTP side's redirect (PUBLIC_URL with HTTP_PORT); without it
    the figure is "-", not a zero that would read as "nobody opened it".
    """
    share = f"{figures.share_answered}%" if figures.share_answered is not None else "-"
    opened = figures.reviews_opened if services.settings.review_redirect else "-"
    lines = [services.text(locale, "stats_outcomes", **as_written(
        services, locale, answered=figures.answered, asked=figures.asked, share=share, worse=figures.worse,
        sent=figures.reviews_sent, opened=opened))]
    catalog = services.catalog

    def spread(protocol_name: str, step_key: str | None, counts) -> str:
        protocol = catalog.protocol_for(protocol_name)
        scale = protocol.step_scale(step_key) if step_key else protocol.scale(None)
        order = {answer: index for index, answer in enumerate(scale.answers)}
        return " · ".join(f"{scale_label(scale, answer, catalog=catalog, locale=locale)} {count}"
                          for answer, count in sorted(counts.items(), key=lambda item: order.get(item[0], 99)))

    for (protocol_name, step_key), counts in sorted(figures.by_protocol.items()):
        protocol = catalog.protocols.get(protocol_name)
        lines.append(services.text(locale, "stats_outcome_protocol",
                                   protocol=protocol.title if protocol else protocol_name,
                                   step=catalog.step_title(locale, step_key),
                                   answers=spread(protocol_name, step_key, counts)))
    for sessions, counts in sorted(figures.by_sessions.items()):
        # Across protocols the default scale names the answers; a protocol's own keys show as they are.
        lines.append(services.text(locale, "stats_outcome_sessions", sessions=sessions,
                                   answers=spread(services.settings.default_protocol, None, counts)))
    return "\n".join(lines)


def inbox_stats_text(services, locale: str, stats: InboxStats) -> str:
    """The inbox lines of /stats: items opened, taken, resolved; how fast worried patients were taken."""
    return services.text(locale, "stats_inbox", **as_written(
        services, locale, opened=stats.opened, taken=stats.taken, resolved=stats.resolved,
        worried=stats.worried_taken, median=services.duration(locale, stats.median_to_take),
        p90=services.duration(locale, stats.p90_to_take), raised=stats.raised_again))


async def console_command(update: Update, context: AftercareContext) -> None:
    """``/console`` (private chats): a one-time sign-in link for a browser; with HTTPS, the Mini App too."""
    services = context.services
    settings = services.settings
    message = update.effective_message
    if message is None:
        return
    if settings.http_port is None:
        await context.reply("console_no_http")
        return
    staffer = staffer_of(update)
    token = await services.store.run(create_login, user_id=staffer.user_id, name=staffer.name, now=services.clock())
    log.info("console: sign-in link made for staff %s", staffer.user_id)
    link = f"{settings.console_base}/console/login/{token}"
    # No preview: a preview fetched by Telegram's servers would open the one-time link before staff do.
    await message.reply_html(context.text(
        "console_link", link=link, session_length=services.catalog.format_span(
            context.locale, timedelta(hours=settings.console_session_hours), "hour")),
                             link_preview_options=LinkPreviewOptions(is_disabled=True))
    if settings.console_over_https:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(context.text("console_button_open"),
                                                               web_app=WebAppInfo(console_app_url(settings)))]])
        await context.reply("console_link_app", reply_markup=keyboard)
        await show_console_button(context.bot, services, staffer.user_id)
