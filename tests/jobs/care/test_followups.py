"""Planning a sent step's follow-ups: a pure function of the step, its send time, the zone and quiet hours."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from jobs.care.planning import QuietHours
from jobs.care.silence import KIND_NUDGE, KIND_SILENCE, plan_followups

MADRID = ZoneInfo("Europe/Madrid")
QUIET = QuietHours.parse("21:00-08:00")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=MADRID)


def test_a_nudge_after_4h_and_an_alert_after_24h():
    plan = plan_followups(kind="checkin", nudge_after="4h", alert_after="24h", sent_at=at(26, 10), zone=MADRID,
                          quiet_hours=QUIET)
    assert [(f.kind, f.text_key, f.due_at, f.expires_at) for f in plan] == [
        (KIND_NUDGE, "nudge_checkin", at(26, 14), at(27, 10)),
        (KIND_SILENCE, "alert_silence", at(27, 10), datetime(2026, 12, 4, 10, tzinfo=MADRID)),
    ]


def test_a_nudge_that_falls_in_quiet_hours_waits_for_the_morning():
    plan = plan_followups(kind="checkin", nudge_after="4h", alert_after="24h", sent_at=at(26, 19), zone=MADRID,
                          quiet_hours=QUIET)
    assert plan[0].kind == KIND_NUDGE and plan[0].due_at == at(27, 8)


def test_a_nudge_that_quiet_hours_push_to_the_alert_is_dropped():
    plan = plan_followups(kind="checkin", nudge_after="2h", alert_after="4h", sent_at=at(26, 20), zone=MADRID,
                          quiet_hours=QUIET)
    assert [f.kind for f in plan] == [KIND_SILENCE]


def test_a_photo_nudge_ends_with_the_photo_window_and_either_may_be_alone():
    plan = plan_followups(kind="photo", nudge_after="4h", alert_after=None, sent_at=at(27, 10), zone=MADRID,
                          quiet_hours=QUIET, answer_until=at(27, 16))
    assert [(f.kind, f.text_key, f.expires_at) for f in plan] == [(KIND_NUDGE, "nudge_photo", at(27, 16))]
    assert [f.kind for f in plan_followups(kind="photo", nudge_after=None, alert_after="1d", sent_at=at(27, 10),
                                           zone=MADRID, quiet_hours=QUIET)] == [KIND_SILENCE]
    assert plan_followups(kind="checkin", nudge_after=None, alert_after=None, sent_at=at(27, 10), zone=MADRID,
                          quiet_hours=QUIET) == []
