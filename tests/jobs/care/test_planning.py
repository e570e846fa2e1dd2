"""Planning is pure: fixed datetimes in, reminders out (daylight saving, quiet hours, staleness)."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.care.planning import QuietHours, due_on_link, plan_reminders
from messages.catalog import load_catalog

MADRID = ZoneInfo("Europe/Madrid")
QUIET = QuietHours.parse("21:00-08:00")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def plan(catalog, session_at, *, number=1, length=3, now=None, zone=MADRID, quiet=QUIET, protocol="microneedling"):
    return plan_reminders(protocol=catalog.protocol(protocol), session_at=session_at, zone=zone, quiet_hours=quiet,
                          session_number=number, series_length=length, now=now or session_at)


def local(reminder, zone=MADRID):
    return reminder.due_at.astimezone(zone)


def test_default_plan_follows_the_protocol_in_local_time(catalog):
    session = datetime(2026, 11, 24, 15, 30, tzinfo=MADRID)
    reminders = {r.step_key: r for r in plan(catalog, session)}
    assert list(reminders) == ["expect", "evening_checkin", "sun_care", "settling_check", "photo_day3",
                               "week_sunscreen", "rebook_open", "rebook_closing"]
    assert local(reminders["photo_day3"]).replace(tzinfo=None) == datetime(2026, 11, 27, 10, 0)
    assert (reminders["photo_day3"].kind, reminders["photo_day3"].text_key) == ("photo", "photo_checkin")
    assert (reminders["settling_check"].nudge_after_spec, reminders["settling_check"].alert_after_spec) == ("4h", "24h")
    assert reminders["expect"].due_at == session.astimezone(UTC)
    assert local(reminders["evening_checkin"]).replace(tzinfo=None) == datetime(2026, 11, 24, 19, 0)
    assert local(reminders["sun_care"]).replace(tzinfo=None) == datetime(2026, 11, 25, 9, 0)
    assert local(reminders["rebook_open"]).replace(tzinfo=None) == datetime(2026, 12, 22, 10, 0)
    assert all(r.due_at.tzinfo == UTC for r in reminders.values())
    assert not any(r.stale for r in reminders.values())


def test_local_times_hold_across_a_daylight_saving_change():
    # Madrid leaves summer time on 2026-10-25: 09:00 local is 07:00 UTC before, 08:00 UTC after.
    catalog = load_catalog()
    session = datetime(2026, 10, 23, 11, 0, tzinfo=MADRID)
    reminders = {r.step_key: r for r in plan(catalog, session)}
    assert reminders["sun_care"].due_at == datetime(2026, 10, 24, 7, 0, tzinfo=UTC)
    assert reminders["week_sunscreen"].due_at == datetime(2026, 10, 30, 9, 0, tzinfo=UTC)  # 10:00 CET
    assert local(reminders["week_sunscreen"]).hour == 10


def test_plain_offsets_are_exact_durations_across_daylight_saving(catalog, tmp_path):
    from messages.protocol import load_protocol

    path = tmp_path / "quick.toml"
    path.write_text('name = "quick"\n[[steps]]\nkey = "a"\nat = "2d"\nexpires = "1h"\n')
    protocol = load_protocol(path)
    session = datetime(2026, 10, 24, 12, 0, tzinfo=MADRID)  # 10:00 UTC, the day before the change
    [reminder] = plan_reminders(protocol=protocol, session_at=session, zone=MADRID, quiet_hours=QUIET,
                                session_number=1, series_length=1, now=session)
    assert reminder.due_at - session == timedelta(days=2)
    assert local(reminder).hour == 11  # 48 real hours later the wall clock shows 11:00


def test_quiet_hours_crossing_midnight_move_messages_to_the_end_of_the_window():
    zone = MADRID
    assert QUIET.move_out(datetime(2026, 11, 24, 22, 15, tzinfo=zone), zone) == datetime(2026, 11, 25, 8, 0, tzinfo=zone)
    assert QUIET.move_out(datetime(2026, 11, 25, 3, 0, tzinfo=zone), zone) == datetime(2026, 11, 25, 8, 0, tzinfo=zone)
    assert QUIET.move_out(datetime(2026, 11, 25, 8, 0, tzinfo=zone), zone) == datetime(2026, 11, 25, 8, 0, tzinfo=zone)
    assert QUIET.move_out(datetime(2026, 11, 24, 20, 59, tzinfo=zone), zone) == datetime(2026, 11, 24, 20, 59, tzinfo=zone)


def test_a_late_evening_session_moves_the_evening_checkin_to_the_morning(catalog):
    session = datetime(2026, 11, 24, 20, 0, tzinfo=MADRID)  # evening check not before 22:00: quiet
    reminders = {r.step_key: r for r in plan(catalog, session)}
    checkin = reminders["evening_checkin"]
    assert checkin.planned_at.astimezone(MADRID).replace(tzinfo=None) == datetime(2026, 11, 24, 22, 0)
    assert local(checkin).replace(tzinfo=None) == datetime(2026, 11, 25, 8, 0)
    assert checkin.expires_at - checkin.due_at == timedelta(hours=6)


def test_quiet_hours_within_one_day_and_off():
    daytime = QuietHours.parse("12:00-14:00")
    assert daytime.contains(time(13, 0)) and not daytime.contains(time(14, 0))
    off = QuietHours.parse("off")
    assert not off.enabled and not off.contains(time(3, 0))
    with pytest.raises(ValueError, match="21:00-08:00"):
        QuietHours.parse("9pm to 8am")
    with pytest.raises(ValueError, match="outside"):
        QuietHours.parse("25:00-08:00")


def test_steps_already_past_expiry_are_flagged_stale(catalog):
    session = datetime(2026, 11, 24, 15, 30, tzinfo=MADRID)
    now = session + timedelta(days=2)  # the "what to expect" note is valid for 2 days: just gone
    stale = {r.step_key for r in plan(catalog, session, now=now) if r.stale}
    assert stale == {"expect", "evening_checkin", "sun_care"}
    later = {r.step_key for r in plan(catalog, session, now=now + timedelta(days=1)) if r.stale}
    assert later == stale | {"settling_check"}


def test_final_session_gets_a_closing_message_instead_of_rebooking(catalog):
    session = datetime(2026, 11, 24, 15, 30, tzinfo=MADRID)
    keys = [r.step_key for r in plan(catalog, session, number=3, length=3)]
    assert "final_thanks" in keys
    assert "rebook_open" not in keys and "rebook_closing" not in keys
    middle = [r.step_key for r in plan(catalog, session, number=2, length=3)]
    assert "final_thanks" not in middle and "rebook_open" in middle


def test_no_reminder_before_the_session_or_inside_quiet_hours(catalog):
    for hour in range(24):
        session = datetime(2026, 11, 24, hour, 10, tzinfo=MADRID)
        for protocol in catalog.protocols:
            for reminder in plan(catalog, session, protocol=protocol):
                assert reminder.due_at >= session
                assert not QUIET.contains(local(reminder).time()), (hour, reminder.step_key)


def test_naive_datetimes_are_refused(catalog):
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(catalog, datetime(2026, 11, 24, 15, 30), now=datetime(2026, 11, 24, 15, 30, tzinfo=UTC))  # noqa: DTZ001


def test_linking_late_sends_what_is_due_now_and_skips_what_went_stale():
    now = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
    # Past its own time, pushed to tomorrow by quiet hours: goes now, the patient is there.
    assert due_on_link(planned_at=now - timedelta(hours=1), due_at=now + timedelta(hours=9),
                       expires_at=now + timedelta(hours=20), now=now) == now
    # Stale: skipped.
    assert due_on_link(planned_at=now - timedelta(days=2), due_at=now - timedelta(days=2),
                       expires_at=now - timedelta(hours=1), now=now) is None
    # Future: unchanged.
    future = now + timedelta(days=1)
    assert due_on_link(planned_at=future, due_at=future, expires_at=future + timedelta(hours=1), now=now) == future
