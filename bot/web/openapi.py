"""The OpenAPI 3 document of the HTTP side, served at ``/api/v1/openapi.json``.

A test walks the application's routes and this document's paths both ways, so neither can gain a
route the other lacks.
"""

from __future__ import annotations

from aiohttp import web

from jobs.inputs import MAX_NAME_LENGTH
from jobs.patients.enrollment import MAX_SERIES_LENGTH
from jobs.patients.enrollment_request import (
    EXTERNAL_ID_PATTERN,
    FIELD_RULES,
    FIELDS,
    MAX_CALLED_LENGTH,
    MAX_EXTERNAL_ID_LENGTH,
)

_ERROR = {"type": "object", "required": ["error", "message"],
          "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                         "field": {"type": "string", "nullable": True}, "key": {"type": "string"}}}


def _answer(description: str, schema: dict | None = None, content_type: str = "application/json") -> dict:
    answer: dict = {"description": description}
    if schema is not None:
        answer["content"] = {content_type: {"schema": schema}}
    return answer


def _error(description: str) -> dict:
    return _answer(description, {"$ref": "#/components/schemas/Error"})


# Each field's rule is the reader's (jobs/patients/enrollment_request.py): its words and its bounds.
_FIELD_SCHEMAS: dict[str, dict] = {
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
    "session_at": {"type": "string", "format": "date-time"},
    "session": {"oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_SERIES_LENGTH}, {"type": "string"}]},
    "series": {"oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_SERIES_LENGTH}, {"type": "string"}]},
    "protocol": {"type": "string"},
    "tz": {"type": "string"},
    "lang": {"type": "string"},
    "phone": {"type": "string"},
    "external_id": {"type": "string", "minLength": 1, "maxLength": MAX_EXTERNAL_ID_LENGTH,
                    "pattern": EXTERNAL_ID_PATTERN},
    "called": {"type": "string", "minLength": 1, "maxLength": MAX_CALLED_LENGTH},
}
ENROLLMENT_REQUEST = {
    "type": "object", "required": ["name"], "additionalProperties": False,
    "properties": {name: {**_FIELD_SCHEMAS[name], "description": FIELD_RULES[name]} for name in FIELDS},
}
ENROLLMENT = {
    "type": "object", "required": ["patient_id", "status", "created", "invite_url", "qr_png", "expires_at"],
    "properties": {
        "patient_id": {"type": "integer"}, "status": {"type": "string"}, "created": {"type": "boolean"},
        "invite_url": {"type": "string", "nullable": True,
                       "description": "the invite link (a fresh one on each call while the patient has not linked); "
                                      "null only when the patient is already linked"},
        "qr_png": {"type": "string", "format": "byte", "nullable": True,
                   "description": "the invite link's QR code, a PNG in base64 (null with invite_url)"},
        "expires_at": {"type": "string", "format": "date-time", "nullable": True},
    },
}
PATIENT = {
    "type": "object", "required": ["patient_id", "status", "timeline"],
    "properties": {
        "patient_id": {"type": "integer"}, "name": {"type": "string"}, "called": {"type": "string"},
        "status": {"type": "string"},
        "linked": {"type": "boolean"}, "external_id": {"type": "string", "nullable": True},
        "timezone": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "linked_at": {"type": "string", "format": "date-time", "nullable": True},
        "enrollments": {"type": "array", "items": {"type": "object"}},
        "timeline": {"type": "array", "items": {"type": "object"},
                     "description": "every planned reminder with its state (pending, sent, skipped, ...)"},
        "history": {"type": "array", "items": {"type": "object"}, "description": "lifecycle events, oldest first"},
        "bookings": {"type": "array", "items": {"type": "object"}},
    },
}
BOOKING_EVENT = {
    "type": "object", "required": ["event", "id"],
    "properties": {
        "event": {"type": "string", "enum": ["booked", "rescheduled", "cancelled"]},
        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}], "description": "the booking's own id"},
        "patient_id": {"type": "integer"}, "external_id": {"type": "string"},
        "start": {"type": "string", "format": "date-time", "description": "required unless cancelled"},
    },
}
HOOK_RESULT = {"type": "object", "properties": {"changed": {"type": "boolean"}, "replayed": {"type": "boolean"},
                                                "event": {"type": "string"}, "patient_id": {"type": "integer"},
                                                "status": {"type": "string"}}}
