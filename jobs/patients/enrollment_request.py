"""The one reader of an enrollment's fields, for every way in: /enroll, the form, the API and the import.

Each field has one parser here and one rule, stated once as constants (:data:`EXTERNAL_ID_PATTERN`,
:data:`MAX_SERIES_LENGTH`, ...) that the OpenAPI document and the README's field table repeat.
:func:`read_enrollment` runs them over a record two ways: ``collect=False`` stops at the first
refusal (a chat reply for /enroll and the form, a 422 for the API), ``collect=True`` gathers every
refusal (an import row's list of errors). :func:`resolve_defaults` is the one place an absent
value becomes the clinic's default (protocol, zone, language, series length).
Pure: no database, no clock (``now`` is a parameter).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, overload
from zoneinfo import ZoneInfo

from sqlmodel import Session

from jobs import inputs
from jobs.care.planning import QuietHours
from jobs.patients.enrollment import (
    MAX_SERIES_LENGTH,
    EnrolledOnce,
    check_enrollment,
    enroll_once,
    parse_session_number,
)
from jobs.refusal import Refusal
from jobs.storage.models import called_name
from messages.catalog import Catalog
from messages.protocol import Protocol

FIELDS = ("name", "session_at", "session", "series", "protocol", "tz", "lang", "phone", "external_id", "called")
# The name patients are greeted by ("Anna" for "Anna Karenina"): a short first name or nickname.
MAX_CALLED_LENGTH = 60
# The clinic's reference for a patient: what a booking or practice system's ids are made of, ASCII only
# (a Cyrillic "А" beside a Latin "A" would make two references look like one), bounded.
MAX_EXTERNAL_ID_LENGTH = 128
EXTERNAL_ID_CHARACTERS = "letters A-Z a-z, digits and . _ : @ / + -"
EXTERNAL_ID_PATTERN = rf"^[A-Za-z0-9._:@/+-]{{1,{MAX_EXTERNAL_ID_LENGTH}}}$"
_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)
# "2", "2/4" or "2 of 4" is at most this long; a longer value is not read at all.
MAX_SESSION_TEXT = 16
MAX_SESSION_AT_TEXT = 40
# Which field a refusal of the checks that span fields (check_enrollment) is about.
_FIELD_OF_KEY = {
    "enroll_error_series": "series", "enroll_error_session_number": "session", "enroll_error_bad_session": "session",
    "enroll_error_future": "session_at", "enroll_error_too_old": "session_at",
}

# Each field's rule in words, for the OpenAPI document (bot/web/openapi.py) and the README's table.
FIELD_RULES = {
    "name": f"the patient's name, 1 to {inputs.MAX_NAME_LENGTH} visible characters, no control characters",
    "session_at": "when the session was: ISO 8601 with its offset from UTC (2026-11-24T15:30:00+01:00, or Z); "
                  "not more than 10 minutes ahead, nor older than 60 days; default now (the import also takes "
                  "a time without an offset, read in CLINIC_TIMEZONE)",
    "session": f'which session of the series: 2, "2", "2/4" or "2 of 4" (a series of 1 to {MAX_SERIES_LENGTH}); '
               "default 1",
    "series": f"sessions in the series, 1 to {MAX_SERIES_LENGTH}; must agree with session's \"/4\" when both are "
              "given; default SERIES_LENGTH (or what session says)",
    "protocol": "a protocol file's name; default DEFAULT_PROTOCOL",
    "tz": "the patient's geographic IANA zone (Europe/London); default CLINIC_TIMEZONE",
    "lang": "the patient's language, one of the message files' (es); default their Telegram language",
    "phone": "a number staff may call: with its country code, or national digits in CLINIC_PHONE's country",
    "external_id": f"the clinic's own reference, 1 to {MAX_EXTERNAL_ID_LENGTH} {EXTERNAL_ID_CHARACTERS}; "
                   "a repeated one gives the same patient back",
    "called": f"the name the patient is greeted by in their messages, 1 to {MAX_CALLED_LENGTH} visible characters; "
              "default the first word of name (staff screens always show the full name)",
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
    called: str | None = None


@dataclass(frozen=True)
class EnrollmentRules:
    """What reading and resolving need to know of the clinic: its settings and message files."""

    now: datetime
    clinic_zone: ZoneInfo
    protocols: Collection[str]  # the names; a Mapping to Protocol lets resolve_defaults hand back the file
    locales: tuple[str, ...]
    default_protocol: str | None = None
    series_length: int | None = None
    phone_region: str | None = None
    # The import (a spreadsheet's "2026-12-05 11:00"): a session time without an offset is read in
    # clinic_zone. The API keeps requiring one: a machine can say which moment it means.
    local_times: bool = False

    @classmethod
    def of(cls, *, settings: Any, catalog: Catalog, now: datetime) -> EnrollmentRules:
        """The rules of a running bot: ``settings`` is its Settings (read by attribute, jobs imports no bot)."""
        return cls(now=now, clinic_zone=settings.clinic_timezone, protocols=catalog.protocols,
                   locales=catalog.locales, default_protocol=settings.default_protocol,
                   series_length=settings.series_length, phone_region=settings.phone_region)


@dataclass(frozen=True)
class Resolved:
    """An enrollment with every default filled in: what :func:`jobs.patients.enrollment.enroll_patient` takes."""

    request: EnrollmentRequest
    protocol: Protocol
    zone: ZoneInfo
    locale: str  # "": the patient's Telegram language, taken when they link
    series_length: int
    called: str  # the name the patient is greeted by


@dataclass(frozen=True)
class Reading:
    """What :func:`read_enrollment` found with ``collect=True``: the request, or every refusal."""

    request: EnrollmentRequest | None
    problems: tuple[FieldRefusal, ...] = field(default=())


# --------------------------------------------------------------------------- one parser per field


def parse_name(value: object) -> str:
    """A patient's name (:func:`jobs.inputs.clean_name`)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Refusal("enroll_error_name_missing")
    return inputs.clean_name(_text(value, "name"))


