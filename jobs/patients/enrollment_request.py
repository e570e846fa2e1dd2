"""An enrollment as a record of fields (the API's JSON, an import's CSV row): read with /enroll's rules.

:func:`parse_enrollment_request` is the one reader of such a record. It delegates every value to
the parser ``/enroll`` uses (``session=``'s numbers, :mod:`jobs.inputs`' names, zones
and phones, :func:`jobs.patients.enrollment.check_enrollment`'s limits), so a value the bot refuses is
refused here with the same text; the :class:`FieldRefusal` it raises also names the field.
Pure: no database, no clock (``now`` is a parameter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from jobs import inputs
from jobs.patients.enrollment import MAX_SERIES_LENGTH, check_enrollment, parse_session_number
from jobs.refusal import Refusal
from messages.catalog import Catalog

FIELDS = ("name", "session_at", "session", "series", "protocol", "tz", "lang", "phone", "external_id")
MAX_EXTERNAL_ID_LENGTH = 128
# Which field a refusal of the shared checks is about.
_FIELD_OF_KEY = {
    "enroll_error_series": "series", "enroll_error_session_number": "session", "enroll_error_bad_session": "session",
    "enroll_error_future": "session_at", "enroll_error_too_old": "session_at",
}


class FieldRefusal(Refusal):
    """A refusal of one field of the record: ``field`` names it, the text (``key``) says what is wrong."""

    def __init__(self, field: str, key: str, /, **values: object) -> None:
        super().__init__(key, **values)
        self.field = field


@dataclass(frozen=True)
class EnrollmentRequest:
    """A checked record; None means "the default" (the clinic's protocol, zone, series length)."""

    name: str
    session_at: datetime
    session_number: int = 1
    series_length: int | None = None
    protocol: str | None = None
    zone: ZoneInfo | None = None
    locale: str | None = None
    phone: str | None = None
    external_id: str | None = None


def parse_enrollment_request(fields: Mapping[str, str | int | None], *, now: datetime, clinic_zone: ZoneInfo,
                             catalog: Catalog, default_series_length: int | None = None,
                             phone_region: str | None = None) -> EnrollmentRequest:
    """Check every field of ``fields`` as /enroll would; raise :class:`FieldRefusal` at the first bad one.

    An unknown field is refused too (a misspelt ``external_id`` would otherwise make a second patient).
    ``clinic_zone`` is kept for the record's callers: a session time must carry its offset here.
    """
    for key in fields:
        if key not in FIELDS:
            raise FieldRefusal(str(key)[:64], "api_error_unknown_field", field=str(key)[:64], fields=", ".join(FIELDS))
    name = _required_text(fields, "name")
    with _naming("name"):
        name = inputs.clean_name(name)
    session_at = _session_at(fields.get("session_at"), now=now)
    number, length = 1, None
    session = fields.get("session")
    if session is not None and session != "":
        with _naming("session"):
            number, length = _session(session)
    series = fields.get("series")
    if series is not None and series != "":
        with _naming("series"):
            length = _whole(series, "series", low=1, high=MAX_SERIES_LENGTH, key="enroll_error_series",
                            limit=MAX_SERIES_LENGTH)
    protocol = _optional_text(fields, "protocol")
    if protocol is not None and protocol not in catalog.protocols:
        raise FieldRefusal("protocol", "enroll_error_unknown_protocol", value=inputs.echo(protocol),
                           protocols=", ".join(sorted(catalog.protocols)))
    zone = None
    tz = _optional_text(fields, "tz")
    if tz is not None:
        with _naming("tz"):
            zone = inputs.parse_zone(tz)
    locale = _optional_text(fields, "lang")
    if locale is not None:
        locale = locale.lower()
        if locale not in catalog.locales:
            raise FieldRefusal("lang", "enroll_error_bad_lang", value=inputs.echo(locale),
                               locales=", ".join(catalog.locales))
    phone = _optional_text(fields, "phone")
    if phone is not None:
        with _naming("phone"):
            phone = inputs.parse_phone(phone, region=phone_region)
    external_id = _optional_text(fields, "external_id")
    if external_id is not None:
        with _naming("external_id"):
            external_id = inputs.clean_text(external_id, limit=MAX_EXTERNAL_ID_LENGTH)
    with _naming("session"):
        effective_length = length if length is not None else (default_series_length or max(number, 1))
        check_enrollment(name=name, session_at=session_at, session_number=number, series_length=effective_length,
                         now=now)
    return EnrollmentRequest(name=name, session_at=session_at, session_number=number, series_length=length,
                             protocol=protocol, zone=zone, locale=locale, phone=phone, external_id=external_id)


class _naming:
    """Re-raise a Refusal from a shared parser as a :class:`FieldRefusal` of ``field`` (or of the field its
    key is about, for the checks that span fields)."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, traceback) -> bool:
        if exc is None or isinstance(exc, FieldRefusal) or not isinstance(exc, Refusal):
            return False
        raise FieldRefusal(_FIELD_OF_KEY.get(exc.key, self.field), exc.key, **exc.values) from exc


def _required_text(fields: Mapping[str, object], field: str) -> str:
    value = fields.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise FieldRefusal(field, "enroll_error_name_missing" if field == "name" else "api_error_missing",
                           field=field)
    if not isinstance(value, str):
        raise FieldRefusal(field, "api_error_type", field=field, expected="text")
    return value


def _optional_text(fields: Mapping[str, object], field: str) -> str | None:
    value = fields.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise FieldRefusal(field, "api_error_type", field=field, expected="text")
    return value.strip()


def _whole(value: object, field: str, *, low: int, high: int, key: str, **values: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FieldRefusal(field, "api_error_type", field=field, expected="a whole number")
    if isinstance(value, int):
        if not low <= value <= high:
            raise FieldRefusal(field, key, **values)
        return value
    return inputs.parse_int(value, low=low, high=high, key=key, **values)


def _session(value: object) -> tuple[int, int | None]:
    """``2``, ``"2"``, ``"2/4"`` or ``"2 of 4"``: /enroll's ``session=`` rule."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FieldRefusal("session", "api_error_type", field="session", expected="a number such as 2 or \"2/4\"")
    text = str(value)
    if len(text) > 16:
        raise Refusal("enroll_error_bad_session", value=inputs.echo(text[:16]))
    return parse_session_number(text)


def _session_at(value: object, *, now: datetime) -> datetime:
    """ISO 8601 with an offset ("2026-11-24T15:30:00+01:00", or "Z"); absent means now."""
    if value is None or value == "":
        return now
    if not isinstance(value, str) or len(value) > 40:
        raise FieldRefusal("session_at", "api_error_session_at", value=inputs.echo(str(value)[:40]))
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FieldRefusal("session_at", "api_error_session_at", value=inputs.echo(value)) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise FieldRefusal("session_at", "api_error_session_at_offset", value=inputs.echo(value))
    return moment
