"""Reading what staff type after ``/enroll``: a name, then options such as ``at=`` and ``session=``.

Pure functions: no Telegram, no database, no clock (``now`` is a parameter). Every problem
raises Refusal with the key of the bot text that explains it, so the reply says what
was wrong and what to type.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from zoneinfo import ZoneInfo

from jobs.patients.enrollment_request import (
    EnrollmentRequest,
    EnrollmentRules,
    parse_name,
    parse_typed_session_time,
    parse_zone,
    read_enrollment,
)
from jobs.refusal import Refusal

OPTIONS = ("at", "session", "protocol", "tz", "lang", "phone", "call")
# An option starts at a word followed by "=", at the start or after white space.
_OPTION = re.compile(r"(?:^|\s)([A-Za-z_]+)=")
# The record's field each option fills (at= is read here: a time as staff type it, in the clinic's zone).
_FIELD_OF_OPTION = {"session": "session", "protocol": "protocol", "tz": "tz", "lang": "lang", "phone": "phone",
                    "call": "called"}

# One record of an enrollment for every way in (/enroll, the API, the import); None means "the default".
EnrollArgs = EnrollmentRequest
# Kept under its old name for the form and the tests: the chat's reading of a session time.
parse_session_time = parse_typed_session_time
__all__ = ["OPTIONS", "EnrollArgs", "parse_enroll_args", "parse_session_time", "parse_zone"]


def parse_enroll_args(text: str, *, now: datetime, clinic_zone: ZoneInfo, protocols: Collection[str],
                      locales: tuple[str, ...], phone_region: str | None = None,
                      series_length: int | None = None) -> EnrollArgs:
    """Parse the text after ``/enroll`` into the record's fields and read them with the one reader
    (:func:`jobs.patients.enrollment_request.read_enrollment`); raise Refusal at the first bad one."""
    text = " ".join(text.split())
    matches = list(_OPTION.finditer(text))
    name = text[: matches[0].start()].strip() if matches else text.strip()
    options: dict[str, str] = {}
    for index, match in enumerate(matches):
        option = match.group(1).lower()
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        if option not in OPTIONS:
            raise Refusal("enroll_error_unknown_option", option=option,
                          options=", ".join(f"{name}=" for name in OPTIONS))
        if option in options:
            raise Refusal("enroll_error_repeated", option=option)
        options[option] = text[match.end():end].strip()
    fields: dict[str, object] = {"name": name}
    if "at" in options:
        parse_name(name)  # a missing name is said before a bad time, as the reader would order them
        fields["session_at"] = parse_session_time(options["at"], now=now, zone=clinic_zone)
    fields.update({_FIELD_OF_OPTION[option]: value for option, value in options.items() if option != "at"})
    rules = EnrollmentRules(now=now, clinic_zone=clinic_zone, protocols=protocols, locales=locales,
                            series_length=series_length, phone_region=phone_region)
    return read_enrollment(fields, rules=rules)
