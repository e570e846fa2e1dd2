"""The console's routes: today, patients, a patient, enroll, stats, protocols; sign-in and sign-out.

Every page and action calls the functions the chat commands call (jobs/staff/console.py,
jobs/staff/inbox.py, jobs/patients/enrollment.py through the one reader,
jobs/patients/enrollment_request.py), and says no with the same words: a :class:`Refusal`'s text in
the staff language. Only staff get in (:func:`staff_page`); every POST carries the CSRF token.
Actions answer with a redirect to the page they belong to (``?notice=`` names what was done), so a
reload never repeats one.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
from datetime import datetime, timedelta
from functools import wraps
from pathlib import Path
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup
from telegram.error import TelegramError

from bot import patient_card
from bot.enroll_args import parse_session_time
from bot.handlers.console import as_written, checkin_values, inbox_stats_text, outcome_stats_text
from bot.handlers.relay import send_staff_words
from bot.invite_card import invite_link, qr_png
from bot.patient_card import history_lines, notes_lines, outcome_lines, profile_lines, timeline_lines
from bot.services import Services
from bot.web.common import BOT, SERVICES, write, write_in
from bot.web.console import charts
from bot.web.console.identity import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    IDENTITY,
    Identity,
    csrf_ok,
    csrf_token,
    identify,
)
from bot.web.console.outcome_charts import outcome_charts, outcome_weeks
from bot.web.console.stats_cache import STATS_CACHE, StatsCache, keep_counted
from jobs.care.outcomes import OutcomeFigures
from jobs.care.planning import plan_reminders
from jobs.dispatch import ClaimedReminder, render_reminder
from jobs.inputs import clean_query, clean_text, parse_row_id
from jobs.ops import audit
from jobs.patients.enrollment import FUTURE_TOLERANCE, recent_namesake
from jobs.patients.enrollment_request import EnrollmentRules, enroll_resolved, read_enrollment, resolve_defaults
from jobs.refusal import Refusal
from jobs.staff.console import (
    PATIENT_FILTERS,
    cancel_patient,
    checkin_stats_by_period,
    clinic_stats_by_period,
    enrolled_between,
    find_patients,
    list_patients,
    patient_timeline,
    recent_session,
    record_next_session,
    reinvite,
    view_patient,
)
from jobs.staff.console_access import create_login, end_session, redeem_login
from jobs.staff.inbox import InboxStatus, inbox_stats_by_period, open_items, resolve_item, take_item
from jobs.staff.relay import staff_replied_in_console
from jobs.storage.models import Patient, Photo
from jobs.storage.states import OPEN_REMINDER_STATES, PatientStatus

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PAGE_SIZE = 20
INBOX_LIMIT = 50
REPLY_LIMIT = 3500
STATS_WEEKS = 8
# What an action may say it did (?notice=...): the text keys, nothing typed by a visitor.
NOTICES = ("inbox_took", "inbox_resolved", "console_web_replied", "console_web_session_done", "console_web_cancelled")


# --------------------------------------------------------------------------- plumbing


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


def _locale(request: web.Request) -> str:
    """The signed-in staff member's language (the Mini App's user's), else STAFF_LANGUAGE."""
    identity = request.get(IDENTITY)
    return identity.locale if identity is not None else _services(request).staff_locale


def _text(request: web.Request, key: str, /, **values: object) -> Markup:
    """A ``[bot]`` text as safe HTML: the catalog escapes every value it fills in."""
    return Markup(_services(request).text(_locale(request), key, **values))


def _render(request: web.Request, template: str, context: dict, *, status: int = 200) -> web.Response:
    identity: Identity | None = request.get(IDENTITY)
    base = {"t": lambda key, **values: _text(request, key, **values), "identity": identity,
            "csrf": csrf_token(request, identity) if identity else "", "csrf_field": CSRF_FIELD,
            "path": request.path, "clinic": _services(request).clinic_name(_locale(request)),
            "admin": identity is not None and _services(request).settings.is_admin(identity.user_id),
            "notice": None, "field": None, "up": _up(request.path)}
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)


def _up(path: str) -> str | None:
    """The page "back" leads to (Telegram's BackButton): a patient's pages to the list, the rest to today."""
    if path.rstrip("/") == "/console":
        return None
    if path.startswith("/console/patients/"):
        return "/console/patients"
    return "/console/"


