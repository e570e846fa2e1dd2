"""CLINIC_HOURS: read strictly, asked with a moment in the clinic's zone (daylight saving included)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from jobs.care.clinic_hours import ClinicHours

MADRID = ZoneInfo("Europe/Madrid")
HOURS = ClinicHours.parse("Mon-Fri 09:00-19:00, Sat 10:00-14:00")


def local(*parts):
    return datetime(*parts, tzinfo=MADRID)


def test_open_within_the_windows_and_closed_outside():
    assert HOURS.is_open(local(2026, 11, 30, 9, 0), MADRID)  # Monday, opening minute
    assert not HOURS.is_open(local(2026, 11, 30, 19, 0), MADRID)  # closing minute is closed
    assert not HOURS.is_open(local(2026, 11, 30, 8, 59), MADRID)
    assert HOURS.is_open(local(2026, 12, 5, 13, 59), MADRID)  # Saturday
    assert not HOURS.is_open(local(2026, 12, 5, 14, 0), MADRID)
    assert not HOURS.is_open(local(2026, 12, 6, 11, 0), MADRID)  # Sunday


def test_the_clinics_zone_decides_not_utc():
    # 08:30 UTC is 09:30 in Madrid in winter (open) and 10:30 in summer.
    assert HOURS.is_open(datetime(2026, 11, 30, 8, 30, tzinfo=UTC), MADRID)
    assert not HOURS.is_open(datetime(2026, 11, 30, 7, 30, tzinfo=UTC), MADRID)
    assert HOURS.is_open(datetime(2026, 6, 1, 7, 30, tzinfo=UTC), MADRID)  # 09:30 CEST


def test_next_opening():
    assert HOURS.next_opening(local(2026, 11, 30, 20, 0), MADRID) == local(2026, 12, 1, 9, 0)
    assert HOURS.next_opening(local(2026, 12, 5, 15, 0), MADRID) == local(2026, 12, 7, 9, 0)  # Sat -> Mon


def test_unset_means_always_open_and_a_day_may_have_a_break():
    assert ClinicHours().is_open(local(2026, 12, 6, 3, 0), MADRID)
    assert ClinicHours().next_opening(local(2026, 12, 6, 3, 0), MADRID) is None
    split = ClinicHours.parse("Mon 09:00-13:00, Mon 15:00-24:00")
    assert not split.is_open(local(2026, 11, 30, 14, 0), MADRID)
    assert split.is_open(local(2026, 11, 30, 23, 59), MADRID)
    assert str(split) == "Mon 09:00-13:00, Mon 15:00-24:00"