def parse_called(value: object) -> str:
    """The name the patient is greeted by (:func:`jobs.inputs.clean_name`, at most MAX_CALLED_LENGTH)."""
    return inputs.clean_name(_text(value, "called"), limit=MAX_CALLED_LENGTH)


def parse_session_at(value: object, *, now: datetime, zone: ZoneInfo | None = None) -> datetime:
    """ISO 8601 with an offset ("2026-11-24T15:30:00+01:00", or "Z"); absent means now. A datetime (a chat
    face's ``at=`` or the form's time, already read in the clinic's zone) is taken as it is. With ``zone``
    (the import), a time without an offset is read in it (in the hour the clocks go back, the first one)."""
    if value is None or value == "":
        return now
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if not isinstance(value, str) or len(value) > MAX_SESSION_AT_TEXT:
        raise Refusal("api_error_session_at", value=inputs.echo(str(value)[:MAX_SESSION_AT_TEXT]))
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Refusal("api_error_session_at", value=inputs.echo(value)) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        if zone is not None:
            return moment.replace(tzinfo=zone)
        # A wall-clock time without its offset is ambiguous around a daylight-saving change.
        raise Refusal("api_error_session_at_offset", value=inputs.echo(value))
    return moment


def parse_session(value: object) -> tuple[int, int | None]:
    """``2``, ``"2"``, ``"2/4"`` or ``"2 of 4"``: (number, series length or None)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Refusal("api_error_type", field="session", expected="a number such as 2 or \"2/4\"")
    text = str(value)
    if len(text) > MAX_SESSION_TEXT:
        raise Refusal("enroll_error_bad_session", value=inputs.echo(text[:MAX_SESSION_TEXT]))
    return parse_session_number(text)


def parse_series(value: object) -> int:
    """Sessions in the series: 1 to MAX_SERIES_LENGTH, a JSON number or digits."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Refusal("api_error_type", field="series", expected="a whole number")
    if isinstance(value, int):
        if not 1 <= value <= MAX_SERIES_LENGTH:
            raise Refusal("enroll_error_series", limit=MAX_SERIES_LENGTH)
        return value
    return inputs.parse_int(value, low=1, high=MAX_SERIES_LENGTH, key="enroll_error_series", limit=MAX_SERIES_LENGTH)


def parse_protocol(value: object, *, protocols: Collection[str]) -> str:
    """A protocol file's name."""
    name = _text(value, "protocol").strip()
    if name not in protocols:
        raise Refusal("enroll_error_unknown_protocol", value=inputs.echo(name), protocols=", ".join(sorted(protocols)))
    return name


def parse_zone(value: object) -> ZoneInfo:
    """A geographic IANA zone by its exact name (:func:`jobs.inputs.parse_zone`)."""
    return inputs.parse_zone(_text(value, "tz"))