def _refused(request: web.Request, refusal: Refusal) -> Markup:
    text = _text(request, refusal.key, **refusal.values)
    if refusal.hint:
        text += Markup("\n") + _text(request, refusal.hint, **refusal.values)
    return text


def _back_to(path: str, notice: str | None = None, **values: object) -> web.HTTPSeeOther:
    query = {"notice": notice, **{key: str(value) for key, value in values.items()}} if notice else {}
    return web.HTTPSeeOther(path + (f"?{urlencode(query)}" if query else ""))


def _notice(request: web.Request) -> Markup | None:
    key = request.query.get("notice", "")
    if key not in NOTICES:
        return None
    values: dict[str, object] = {name: request.query.get(name, "")[:40]
                                 for name in ("item_id", "name", "count", "session_number")}
    # The count picks a plural form, so it goes back to being a number (a query string holds only text).
    if str(values["count"]).isdigit():
        values["count"] = int(str(values["count"]))
    return _text(request, key, **values)


def staff_page(handler):
    """Let only staff in (initData or session, checked now); POSTs need this identity's CSRF token."""

    @wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        identity = await identify(request)
        if identity is None:
            return _render(request, "signed_out.html", {}, status=401)
        request[IDENTITY] = identity
        if request.method == "POST":
            form = await request.post()
            presented = request.headers.get(CSRF_HEADER) or str(form.get(CSRF_FIELD, ""))
            if not csrf_ok(request, identity, presented):
                log.warning("console: POST %s by staff %s without a valid CSRF token", request.path, identity.user_id)
                return _render(request, "refused.html", {"message": _text(request, "console_web_csrf")}, status=403)
        # The audit trail's "who" for everything this request records (jobs/ops/audit.py).
        try:
            with audit.acting(audit.Who(audit.ActorKind.PERSON, audit.Face.CONSOLE, id=identity.user_id,
                                        name=identity.staffer.name)):
                return await handler(request)
        finally:
            if request.method == "POST":
                # Whatever this action changed (it is written by now), the stats page counts it at once: a
                # count begun before this point is not kept (stats_cache.py), one begun after sees it.
                request.app[STATS_CACHE].forget()

    return checked


def _id(request: web.Request, name: str = "id") -> int:
    try:
        return parse_row_id(request.match_info[name], key="console_web_not_found")
    except Refusal:
        raise web.HTTPNotFound() from None


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {key: str(value) for key, value in form.items() if isinstance(value, str)}


# --------------------------------------------------------------------------- signing in


async def app_shell(request: web.Request) -> web.Response:
    """The Mini App's entry: no data, only the scripts that ask for ``/console/`` with initData."""
    return _render(request, "shell.html", {})


async def login(request: web.Request) -> web.Response:
    """Open a one-time link: a session cookie, then on to ``/console/`` (the link is dead from now on)."""
    services = _services(request)
    settings = services.settings
    found = await write(request, redeem_login, token=request.match_info["token"], now=services.clock(),
                        lasting=timedelta(hours=settings.console_session_hours))
    if found is None or not await services.is_staff(found[0]):
        log.warning("console: a sign-in link was refused (unknown, used, expired or no longer staff)")
        return _render(request, "signed_out.html", {"link_refused": True}, status=403)
    user_id, token = found
    log.info("console: staff %s signed in from a browser", user_id)
    await write(request, audit.record, action=audit.Action.SIGN_IN, now=services.clock(),
                who=audit.Who(audit.ActorKind.PERSON, audit.Face.CONSOLE, id=user_id))
    # SameSite=Strict: a cookie set on a navigation from Telegram is not sent on its redirect, so the
    # page moves on by itself (same site) instead of by a 303.
    response = _render(request, "signed_in.html", {})
    response.set_cookie(COOKIE, token, max_age=settings.console_session_hours * 3600, path="/console",
                        httponly=True, samesite="Strict", secure=settings.console_over_https)
    return response


@staff_page
async def logout(request: web.Request) -> web.Response:
    """*Sign out*: the session ends in the database, the cookie goes."""
    identity: Identity = request[IDENTITY]
    token = request.cookies.get(COOKIE, "")
    if token:
        await write(request, end_session, token=token)
    log.info("console: staff %s signed out", identity.user_id)
    response = _render(request, "signed_out.html", {"signed_out": True})
    response.del_cookie(COOKIE, path="/console")
    return response


