"""Reading ``/enroll`` lines: examples, and random lines that must never crash the handler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.enroll_args import parse_enroll_args, parse_session_time
from jobs.care.planning import QuietHours, plan_reminders
from jobs.refusal import Refusal
from messages.catalog import load_catalog

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2026, 11, 24, 16, 0, tzinfo=MADRID)
PROTOCOLS = ("microneedling", "microneedling_peel_laser")
CATALOG = load_catalog()


def parse(text):
    return parse_enroll_args(text, now=NOW, clinic_zone=MADRID, protocols=PROTOCOLS, locales=("en",))


def test_name_alone_means_now_session_one():
    args = parse("Anna   K")
    assert (args.name, args.session_at, args.session_number, args.series_length) == ("Anna K", NOW, 1, None)


def test_options_in_any_order_values_with_spaces():
    args = parse("María José de la Cruz session=2 of 5 at=yesterday 17:30 tz=America/Bogota")
    assert args.name == "María José de la Cruz"
    assert (args.session_number, args.series_length) == (2, 5)
    assert args.session_at == datetime(2026, 11, 23, 17, 30, tzinfo=MADRID)
    assert args.zone == ZoneInfo("America/Bogota")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("14:05", datetime(2026, 11, 24, 14, 5, tzinfo=MADRID)),
        ("2026-11-20 09:00", datetime(2026, 11, 20, 9, 0, tzinfo=MADRID)),
        ("2026-11-20T09:00", datetime(2026, 11, 20, 9, 0, tzinfo=MADRID)),
        ("20.11.2026 09:00", datetime(2026, 11, 20, 9, 0, tzinfo=MADRID)),
        ("3h ago", NOW - timedelta(hours=3)),
        ("90 minutes ago", NOW - timedelta(minutes=90)),
        ("-2d", NOW - timedelta(days=2)),
    ],
)
def test_session_time_forms(text, expected):
    assert parse_session_time(text, now=NOW, zone=MADRID) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_random_enroll_lines_never_raise_anything_but_a_clear_error(text):
    try:
        args = parse(text)
    except Refusal as exc:
        assert CATALOG.bot("en", exc.key, **exc.values)  # the reason renders into a reply
    else:
        assert args.name and args.session_at.tzinfo is not None


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(name for name in available_timezones() if "/" in name)[::7]),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31)),  # noqa: DTZ001
    st.sampled_from(["21:00-08:00", "22:30-07:00", "12:00-14:00", "00:00-06:00", "off"]),
    st.integers(1, 4),
    st.sampled_from(PROTOCOLS),
)
def test_planning_never_lands_inside_quiet_hours_or_before_the_session(zone_name, naive, quiet_text, number, name):
    zone = ZoneInfo(zone_name)
    session_at = naive.replace(tzinfo=UTC)
    quiet = QuietHours.parse(quiet_text)
    plan = plan_reminders(protocol=CATALOG.protocol(name), session_at=session_at, zone=zone, quiet_hours=quiet,
                          session_number=number, series_length=4, now=session_at)
    assert plan
    for reminder in plan:
        assert reminder.due_at >= session_at
        assert reminder.expires_at > reminder.due_at
        assert not quiet.contains(reminder.due_at.astimezone(zone).time()), (reminder.step_key, reminder.due_at)
    assert [r.due_at for r in plan] == sorted(r.due_at for r in plan)
