"""Every value a user types, parsed once at the edge: ids and numbers, names and free text, zones.

Telegram hands the bot whatever a client sends: "²" passes ``str.isdigit()``, a 20-digit id
overflows a database integer, a name may carry a NUL byte (PostgreSQL refuses it), a
right-to-left override (it reverses how the staff list reads) or nothing but zero-width spaces.
The functions here accept what a person would mean and refuse the rest with
:class:`InputRefused`, whose ``key`` names the bot text that explains the refusal. They are pure:
no Telegram, no database, no clock.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers

from jobs.refusal import Refusal

# Row ids are INTEGER columns (32-bit on PostgreSQL); anything larger names no row.
MAX_ROW_ID = 2**31 - 1
# Telegram: user ids "have at most 52 significant bits".
MAX_USER_ID = 2**52 - 1
# Longer than any patient name the front desk types; the column and the staff lists stay readable.
MAX_NAME_LENGTH = 120
# A search (/patient Anna, /timezone Madrid) is a name or a city: never longer than a name.
MAX_QUERY_LENGTH = MAX_NAME_LENGTH
# How much of a refused value a reply may quote back (a 5,000-character /timezone is not echoed).
ECHO_LENGTH = 40

# Characters that change the direction text is shown in (embeddings, overrides, isolates): in a
# name they make "Anna" read as another name in the staff's lists and alerts.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The areas of the IANA database whose zones are places; "posix/…", "right/…", "Etc/…",
# "US/…", "localtime" and "Factory" are not.
GEOGRAPHIC_AREAS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian",
                    "Pacific")


class InputRefused(Refusal):
    """A value that cannot be used (a refusal like any other, answered by the one error handler);
    ``key`` names the bot text that says why, ``values`` fill it."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key, **values)


def parse_int(text: str, *, low: int, high: int, key: str, **values: object) -> int:
    """ASCII digits (an optional leading "#") within ``low..high``; else InputRefused(key)."""
    digits = text.strip().removeprefix("#")
    # Length first: int() of a 200-digit (or 5,000-digit) string is work nobody asked for.
    if not digits or len(digits) > len(str(high)) or not (digits.isascii() and digits.isdigit()):
        raise InputRefused(key, **values)
    number = int(digits)
    if not low <= number <= high:
        raise InputRefused(key, **values)
    return number


def parse_row_id(text: str, *, key: str, **values: object) -> int:
    """A patient's or reminder's number."""
    return parse_int(text, low=1, high=MAX_ROW_ID, key=key, **values)


def parse_user_id(text: str, *, key: str, **values: object) -> int:
    """A Telegram user id."""
    return parse_int(text, low=1, high=MAX_USER_ID, key=key, **values)


def looks_like_id(text: str) -> bool:
    """Whether ``text`` is meant as a number ("12", "#12", even "99999999999"), not as a name."""
    digits = text.strip().removeprefix("#")
    return bool(digits) and digits.isascii() and digits.isdigit()


def echo(text: str) -> str:
    """``text`` short enough to quote in a reply."""
    text = " ".join(text.split())
    return text if len(text) <= ECHO_LENGTH else text[:ECHO_LENGTH - 1] + "…"


def _unusable(char: str) -> bool:
    category = unicodedata.category(char)
    # Cc: NUL and the other control characters; Cs: a lone surrogate (not text at all, and no
    # database encodes it); Cn: unassigned code points. Bidirectional controls as above.
    return category in ("Cc", "Cs", "Cn") or char in BIDI_CONTROLS


def clean_text(text: str, *, limit: int, key_long: str = "input_too_long") -> str:
    """NFC, runs of white space as one space; control and direction characters refused."""
    text = " ".join(unicodedata.normalize("NFC", text).split())
    # isprintable() is False for every control, format (the direction marks among them), surrogate and
    # unassigned character: a printable text needs no look at each character (a bulk import's names).
    if not text.isprintable() and any(_unusable(char) for char in text):
        raise InputRefused("input_bad_characters")
    if len(text) > limit:
        raise InputRefused(key_long, limit=limit)
    return text


def clean_name(text: str, *, limit: int = MAX_NAME_LENGTH) -> str:
    """A patient's name as typed: :func:`clean_text`, and something visible must remain."""
    # Length is checked on the raw text too: normalizing 100,000 characters is wasted work.
    if len(text) > 4 * limit:
        raise InputRefused("enroll_error_name_long", limit=limit)
    name = clean_text(text, limit=limit, key_long="enroll_error_name_long")
    if not name:
        raise InputRefused("enroll_error_name_missing")
    # Zero-width spaces and joiners, soft hyphens and other format characters show nothing.
    if all(unicodedata.category(char) in ("Cf", "Zs", "Mn", "Me") for char in name):
        raise InputRefused("input_invisible_name")
    return name


def clean_query(text: str) -> str:
    """A search typed after a command (a patient's name or number, a city)."""
    if len(text) > 4 * MAX_QUERY_LENGTH:
        raise InputRefused("input_too_long", limit=MAX_QUERY_LENGTH)
    return clean_text(text, limit=MAX_QUERY_LENGTH)


@cache
def geographic_zones() -> frozenset[str]:
    """The IANA zones that are places: Europe/Madrid yes; localtime, Factory, posix/…, right/…, UTC no."""
    return frozenset(name for name in available_timezones()
                     if name.split("/", 1)[0] in GEOGRAPHIC_AREAS and "/" in name)


def parse_zone(text: str, *, key: str = "enroll_error_bad_zone") -> ZoneInfo:
    """A geographic IANA zone by its exact name ("Europe/Madrid"); InputRefused(key, value=…) otherwise."""
    name = text.strip()
    if name not in geographic_zones():
        raise InputRefused(key, value=echo(text))
    return ZoneInfo(name)


MAX_PHONE_LENGTH = 32


def parse_phone(text: str, *, region: str | None = None) -> str:
    """A phone number as staff or a patient typed it ("+34 600 000 000", or national digits when
    ``region`` is known), checked with Google's numbering plans; returned as E.164 ("+34600000000")."""
    raw = text.strip()
    if not raw or len(raw) > MAX_PHONE_LENGTH or any(_unusable(char) for char in raw):
        raise InputRefused("phone_invalid", value=echo(text))
    try:
        number = phonenumbers.parse(raw, region or None)
    except phonenumbers.NumberParseException as exc:
        raise InputRefused("phone_invalid", value=echo(text)) from exc
    if not phonenumbers.is_valid_number(number):
        raise InputRefused("phone_invalid", value=echo(text))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_region(phone: str) -> str | None:
    """The country of an international number ("+34 …" → "ES"): how national numbers are read, from the
    clinic's own number, so a Madrid clinic may type "600 000 000"."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None)) or None
    except phonenumbers.NumberParseException:
        return None


def display_phone(phone: str) -> str:
    """An E.164 number as people read it ("+34 600 00 00 00")."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(phone, None),
                                          phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return phone


def storable_text(text: str) -> str:
    """``text`` as any database stores it: without NUL (PostgreSQL refuses it in text) and with a lone
    surrogate (no encoding has one) replaced by U+FFFD. For words kept as they came (staff alerts)."""
    if text.isprintable():
        return text
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text if char != "\x00")


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own "%", "_" and "\\" taken literally (escape "\\")."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