# --------------------------------------------------------------------------- today


def _today_read(session, *, since, limit: int, now, protocols, default):
    rows, total = open_items(session, limit=limit)  # /inbox's list: open and taken, oldest first
    # /patients awaiting_link: enrolled, invite not opened yet, newest first.
    waiting, waiting_total = list_patients(session, which=PatientStatus.AWAITING_LINK.value, page=0,
                                           page_size=PAGE_SIZE, now=now, protocols=protocols, default=default)
    enrolled, enrolled_total = enrolled_between(session, since=since, now=now, limit=PAGE_SIZE)
    return rows, total, enrolled, enrolled_total, waiting, waiting_total


@staff_page
async def today(request: web.Request) -> web.Response:
    """Open and taken inbox items oldest first (take, resolve, reply), today's enrollments, who waits to link."""
    services = _services(request)
    now = services.clock()
    zone = services.settings.clinic_timezone
    local = now.astimezone(zone)
    since = local.replace(hour=0, minute=0, second=0, microsecond=0)
    rows, total, enrolled_today, enrolled_total, waiting, waiting_total = await write(
        request, _today_read, since=since, limit=INBOX_LIMIT, now=now, protocols=services.catalog.protocols,
        default=services.catalog.protocol())
    locale = _locale(request)
    items = [{
        "row": row, "kind": _text(request, f"inbox_kind_{row.item.kind}"),
        "waited": services.duration(locale, now - row.item.opened_at),
        "taken": row.item.status == InboxStatus.TAKEN,
        "mine": row.item.taken_by == request[IDENTITY].user_id,
    } for row in rows]
    return _render(request, "today.html", {
        "items": items, "total": total, "enrolled_today": enrolled_today, "enrolled_total": enrolled_total,
        "waiting": waiting,
        "waiting_total": waiting_total, "notice": _notice(request),
        "date": services.catalog.format_date(locale, local)})


async def _inbox_action(request: web.Request, function, notice: str, **extra) -> web.Response:
    services = _services(request)
    identity: Identity = request[IDENTITY]
    item_id = _id(request)
    try:
        item = await write(request, function, item_id=item_id, staffer=identity.staffer, now=services.clock(),
                           **extra)
    except Refusal as refusal:
        return _render(request, "refused.html", {"message": _refused(request, refusal), "back": "/console/"},
                       status=409)
    log.info("console: staff %s: inbox item %d is %s", identity.user_id, item.id, item.status)
    from bot.inbox_views import refresh_items

    # Every alert of the item in Telegram says so too, as after a press of its button.
    await refresh_items(services, request.app[BOT], [item.id])
    raise _back_to("/console/", notice, item_id=item.id)


@staff_page
async def take(request: web.Request) -> web.Response:
    """*Take* an inbox item (as /take does)."""
    return await _inbox_action(request, take_item, "inbox_took")


@staff_page
async def resolve(request: web.Request) -> web.Response:
    """*Resolve* an inbox item, with an optional note (as /resolve does)."""
    form = await _form(request)
    try:
        note = clean_text(form.get("note", ""), limit=500) or None
    except Refusal as refusal:
        return _render(request, "refused.html", {"message": _refused(request, refusal), "back": "/console/"},
                       status=422)
    return await _inbox_action(request, resolve_item, "inbox_resolved", note=note)


