"""Signed booking hooks: ``POST /hooks/booking`` (our own JSON) and ``POST /hooks/calcom`` (Cal.com's).

Each call is checked against its secret over the raw body (HMAC-SHA256, compared in constant
time) before anything is read from it: a bad signature is 401 and changes nothing. A hook whose
secret is not set answers 404, as if it were not there. What a call does is
:func:`jobs.care.bookings.record_booking`'s; a call seen before (same signed body) changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from bot.booking_notices import tell_about_booking
from bot.web.common import BOT, SERVICES, json_error, parse_json_object, read_body, write
from jobs.care.bookings import BookingKind, record_booking
from jobs.inputs import MAX_ROW_ID
from jobs.refusal import Refusal

log = logging.getLogger(__name__)

SOURCE_BOOKING, SOURCE_CALCOM = "booking", "calcom"
MAX_KEY_LENGTH = 128
# Cal.com's triggers that are ours to act on; any other (PING, MEETING_ENDED, ...) is acknowledged.
CALCOM_TRIGGERS = {"BOOKING_CREATED": BookingKind.BOOKED, "BOOKING_RESCHEDULED": BookingKind.RESCHEDULED,
                   "BOOKING_CANCELLED": BookingKind.CANCELLED}
# The booking metadata key the booking link carries (BOOKING_URL?metadata[aftercare]=<booking_ref>).
CALCOM_METADATA_KEY = "aftercare"


def signature_ok(secret: str, body: bytes, given: str) -> bool:
    """Whether ``given`` is the hex HMAC-SHA256 of ``body`` with ``secret`` (constant-time)."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.strip().lower().encode("ascii", "replace"), expected.encode())


def _invalid(field: str, message: str) -> web.Response:
    return json_error(422, "invalid", message, field=field)


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None and moment.utcoffset() is not None else None


