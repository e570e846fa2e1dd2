"""Finding a patient's time zone from a city name or a shared location.

City names match the cities in IANA zone names ("Madrid" -> Europe/Madrid, "new york" ->
America/New_York). Locations use tzfpy, which looks coordinates up offline in the zone
boundaries of timezone-boundary-builder.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

import tzfpy


def _fold(text: str) -> str:
    """Lower case, no accents, spaces for underscores: "São_Paulo" -> "sao paulo"."""
    text = unicodedata.normalize("NFKD", text.replace("_", " ").replace("-", " "))
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).lower().split())


@cache
def _cities() -> dict[str, str]:
    cities: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "posix/", "right/")):
            continue
        cities.setdefault(_fold(name.rsplit("/", 1)[1]), name)
        cities.setdefault(_fold(name), name)
    return cities


def zone_for_city(query: str) -> ZoneInfo | None:
    """The zone whose city (or full name) matches ``query``; None if none does."""
    folded = _fold(query)
    name = _cities().get(folded)
    if name is None and "/" not in query:
        try:
            return ZoneInfo(query.strip()) if query.strip() in available_timezones() else None
        except (ValueError, OSError):
            return None
    return ZoneInfo(name) if name else None


def zone_for_location(*, latitude: float, longitude: float) -> ZoneInfo | None:
    """The zone at a point on Earth, or None where there is none (open sea)."""
    name = tzfpy.get_tz(longitude, latitude)
    if not name or name not in available_timezones():
        return None
    return ZoneInfo(name)