@staff_page
async def reply(request: web.Request) -> web.Response:
    """Words for the patient, sent as a staff reply in the chat is (the clinic's header first)."""
    services = _services(request)
    identity: Identity = request[IDENTITY]
    patient_id = _id(request)
    form = await _form(request)
    # Back to where the box was, and nowhere else (the field comes from the page, but a page can be forged).
    back = form.get("back", "")
    back = back if back in ("/console/", f"/console/patients/{patient_id}") else "/console/"
    words = form.get("text", "").strip()[:REPLY_LIMIT]
    timeline = await write(request, patient_timeline, patient_id=patient_id)
    if timeline is None:
        raise web.HTTPNotFound()
    patient = timeline.patient
    if not words or patient.chat_id is None:
        return _render(request, "refused.html", {"message": _text(
            request, "console_web_reply_empty" if not words else "relay_reply_failed", name=patient.name),
            "back": back}, status=422)
    try:
        await send_staff_words(services, request.app[BOT], patient, words)
    except TelegramError as exc:
        log.warning("console: staff reply to patient %d not delivered: %s", patient.id, type(exc).__name__)
        return _render(request, "refused.html", {"message": _text(request, "relay_reply_failed", name=patient.name),
                                                 "back": back}, status=502)
    log.info("console: staff %s replied to patient %d", identity.user_id, patient.id)
    item = form.get("item", "")
    # Recorded (not the words); whoever answers has the item, if nobody had it (as a reply to its alert does).
    taken = await write(request, staff_replied_in_console, patient_id=patient.id, staffer=identity.staffer,
                        item_id=int(item) if item.isdigit() and len(item) < 10 else None, now=services.clock())
    if taken is not None:
        from bot.inbox_views import refresh_items

        await refresh_items(services, request.app[BOT], [taken])
    raise _back_to(back, "console_web_replied", name=patient.name)


# --------------------------------------------------------------------------- patients


@staff_page
async def patients(request: web.Request) -> web.Response:
    """Search by name or number (accents and case ignored), or one of the chat's status lists, in pages."""
    services = _services(request)
    query_text = request.query.get("q", "")
    which = request.query.get("which", PatientStatus.ACTIVE.value)
    which = which if which in PATIENT_FILTERS else PatientStatus.ACTIVE.value
    try:
        page = max(0, min(int(request.query.get("page", "0")), 10_000))
    except ValueError:
        page = 0
    context: dict = {"q": query_text, "which": which, "filters": PATIENT_FILTERS, "refusal": None}
    try:
        query = clean_query(query_text)
    except Refusal as refusal:
        query, context["refusal"] = "", _refused(request, refusal)
    if query:
        found = await write(request, find_patients, query=query)
        context.update(rows=[{"patient": patient, "enrollment": None} for patient in found], total=len(found),
                       page=0, pages=1, searched=True)
    else:
        rows, total = await write(request, list_patients, which=which, page=page, page_size=PAGE_SIZE,
                                  now=services.clock(), protocols=services.catalog.protocols,
                                  default=services.catalog.protocol())
        context.update(rows=[{"patient": row.patient, "enrollment": row.enrollment} for row in rows], total=total,
                       page=page, pages=max(1, math.ceil(total / PAGE_SIZE)), searched=False)
    return _render(request, "patients.html", context)


@staff_page
async def patient(request: web.Request) -> web.Response:
    """Profile and the whole timeline as /patient shows it, photos included; next session, invite, cancel, reply."""
    services = _services(request)
    timeline = await write(request, view_patient, patient_id=_id(request), now=services.clock())
    if timeline is None:
        raise web.HTTPNotFound()
    locale = _locale(request)
    # The sections /patient shows, in its order: outcome answers (and their changes) after the steps.
    sections = [profile_lines(services, locale, timeline.patient), timeline_lines(services, locale, timeline),
                outcome_lines(services, locale, timeline.patient, timeline.outcomes),
                history_lines(services, locale, timeline), notes_lines(services, locale, timeline)]
    # Before and after: whether the patient lets the clinic keep photos to compare (the last section, just
    # above the photos), and with that consent the first and the last photo side by side.
    sections.append(patient_card.consent_lines(services, locale, timeline))
    captions = patient_card.comparison_captions(services, locale, timeline) or ()
    return _render(request, "patient.html", {
        "patient": timeline.patient, "sections": [[Markup(line) for line in lines] for lines in sections if lines],
        "comparison": list(zip(timeline.comparison or (), map(Markup, captions), strict=True)),
        "photos": [photo for photo in timeline.photos if photo.file_id], "notice": _notice(request)})