def _key(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text if 0 < len(text) <= MAX_KEY_LENGTH and text.isprintable() else None


async def _signed_body(request: web.Request, *, secret: str, header: str, prefix: str = "") -> bytes | web.Response:
    if not secret:
        raise web.HTTPNotFound()
    raw = await read_body(request)
    if isinstance(raw, web.Response):
        return raw
    given = request.headers.get(header, "")
    if not given.startswith(prefix) or not signature_ok(secret, raw, given[len(prefix):]):
        return json_error(401, "bad_signature", f"{header} does not match the body and the shared secret")
    return raw


# Refusals of record_booking that are no refusal to the sender, answered 200 with these bodies.
REPLAYED = {"booking_replayed": {"changed": False, "replayed": True}}  # a call seen before was applied, once
# Someone who is not a patient of ours booked through the clinic's Cal.com page: nothing for us to do.
STRANGER = {"booking_unknown_patient": {"changed": False,
                                        "ignored": "no aftercare reference in the booking's metadata"}}


async def _apply(request: web.Request, *, source: str, raw: bytes, accepted: dict[str, dict] = REPLAYED,
                 **call) -> web.Response:
    """Record the booking change; a refusal (an unknown patient) is answered by bot.web.common.answer_refusals,
    except those ``accepted`` names."""
    services, bot = request.app[SERVICES], request.app[BOT]
    try:
        change = await write(request, record_booking, source=source, digest=hashlib.sha256(raw).hexdigest(),
                                          quiet_hours=services.settings.quiet_hours, now=services.clock(), **call)
    except IntegrityError:
        # Another call about the same new booking was being written at the same moment: nothing of this one
        # was kept; sending it again applies it after the other.
        return json_error(409, "conflict", "another call about this booking arrived at the same time: send it again")
    except Refusal as exc:
        if exc.key not in accepted:
            raise
        return web.json_response(accepted[exc.key])
    if change.changed:
        log.info("booking hook (%s): %s for patient %d (%d rebooking reminders stopped, %d back)", source,
                 change.kind.value, change.patient.id, change.stopped, change.restored)
        await tell_about_booking(services, bot, change)
    return web.json_response({
        "changed": change.changed, "replayed": change.patient is None,
        "event": change.kind.value,
        "patient_id": change.patient.id if change.patient is not None else None,
        "status": change.booking.status if change.booking is not None else None,
        "reminder_at": change.reminder_at.isoformat() if change.reminder_at else None,
    })


async def booking_hook(request: web.Request) -> web.Response:
    """``{"event", "id", "patient_id" | "external_id", "start", }`` signed with BOOKING_WEBHOOK_SECRET."""
    services = request.app[SERVICES]
    raw = await _signed_body(request, secret=services.settings.booking_webhook_secret,
                             header="X-Aftercare-Signature", prefix="sha256=")
    if isinstance(raw, web.Response):
        return raw
    body = parse_json_object(raw)
    if isinstance(body, web.Response):
        return body
    try:
        kind = BookingKind(body.get("event"))
    except ValueError:
        return _invalid("event", "event must be booked, rescheduled or cancelled")
    key = _key(body.get("id"))
    if key is None:
        return _invalid("id", f"id must be the booking's own id (text or a number, at most {MAX_KEY_LENGTH} long)")
    patient_id, external_id = body.get("patient_id"), body.get("external_id")
    if patient_id is not None and (isinstance(patient_id, bool) or not isinstance(patient_id, int)
                                   or not 1 <= patient_id <= MAX_ROW_ID):
        return _invalid("patient_id", "patient_id must be a patient's number")
    if external_id is not None and _key(external_id) is None:
        return _invalid("external_id", "external_id must be the clinic's reference of the patient")
    if patient_id is None and external_id is None:
        return _invalid("patient_id", "name the patient: patient_id or external_id")
    start = _moment(body.get("start"))
    if start is None and kind is not BookingKind.CANCELLED:
        return _invalid("start", "start must be ISO 8601 with an offset, such as 2026-12-20T10:00:00+01:00")
    return await _apply(request, source=SOURCE_BOOKING, raw=raw, kind=kind, booking_key=key, start_at=start,
                        patient_id=patient_id, external_id=_key(external_id) if external_id is not None else None)


async def calcom_hook(request: web.Request) -> web.Response:
    """Cal.com's BOOKING_CREATED / BOOKING_RESCHEDULED / BOOKING_CANCELLED, verified with X-Cal-Signature-256."""
    services = request.app[SERVICES]
    raw = await _signed_body(request, secret=services.settings.calcom_webhook_secret, header="X-Cal-Signature-256")
    if isinstance(raw, web.Response):
        return raw
    body = parse_json_object(raw)
    if isinstance(body, web.Response):
        return body
    trigger = body.get("triggerEvent")
    payload = body.get("payload")
    kind = CALCOM_TRIGGERS.get(trigger) if isinstance(trigger, str) else None
    if kind is None or not isinstance(payload, dict):
        return web.json_response({"changed": False, "ignored": "not a booking created, rescheduled or cancelled"})
    key = _key(payload.get("uid")) or _key(payload.get("bookingId"))
    if key is None:
        return _invalid("payload.uid", "the booking has no uid")
    metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
    reference = _key(metadata.get(CALCOM_METADATA_KEY))
    start = _moment(payload.get("startTime"))
    if start is None and kind is not BookingKind.CANCELLED:
        return _invalid("payload.startTime", "startTime must be ISO 8601 with an offset")
    previous = _key(payload.get("rescheduleUid")) or _key(payload.get("fromReschedule"))
    # A booking without our reference whose patient we cannot find is a stranger's, not an error.
    accepted = REPLAYED | (STRANGER if reference is None else {})
    return await _apply(request, source=SOURCE_CALCOM, raw=raw, kind=kind, booking_key=key, start_at=start,
                        booking_ref=reference, previous_key=previous, accepted=accepted)


def add_routes(app: web.Application) -> None:
    """Register the booking hooks."""
    app.router.add_post("/hooks/booking", booking_hook)
    app.router.add_post("/hooks/calcom", calcom_hook)
