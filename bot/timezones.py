"""Finding a patient's time zone from a city name or a shared location.

City names match the cities in IANA zone names ("Madrid" -> Europe/Madrid, "new york" ->
America/New_York). Locations use tzfpy, which looks coordinates up offline in the zone
boundaries of timezone-boundary-builder.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from zoneinfo import ZoneInfo

import tzfpy

from jobs.inputs import geographic_zones


def _fold(text: str) -> str:
    """Lower case, no accents, spaces for underscores: "São_Paulo" -> "sao paulo"."""
    text = unicodedata.normalize("NFKD", text.replace("_", " ").replace("-", " "))
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).lower().split())


@cache
def _cities() -> dict[str, str]:
    cities: dict[str, str] = {}
    # Places only: not "localtime", "Factory", "posix/…", "right/…", "Etc/…" or "US/…".
    for name in sorted(geographic_zones()):
        cities.setdefault(_fold(name.rsplit("/", 1)[1]), name)
        cities.setdefault(_fold(name), name)
    return cities


def zone_for_city(query: str) -> ZoneInfo | None:
    """The zone whose city (or full name) matches ``query``; None if none does."""
    name = _cities().get(_fold(query))
    return ZoneInfo(name) if name else None


def zone_for_location(*, latitude: float, longitude: float) -> ZoneInfo | None:
    """The zone at a point on Earth, or None where there is none (open sea)."""
    name = tzfpy.get_tz(longitude, latitude)
    if not name or name not in geographic_zones():  # open sea is Etc/GMT±n: no place
        return None
    return ZoneInfo(name)