@staff_page
async def next_session(request: web.Request) -> web.Response:
    """Record the next session of the series (as /session does); a repeat within hours asks to confirm."""
    services = _services(request)
    identity: Identity = request[IDENTITY]
    patient_id = _id(request)
    form = await _form(request)
    back = f"/console/patients/{patient_id}"
    now = services.clock()
    try:
        typed = form.get("at", "").strip()
        session_at = parse_session_time(typed, now=now, zone=services.settings.clinic_timezone) if typed else now
        if session_at > now + FUTURE_TOLERANCE:
            raise Refusal("enroll_error_future")
        if form.get("confirmed") != "yes":
            previous = await write(request, recent_session, patient_id=patient_id, session_at=session_at, now=now)
            if previous is not None:
                return _render(request, "confirm_session.html", {
                    "patient_id": patient_id, "at": typed, "previous": previous}, status=409)
        timeline = await write(request, patient_timeline, patient_id=patient_id)
        last = timeline.enrollments[-1].protocol_name if timeline and timeline.enrollments else None
        done = await write(request, record_next_session, patient_id=patient_id, session_at=session_at,
                           protocol=services.catalog.protocol_for(last), quiet_hours=services.settings.quiet_hours,
                           now=now, staff_id=identity.user_id)
    except Refusal as refusal:
        return _render(request, "refused.html", {"message": _refused(request, refusal), "back": back}, status=422)
    log.info("console: staff %s recorded session %d for patient %d", identity.user_id,
             done.enrollment.session_number, patient_id)
    raise _back_to(back, "console_web_session_done", session_number=done.enrollment.session_number)


@staff_page
async def new_invite(request: web.Request) -> web.Response:
    """A fresh invite (older links stop working), its QR code on screen (as /invite does)."""
    services = _services(request)
    identity: Identity = request[IDENTITY]
    timeline = await write(request, patient_timeline, patient_id=_id(request))
    if timeline is None:
        raise web.HTTPNotFound()
    now = services.clock()
    token = await write(request, reinvite, patient_id=timeline.patient.id, now=now, ttl=services.settings.invite_ttl)
    log.info("console: staff %s made a new invite for patient %d", identity.user_id, timeline.patient.id)
    return await _invite_page(request, timeline.patient, token, now + services.settings.invite_ttl, summary=None)


async def _invite_page(request: web.Request, patient: Patient, token: str, expires, *, summary: Markup | None,
                       status: int = 200) -> web.Response:
    services = _services(request)
    link = invite_link(request.app[BOT].username, token)
    png = await asyncio.to_thread(qr_png, link)
    zone = services.settings.clinic_timezone
    return _render(request, "invite.html", {
        "patient": patient, "link": link, "qr": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "expires": services.catalog.format_date(_locale(request), expires.astimezone(zone), with_time=True,
                                                with_year=True),
        "summary": summary}, status=status)


@staff_page
async def cancel(request: web.Request) -> web.Response:
    """Stop all of a patient's messages for good (as /cancel does), once the box saying so is ticked."""
    services = _services(request)
    identity: Identity = request[IDENTITY]
    patient_id = _id(request)
    form = await _form(request)
    back = f"/console/patients/{patient_id}"
    if form.get("confirm") != "yes":
        return _render(request, "refused.html", {"message": _text(request, "console_web_cancel_unconfirmed"),
                                                 "back": back}, status=422)
    try:
        count = await write(request, cancel_patient, patient_id=patient_id, now=services.clock(),
                            staff_id=identity.user_id)
    except Refusal as refusal:
        return _render(request, "refused.html", {"message": _refused(request, refusal), "back": back}, status=422)
    log.info("console: staff %s cancelled patient %d (%d reminders)", identity.user_id, patient_id, count)
    raise _back_to(back, "console_web_cancelled", count=count)


@staff_page
async def photo(request: web.Request) -> web.Response:
    """A patient's photo, fetched from Telegram through the bot as it is shown, never stored here."""
    found = await write(request, lambda session, *, photo_id: session.get(Photo, photo_id), photo_id=_id(request))
    if found is None or not found.file_id:
        raise web.HTTPNotFound()
    bot = request.app[BOT]
    try:
        file = await bot.get_file(found.file_id)
        data = await file.download_as_bytearray()
    except TelegramError as exc:
        log.warning("console: photo %d not fetched from Telegram: %s", found.id, type(exc).__name__)
        raise web.HTTPBadGateway() from None
    return web.Response(body=bytes(data), content_type="image/jpeg")


# --------------------------------------------------------------------------- enroll


def _enroll_choices(services: Services, locale: str) -> dict:
    catalog = services.catalog
    return {"protocols": [(p.name, p.title) for p in catalog.protocols.values()],
            "languages": [(code, catalog.bot(code, "language_name")) for code in catalog.locales],
            "default_protocol": services.settings.default_protocol,
            "clinic_zone": services.settings.clinic_timezone.key, "series_length": services.settings.series_length}


