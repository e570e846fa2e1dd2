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


# Places people name that are no zone's city: islands and cities whose zone is named after another.
PLACES = {
    "tenerife": "Atlantic/Canary", "santa cruz de tenerife": "Atlantic/Canary", "las palmas": "Atlantic/Canary",
    "las palmas de gran canaria": "Atlantic/Canary", "gran canaria": "Atlantic/Canary",
    "canary islands": "Atlantic/Canary", "canarias": "Atlantic/Canary", "lanzarote": "Atlantic/Canary",
    "fuerteventura": "Atlantic/Canary", "la palma": "Atlantic/Canary", "la gomera": "Atlantic/Canary",
    "el hierro": "Atlantic/Canary", "barcelona": "Europe/Madrid", "valencia": "Europe/Madrid",
    "sevilla": "Europe/Madrid", "seville": "Europe/Madrid", "malaga": "Europe/Madrid", "bilbao": "Europe/Madrid",
    "palma": "Europe/Madrid", "palma de mallorca": "Europe/Madrid", "mallorca": "Europe/Madrid",
    "ibiza": "Europe/Madrid", "zaragoza": "Europe/Madrid", "alicante": "Europe/Madrid",
    "manchester": "Europe/London", "edinburgh": "Europe/London", "birmingham": "Europe/London",
    "munich": "Europe/Berlin", "milan": "Europe/Rome", "porto": "Europe/Lisbon",
}


def zone_for_city(query: str) -> ZoneInfo | None:
    """The zone whose city (or full name) matches ``query``, or a place of :data:`PLACES`; None if none does."""
    folded = _fold(query)
    name = _cities().get(folded) or PLACES.get(folded)
    return ZoneInfo(name) if name else None


def zone_for_location(*, latitude: float, longitude: float) -> ZoneInfo | None:
    """The zone at a point on Earth, or None where there is none (open sea)."""
    name = tzfpy.get_tz(longitude, latitude)
    if not name or name not in geographic_zones():  # open sea is Etc/GMT±n: no place
        return None
    return ZoneInfo(name)