_KEYED = [{"bearer": []}]

DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "Aftercare", "version": "1",
             "description": "The HTTP side of the Aftercare bot: health, metrics, enrollment and booking hooks."},
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "a key from `aftercare api-key create`"},
            "bookingSignature": {"type": "apiKey", "in": "header", "name": "X-Aftercare-Signature",
                                 "description": "sha256=<hex HMAC-SHA256 of the raw body with BOOKING_WEBHOOK_SECRET>"},
            "calcomSignature": {"type": "apiKey", "in": "header", "name": "X-Cal-Signature-256",
                                "description": "hex HMAC-SHA256 of the raw body with CALCOM_WEBHOOK_SECRET"},
        },
        "schemas": {"Error": _ERROR, "EnrollmentRequest": ENROLLMENT_REQUEST, "Enrollment": ENROLLMENT,
                    "Patient": PATIENT, "BookingEvent": BOOKING_EVENT, "HookResult": HOOK_RESULT},
    },
    "paths": {
        "/healthz": {"get": {"summary": "Whether the bot is healthy", "security": [], "responses": {
            "200": _answer("healthy: database reachable, dispatcher beating", {"type": "object"}),
            "503": _answer("unhealthy, with the reasons in problems", {"type": "object"})}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (text format)", "security": [], "responses": {
            "200": _answer("the metrics", {"type": "string"}, "text/plain")}}},
        "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {
            "200": _answer("OpenAPI 3", {"type": "object"})}}},
        "/api/v1/enrollments": {"post": {
            "summary": "Enroll a patient, as /enroll does", "security": _KEYED,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/EnrollmentRequest"}}}},
            "responses": {
                "201": _answer("enrolled", {"$ref": "#/components/schemas/Enrollment"}),
                "200": _answer("a patient with this external_id exists: that one, unchanged",
                               {"$ref": "#/components/schemas/Enrollment"}),
                "400": _error("not a JSON object"), "401": _error("no live API key"),
                "413": _error("body too large"),
                "422": _error("a field the one enrollment reader refuses (as /enroll and the import would); "
                                      "field names it, message says why")}}},
        "/api/v1/patients/{id}": {"get": {
            "summary": "A patient's status and timeline", "security": _KEYED,
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}],
            "responses": {"200": _answer("the patient", {"$ref": "#/components/schemas/Patient"}),
                          "401": _error("no live API key"), "404": _error("no such patient (or erased)")}}},
        "/hooks/booking": {"post": {
            "summary": "A booking system's event", "security": [{"bookingSignature": []}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/BookingEvent"}}}},
            "responses": {"200": _answer("applied (or already applied: changed false)",
                                         {"$ref": "#/components/schemas/HookResult"}),
                          "400": _error("not a JSON object"), "401": _error("bad signature"),
                          "404": _error("no such patient, or BOOKING_WEBHOOK_SECRET not set"),
                          "413": _error("body too large"), "422": _error("a field is wrong")}}},
        "/hooks/calcom": {"post": {
            "summary": "Cal.com's BOOKING_CREATED, BOOKING_RESCHEDULED and BOOKING_CANCELLED",
            "security": [{"calcomSignature": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": _answer("applied, or ignored (another trigger, not a patient's booking)",
                                         {"$ref": "#/components/schemas/HookResult"}),
                          "400": _error("not a JSON object"), "401": _error("bad signature"),
                          "404": _error("CALCOM_WEBHOOK_SECRET not set, or the reference matches nobody"),
                          "413": _error("body too large"), "422": _error("a field is wrong")}}},
        "/r/{token}": {"get": {
            "summary": "A review request's link: counted as opened once, then on to REVIEW_URL", "security": [],
            "parameters": [{"name": "token", "in": "path", "required": True,
                            "schema": {"type": "string", "maxLength": 40}}],
            "responses": {"302": {"description": "to REVIEW_URL (also for a token the bot did not make, "
                                                 "which counts nothing)"},
                          "404": _error("REVIEW_URL not set")}}},
    },
}


async def openapi(request: web.Request) -> web.Response:
    """The document."""
    return web.json_response(DOCUMENT)


def add_routes(app: web.Application) -> None:
    """Register ``/api/v1/openapi.json``."""
    app.router.add_get("/api/v1/openapi.json", openapi, allow_head=False)