@staff_page
async def enroll_form(request: web.Request) -> web.Response:
    """The enrollment form: /enroll's fields, the clinic's defaults shown."""
    services = _services(request)
    return _render(request, "enroll.html", {"form": {}, "refusal": None,
                                            **_enroll_choices(services, _locale(request))})


@staff_page
async def enroll(request: web.Request) -> web.Response:
    """Enroll through the one reader (/enroll's rules and words); the invite's QR code fills the screen."""
    services = _services(request)
    identity: Identity = request[IDENTITY]
    settings = services.settings
    form = await _form(request)
    now = services.clock()
    rules = EnrollmentRules.of(settings=settings, catalog=services.catalog, now=now)
    try:
        typed = form.get("at", "").strip()
        fields: dict[str, object] = {
            "name": form.get("name", ""),
            "session_at": parse_session_time(typed, now=now, zone=settings.clinic_timezone) if typed else now}
        for name in ("session", "protocol", "tz", "lang", "phone", "external_id", "called"):
            if form.get(name, "").strip():
                fields[name] = form[name].strip()
        wanted = resolve_defaults(read_enrollment(fields, rules=rules), rules=rules)
        result = await write(request, enroll_resolved, wanted=wanted, invite_ttl=settings.invite_ttl,
                             quiet_hours=settings.quiet_hours, enrolled_by=identity.user_id, now=now)
    except Refusal as refusal:
        return _render(request, "enroll.html", {"form": form, "refusal": _refused(request, refusal),
                                                "field": getattr(refusal, "field", None),
                                                **_enroll_choices(services, _locale(request))}, status=422)
    patient = result.patient
    log.info("console: staff %s %s patient %d", identity.user_id, "enrolled" if result.created else "found again",
             patient.id)
    summary = _text(request, "console_web_enrolled" if result.created else "console_web_found_again",
                    name=patient.name, patient_id=patient.id)
    if result.created:
        # The name the patient's messages greet them by, in the chat form's words (the default shown too).
        summary += Markup("\n") + _text(request, "enroll_form_called", called=patient.called_by)
        twin = await write(request, recent_namesake, name=patient.name, patient_id=patient.id, now=now)
        if twin is not None:
            ago = services.catalog.format_relative(_locale(request), twin.created_at - now)
            summary += Markup("\n") + _text(request, "enroll_duplicate_note", patient_id=twin.id, ago=ago)
    if result.token is None:
        raise _back_to(f"/console/patients/{patient.id}")
    return await _invite_page(request, patient, result.token, result.invite_expires_at, summary=summary,
                              status=201 if result.created else 200)


# --------------------------------------------------------------------------- stats


def stats_counter(app: web.Application, count: int):
    """How ``count`` weeks' figures are counted, for the weeks ending at a given moment (the page's looks
    and the background task of bot/web/console/stats_cache.py both count this way)."""

    async def counted(now: datetime) -> tuple[list[tuple], list[OutcomeFigures]]:
        return await _weeks(app, [(now - timedelta(weeks=count - index), now - timedelta(weeks=count - index - 1))
                                  for index in range(count)])

    return counted


async def _weeks(app: web.Application, weeks: list[tuple]) -> tuple[list[tuple], list[OutcomeFigures]]:
    """Each week's figures (start, clinic, check-ins, inbox), the whole span's last, and the weeks' outcome
    figures: one grouped query per figure (jobs/periods.py). The four groups are separate transactions
    asked together: PostgreSQL answers them side by side (on SQLite :func:`write_in` takes them in turn)."""
    bounds = [start for start, _ in weeks] + [weeks[-1][1]]
    clinic, checkins, inbox, outcomes = await asyncio.gather(
        write_in(app, clinic_stats_by_period, bounds=bounds, whole=True),
        write_in(app, checkin_stats_by_period, bounds=bounds, whole=True),
        write_in(app, inbox_stats_by_period, bounds=bounds, whole=True),
        write_in(app, outcome_weeks, starts=bounds[:-1]))
    return list(zip([*bounds[:-1], bounds[0]], clinic, checkins, inbox, strict=True)), outcomes


