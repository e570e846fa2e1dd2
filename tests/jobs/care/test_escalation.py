"""The escalation rule and the day count it uses."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from jobs.care.escalation import days_since_session, should_escalate

MADRID = ZoneInfo("Europe/Madrid")


@pytest.mark.parametrize(
    ("answer", "day", "expected"),
    [("fine", 0, False), ("fine", 10, False), ("red", 0, False), ("red", 2, False), ("red", 3, True),
     ("red", 9, True), ("worried", 0, True), ("worried", 5, True)],
)
def test_rule(answer, day, expected):
    assert should_escalate(answer, day=day, red_expected_days=3) is expected


def test_the_rule_follows_the_protocol_setting():
    assert should_escalate("red", day=5, red_expected_days=7) is False
    assert should_escalate("red", day=7, red_expected_days=7) is True


def test_days_count_calendar_days_in_the_patient_zone():
    session = datetime(2026, 11, 24, 23, 30, tzinfo=MADRID)
    assert days_since_session(session, datetime(2026, 11, 25, 0, 10, tzinfo=MADRID), MADRID) == 1
    assert days_since_session(session, datetime(2026, 11, 24, 23, 50, tzinfo=MADRID), MADRID) == 0


def test_escalation_settings_in_protocol_files_are_checked(tmp_path):
    from messages.errors import MessageFileError
    from messages.protocol import load_protocol

    path = tmp_path / "p.toml"
    path.write_text('name = "p"\n[escalation]\nred_expected_days = 5\n[[steps]]\nkey = "a"\nat = "1h"\nexpires = "1h"\n')
    assert load_protocol(path).red_expected_days == 5
    path.write_text('name = "p"\n[escalation]\nred_expected_days = "soon"\n[[steps]]\nkey = "a"\nat = "1h"\nexpires = "1h"\n')
    with pytest.raises(MessageFileError, match="p.toml: escalation: 'red_expected_days'"):
        load_protocol(path)