def parse_lang(value: object, *, locales: tuple[str, ...]) -> str:
    """One of the message files' languages, any case."""
    locale = _text(value, "lang").strip().lower()
    if locale not in locales:
        raise Refusal("enroll_error_bad_lang", value=inputs.echo(locale), locales=", ".join(locales))
    return locale


def parse_phone(value: object, *, region: str | None) -> str:
    """A phone number, as E.164 (:func:`jobs.inputs.parse_phone`)."""
    return inputs.parse_phone(_text(value, "phone"), region=region)


def parse_external_id(value: object) -> str:
    """The clinic's reference: :data:`EXTERNAL_ID_PATTERN`, the same for the API and the import."""
    text = _text(value, "external_id").strip()
    if not _EXTERNAL_ID.match(text):
        raise Refusal("enroll_error_external_id", value=inputs.echo(text), limit=MAX_EXTERNAL_ID_LENGTH)
    return text


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise Refusal("api_error_type", field=name, expected="text")
    return value


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


# --------------------------------------------------------------------------- the record


class _Reader:
    """Runs the parsers: the first refusal raised, or every refusal kept (``collect``)."""

    def __init__(self, *, collect: bool) -> None:
        self.collect = collect
        self.problems: list[FieldRefusal] = []

    def refuse(self, refusal: FieldRefusal) -> None:
        if not self.collect:
            raise refusal
        self.problems.append(refusal)

    def attempt(self, field_name: str, parse: Callable[..., Any], /, *args: object, **kwargs: object) -> Any:
        try:
            return parse(*args, **kwargs)
        except FieldRefusal as refusal:
            self.refuse(refusal)
        except Refusal as refusal:
            # "*": a check that spans fields (check_enrollment) says by its key which field it is about.
            about = _FIELD_OF_KEY.get(refusal.key, "name") if field_name == "*" else field_name
            self.refuse(FieldRefusal(about, refusal.key, **refusal.values))
        return None

    def refused(self, *names: str) -> bool:
        return any(problem.field in names for problem in self.problems)


@overload
def read_enrollment(fields: Mapping[str, object], *, rules: EnrollmentRules,
                    collect: Literal[False] = False) -> EnrollmentRequest: ...
@overload
def read_enrollment(fields: Mapping[str, object], *, rules: EnrollmentRules, collect: Literal[True]) -> Reading: ...


def read_enrollment(fields: Mapping[str, object], *, rules: EnrollmentRules, collect: bool = False
                    ) -> EnrollmentRequest | Reading:
    """Read every field of ``fields`` with its one rule.

    ``collect=False``: the request, or :class:`FieldRefusal` at the first bad field. ``collect=True``: a
    :class:`Reading` with the request or every refusal. An unknown field is refused too (a misspelt
    ``external_id`` would otherwise make a second patient).
    """
    reader = _Reader(collect=collect)
    for key in fields:
        if key not in FIELDS:
            shown = str(key)[:64]
            reader.refuse(FieldRefusal(shown, "api_error_unknown_field", field=shown, fields=", ".join(FIELDS)))
    name = reader.attempt("name", parse_name, fields.get("name"))
    session_at = reader.attempt("session_at", parse_session_at, fields.get("session_at"), now=rules.now,
                                zone=rules.clinic_zone if rules.local_times else None)
    number, length = 1, None
    session, series = fields.get("session"), fields.get("series")
    if _given(session):
        number, length = reader.attempt("session", parse_session, session) or (1, None)
    if _given(series):
        count = reader.attempt("series", parse_series, series)
        if count is not None and length is not None and count != length:
            # "session 2/4" and "series 5" contradict each other: neither wins silently.
            reader.refuse(FieldRefusal("series", "enroll_error_series_conflict", session=inputs.echo(str(session)),
                                       length=length, series=count))
        length = count if count is not None else length
    values: dict[str, Any] = {}
    for key, parse, options in (("protocol", parse_protocol, {"protocols": rules.protocols}),
                                ("tz", parse_zone, {}), ("lang", parse_lang, {"locales": rules.locales}),
                                ("phone", parse_phone, {"region": rules.phone_region}),
                                ("external_id", parse_external_id, {}), ("called", parse_called, {})):
        values[key] = reader.attempt(key, parse, fields[key], **options) if _given(fields.get(key)) else None
    if name is not None and session_at is not None and not reader.refused("session", "series"):
        effective = length if length is not None else (rules.series_length or max(number, 1))
        reader.attempt("*", check_enrollment, name=name, session_at=session_at, session_number=number,
                       series_length=effective, now=rules.now)
    if reader.problems:
        return Reading(None, tuple(reader.problems))
    request = EnrollmentRequest(name=name, session_at=session_at, session_number=number, series_length=length,
                                protocol=values["protocol"], zone=values["tz"], locale=values["lang"],
                                phone=values["phone"], external_id=values["external_id"], called=values["called"])
    return Reading(request) if collect else request