@staff_page
async def stats(request: web.Request) -> web.Response:
    """/stats' figures week by week: each chart drawn here in SVG, with its data table."""
    services = _services(request)
    locale = _locale(request)
    try:
        count = max(1, min(int(request.query.get("weeks", STATS_WEEKS)), 52))
    except ValueError:
        count = STATS_WEEKS

    # Counted at most once a minute (bot/web/console/stats_cache.py says what staff may see).
    _, ((*rows, (_, whole, whole_checkins, whole_inbox)), periods) = await request.app[STATS_CACHE].figures(
        count, services.clock(), stats_counter(request.app, count))
    zone = services.settings.clinic_timezone
    labels = [services.catalog.format_date(locale, start.astimezone(zone)) for start, *_ in rows]
    text = services.text

    def minutes(value):
        return round(value.total_seconds() / 60) if value is not None else 0

    figures = [
        charts.Chart(text(locale, "console_web_chart_enrollments"), labels, [
            charts.Series(text(locale, "console_web_series_enrolled"), [s.enrolled for _, s, _, _ in rows]),
            charts.Series(text(locale, "console_web_series_linked"), [s.linked for _, s, _, _ in rows])]),
        charts.Chart(text(locale, "console_web_chart_checkins"), labels, [
            charts.Series(text(locale, "console_web_series_asked"), [c.asked for _, _, c, _ in rows]),
            charts.Series(text(locale, "console_web_series_answered"), [c.answered for _, _, c, _ in rows]),
            charts.Series(text(locale, "console_web_series_answer_minutes"),
                          [minutes(c.median_answer) for _, _, c, _ in rows])]),
        charts.Chart(text(locale, "console_web_chart_worried"), labels, [
            charts.Series(text(locale, "console_web_series_worried_taken"),
                          [i.worried_taken for _, _, _, i in rows]),
            charts.Series(text(locale, "console_web_series_take_minutes"),
                          [minutes(i.median_to_take) for _, _, _, i in rows])]),
        charts.Chart(text(locale, "console_web_chart_photos"), labels, [
            charts.Series(text(locale, "console_web_series_review_" + outcome),
                          [c.reviews[outcome] for _, _, c, _ in rows]) for outcome in ("ok", "call", "again")]),
        charts.Chart(text(locale, "console_web_chart_rebooking"), labels, [
            charts.Series(text(locale, "console_web_series_rebook_rate"),
                          [round(100 * s.booked / s.rebook_offered) if s.rebook_offered else 0
                           for _, s, _, _ in rows], unit="%")]),
        charts.Chart(text(locale, "console_web_chart_messages"), labels, [
            charts.Series(text(locale, "console_web_series_" + state), [s.messages[state] for _, s, _, _ in rows])
            for state in ("sent", "skipped", "failed")]),
    ]
    # After the series: the outcome answers and review requests, from /stats' own figures.
    figures += outcome_charts(services, locale, periods=periods, weeks=labels)
    rate = services.catalog.format_percent(locale, whole.booked / whole.rebook_offered) if whole.rebook_offered else "-"
    summary = Markup("\n").join([
        _text(request, "stats_text", period=services.text(locale, "stats_period", days=count * 7), **as_written(
            services, locale, enrolled=whole.enrolled, linked=whole.linked,
            sent=whole.messages["sent"], skipped=whole.messages["skipped"], failed=whole.messages["failed"],
            pending=sum(whole.messages[state] for state in OPEN_REMINDER_STATES), fine=whole.answers["fine"],
            red=whole.answers["red"], worried=whole.answers["worried"], escalations=whole.escalations,
            booked=whole.booked, offered=whole.rebook_offered, rate=rate)),
        _text(request, "stats_checkins", **checkin_values(services, locale, whole_checkins)),
        Markup(inbox_stats_text(services, locale, whole_inbox)),
        Markup(outcome_stats_text(services, locale, OutcomeFigures.merged(periods)))])
    return _render(request, "stats.html", {"charts": [(chart, Markup(charts.svg(chart))) for chart in figures],
                                           "weeks": count, "summary": summary})


# --------------------------------------------------------------------------- protocols


