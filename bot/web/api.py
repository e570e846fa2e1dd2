"""The JSON API (``/api/v1``): enroll a patient as ``/enroll`` does, and read a patient's status and timeline.

``POST /api/v1/enrollments`` reads its JSON with :func:`jobs.patients.enrollment_request.read_enrollment`
(the one reader of ``/enroll``, the form and the import: the same rules and explanations), stopping at the
first bad field, and enrolls with :func:`jobs.patients.enrollment.enroll_once`: a repeated ``external_id``
gives the same patient back (200), never a second one.
"""

from __future__ import annotations

import asyncio
import base64
import logging

from aiohttp import web

from bot.invite_card import invite_link, qr_png
from bot.web.auth import KEY_NAME, api_key_required
from bot.web.common import BOT, SERVICES, read_json, write
from jobs.care.bookings import bookings_of
from jobs.inputs import parse_row_id
from jobs.patients.enrollment_request import EnrollmentRules, enroll_resolved, read_enrollment, resolve_defaults
from jobs.refusal import Refusal
from jobs.staff.console import view_patient

log = logging.getLogger(__name__)


@api_key_required
async def create_enrollment(request: web.Request) -> web.Response:
    """201 with the new patient's invite; 200 with the same patient for an ``external_id`` seen before."""
    services, bot = request.app[SERVICES], request.app[BOT]
    settings, catalog = services.settings, services.catalog
    body = await read_json(request)
    if isinstance(body, web.Response):
        return body
    now = services.clock()
    # A refusal (a bad field, a used external_id...) is answered by bot.web.common.answer_refusals.
    rules = EnrollmentRules.of(settings=settings, catalog=catalog, now=now)
    wanted = resolve_defaults(read_enrollment(body, rules=rules), rules=rules)
    result = await write(request, enroll_resolved, wanted=wanted, invite_ttl=settings.invite_ttl,
                         quiet_hours=settings.quiet_hours, enrolled_by=None, now=now)
    patient = result.patient
    log.info("api key %s %s patient %d", request[KEY_NAME], "enrolled" if result.created else "found again",
             patient.id)
    link = invite_link(bot.username, result.token) if result.token else None
    png = await asyncio.to_thread(qr_png, link) if link else None
    return web.json_response({
        "patient_id": patient.id,
        "status": patient.status,
        "created": result.created,
        "invite_url": link,
        "qr_png": base64.b64encode(png).decode("ascii") if png else None,
        "expires_at": result.invite_expires_at.isoformat() if result.invite_expires_at else None,
    }, status=201 if result.created else 200)


def _read_patient(session, *, patient_id: int, now):
    timeline = view_patient(session, patient_id=patient_id, now=now)
    return (timeline, bookings_of(session, patient_id=patient_id)) if timeline is not None else None


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


@api_key_required
async def get_patient(request: web.Request) -> web.Response:
    """The patient's status, cycles, reminders with their outcome, lifecycle history and bookings."""
    patient_id = parse_row_id(request.match_info["id"], key="api_not_found")  # 404 (bot.web.common)
    # SQLite: every transaction takes the lock (and a view is recorded): queued with the writes.
    found = await write(request, _read_patient, patient_id=patient_id, now=request.app[SERVICES].clock())
    if found is None:
        raise Refusal("api_not_found")
    timeline, bookings = found
    patient = timeline.patient
    return web.json_response({
        "patient_id": patient.id,
        "name": patient.name,
        "called": patient.called_by,
        "status": patient.status,
        "linked": patient.chat_id is not None,
        "external_id": patient.external_id,
        "timezone": patient.timezone,
        "created_at": _iso(patient.created_at),
        "linked_at": _iso(patient.linked_at),
        "enrollments": [{"id": cycle.id, "session_number": cycle.session_number, "series_length": cycle.series_length,
                         "session_at": _iso(cycle.session_at), "protocol": cycle.protocol_name}
                        for cycle in timeline.enrollments],
        "timeline": [{"id": row.id, "enrollment_id": row.enrollment_id, "step": row.step_key, "kind": row.kind,
                      "due_at": _iso(row.due_at), "expires_at": _iso(row.expires_at), "status": row.status,
                      "sent_at": _iso(row.sent_at), "answer": row.answer}
                     for row in timeline.reminders],
        "history": [{"event": event.kind, "at": _iso(event.at), "actor": event.actor, "from": event.from_status,
                     "to": event.to_status} for event in timeline.history],
        "bookings": [{"id": booking.booking_key, "source": booking.source, "start": _iso(booking.start_at),
                      "status": booking.status} for booking in bookings],
    })


def add_routes(app: web.Application) -> None:
    """Register the API's routes."""
    app.router.add_post("/api/v1/enrollments", create_enrollment)
    app.router.add_get("/api/v1/patients/{id}", get_patient, allow_head=False)