def resolve_defaults(request: EnrollmentRequest, *, rules: EnrollmentRules,
                     protocols: Mapping[str, Protocol] | None = None) -> Resolved:
    """The one place an absent value becomes the clinic's: DEFAULT_PROTOCOL, CLINIC_TIMEZONE, SERIES_LENGTH,
    "" for the language (the patient's Telegram language when they link), and the first word of the name
    for the name they are greeted by."""
    files = protocols if protocols is not None else rules.protocols
    if not isinstance(files, Mapping):
        raise TypeError("resolve_defaults needs the protocol files: pass protocols= or rules with a mapping")
    name = request.protocol or rules.default_protocol
    protocol = files.get(name or "")
    if protocol is None:
        raise FieldRefusal("protocol", "enroll_error_unknown_protocol", value=inputs.echo(name or ""),
                           protocols=", ".join(sorted(files)))
    length = request.series_length if request.series_length is not None else rules.series_length
    return Resolved(request=request, protocol=protocol, zone=request.zone or rules.clinic_zone,
                    locale=request.locale or "", series_length=length or max(request.session_number, 1),
                    called=called_name(request.name, request.called))


def parse_enrollment_request(fields: Mapping[str, object], *, now: datetime, clinic_zone: ZoneInfo,
                             catalog: Catalog, default_series_length: int | None = None,
                             phone_region: str | None = None) -> EnrollmentRequest:
    """:func:`read_enrollment` stopping at the first refusal, with the catalog's protocols and languages."""
    rules = EnrollmentRules(now=now, clinic_zone=clinic_zone, protocols=catalog.protocols, locales=catalog.locales,
                            series_length=default_series_length, phone_region=phone_region)
    return read_enrollment(fields, rules=rules)


# --------------------------------------------------------------------------- a chat's session time

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_AGO = re.compile(r"^(\d{1,4})\s*(m|min|mins|minutes?|h|hours?|d|days?)\s+ago$|^-(\d{1,4})\s*([mhd])$")
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d.%m.%Y %H:%M", "%d/%m/%Y %H:%M")


def parse_typed_session_time(value: str, *, now: datetime, zone: ZoneInfo) -> datetime:
    """When the session was, as staff type it in a chat (/enroll's ``at=``, the form): "now", "14:30",
    "yesterday 17:00", "2026-11-24 15:30", "3h ago", in the clinic's ``zone``. A machine's record
    (API, import) gives ``session_at`` with an offset instead (:func:`parse_session_at`)."""
    raw = " ".join(value.split()).lower()
    local_now = now.astimezone(zone)
    if raw in {"now", "just now"}:
        return now
    day = local_now.date()
    clock_part = raw
    if raw.startswith(("yesterday ", "today ")):
        word, clock_part = raw.split(" ", 1)
        if word == "yesterday":
            day -= timedelta(days=1)
    clock = _CLOCK.match(clock_part)
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        if hour > 23 or minute > 59:
            raise Refusal("enroll_error_bad_time", value=value)
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    ago = _AGO.match(raw)
    if ago:
        amount = int(ago.group(1) or ago.group(3))
        unit = (ago.group(2) or ago.group(4))[0]
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
    for pattern in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(raw.upper() if "T" in pattern else raw, pattern)  # noqa: DTZ007
        except ValueError:
            continue
        return parsed.replace(tzinfo=zone)
    raise Refusal("enroll_error_bad_time", value=value)


def enroll_resolved(session: Session, wanted: Resolved, *, invite_ttl: timedelta, quiet_hours: QuietHours,
                    enrolled_by: int | None, now: datetime) -> EnrolledOnce:
    """Enroll a resolved record (:func:`jobs.patients.enrollment.enroll_once`): the API and the console's form
    both end here, so every field reaches the enrollment the same way."""
    given = wanted.request
    return enroll_once(session, external_id=given.external_id, invite_ttl=invite_ttl, now=now, name=given.name,
                       protocol=wanted.protocol, session_at=given.session_at, session_number=given.session_number,
                       series_length=wanted.series_length, zone=wanted.zone, locale=wanted.locale,
                       quiet_hours=quiet_hours, enrolled_by=enrolled_by, phone=given.phone, called=wanted.called)