@staff_page
async def protocols(request: web.Request) -> web.Response:
    """A protocol's plan as a timeline for a session time you pick, in any language the texts have."""
    services = _services(request)
    catalog, settings = services.catalog, services.settings
    name = request.query.get("protocol", settings.default_protocol)
    protocol = catalog.protocols.get(name) or catalog.protocol()
    locale = request.query.get("lang", _locale(request))
    locale = locale if locale in catalog.locales else _locale(request)
    now = services.clock()
    typed = request.query.get("at", "").strip()
    refusal = None
    try:
        session_at = parse_session_time(typed, now=now, zone=settings.clinic_timezone) if typed else now
        number, _, length = request.query.get("session", "1").partition("/")
        session_number = max(1, min(int(number or 1), 20))
        series_length = max(session_number, min(int(length or settings.series_length), 20))
    except Refusal as exc:
        refusal, session_at, session_number, series_length = _refused(request, exc), now, 1, settings.series_length
    except ValueError:
        session_number, series_length = 1, settings.series_length
    zone = settings.clinic_timezone
    plan = plan_reminders(protocol=protocol, session_at=session_at, zone=zone, quiet_hours=settings.quiet_hours,
                          session_number=session_number, series_length=series_length, now=session_at)
    steps = []
    for item in plan:
        claimed = ClaimedReminder(
            id=0, patient_id=0, chat_id=0, patient_name=_services(request).text(locale, "console_web_sample_name"),
            locale=locale, timezone=zone.key, step_key=item.step_key, text_key=item.text_key, kind=item.kind,
            due_at=item.due_at, expires_at=item.expires_at, attempts=0, session_number=session_number,
            series_length=series_length, session_at=session_at, protocol_name=protocol.name)
        steps.append({"due": catalog.format_date(locale, item.due_at.astimezone(zone), with_time=True),
                      "until": catalog.format_date(locale, item.expires_at.astimezone(zone), with_time=True),
                      "title": catalog.step_title(locale, item.step_key), "kind": item.kind,
                      "moved": item.due_at != item.planned_at,
                      "text": Markup(render_reminder(claimed, catalog=catalog, clinic=services.clinic))})
    return _render(request, "protocols.html", {
        "protocol": protocol, "choices": _enroll_choices(services, locale), "lang": locale, "at": typed,
        "session": f"{session_number}/{series_length}", "steps": steps, "refusal": refusal, "zone": zone.key})


# --------------------------------------------------------------------------- the chat's side


async def login_link(services: Services, *, user_id: int, name: str) -> str:
    """A one-time sign-in link for ``/console`` in the chat."""
    token = await services.store.run(create_login, user_id=user_id, name=name, now=services.clock())
    return f"{services.settings.console_base}/console/login/{token}"


def keep_stats_counted(app: web.Application) -> None:
    """Have the server count the stats page's figures in the background while it runs (stats_cache.py)."""
    app.cleanup_ctx.append(keep_counted(app[SERVICES].clock, stats_counter))


def add_routes(app: web.Application) -> None:
    """Register the console's pages, its static files and the template loader."""
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined)
    router = app.router
    router.add_static("/console/static/", HERE / "static", append_version=False)
    router.add_get("/console/app", app_shell, allow_head=False)
    router.add_get("/console/login/{token}", login, allow_head=False)
    router.add_post("/console/logout", logout)
    router.add_get("/console/", today, allow_head=False)
    router.add_get("/console", to_today, allow_head=False)
    router.add_post("/console/inbox/{id}/take", take)
    router.add_post("/console/inbox/{id}/resolve", resolve)
    router.add_get("/console/patients", patients, allow_head=False)
    router.add_get("/console/patients/{id}", patient, allow_head=False)
    router.add_post("/console/patients/{id}/reply", reply)
    router.add_post("/console/patients/{id}/session", next_session)
    router.add_post("/console/patients/{id}/invite", new_invite)
    router.add_post("/console/patients/{id}/cancel", cancel)
    router.add_get("/console/photos/{id}", photo, allow_head=False)
    router.add_get("/console/enroll", enroll_form, allow_head=False)
    router.add_post("/console/enroll", enroll)
    router.add_get("/console/stats", stats, allow_head=False)
    app[STATS_CACHE] = StatsCache(default=STATS_WEEKS)
    router.add_get("/console/protocols", protocols, allow_head=False)


async def to_today(request: web.Request) -> web.Response:
    """``/console`` without its slash."""
    raise web.HTTPPermanentRedirect("/console/")
