"""The record reader shared by the API and the import: /enroll's rules, refusals that name the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.patients.enrollment_request import (
    FIELDS,
    EnrollmentRules,
    FieldRefusal,
    parse_enrollment_request,
    read_enrollment,
)
from messages.catalog import load_catalog

NOW = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
MADRID = ZoneInfo("Europe/Madrid")
CATALOG = load_catalog(None, default_protocol=None)


def parse(**fields):
    return parse_enrollment_request(fields, now=NOW, clinic_zone=MADRID, catalog=CATALOG, default_series_length=3,
                                    phone_region="ES")


def test_a_full_record_is_read_as_enroll_would():
    request = parse(name="  Anna   K ", session_at="2026-11-24T15:00:00+01:00", session="2/4", protocol="microneedling",
                    tz="Europe/London", lang="ES", phone="600 111 222", external_id="crm-1")
    assert request.name == "Anna K" and request.session_at == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert (request.session_number, request.series_length, request.protocol) == (2, 4, "microneedling")
    assert (request.zone, request.locale, request.phone, request.external_id) == (
        ZoneInfo("Europe/London"), "es", "+34600111222", "crm-1")


def test_defaults_and_numbers_as_json_numbers():
    request = parse(name="Anna", session=2, series=5, tz="", phone=None)
    assert request.session_at == NOW and (request.session_number, request.series_length) == (2, 5)
    assert request.zone is None and request.phone is None and request.protocol is None
    assert parse(name="Anna", session_at="2026-11-24T14:00:00Z").session_at == NOW - timedelta(minutes=30)


@pytest.mark.parametrize(("fields", "field", "key"), [
    ({}, "name", "enroll_error_name_missing"),
    ({"name": "x" * 500}, "name", "enroll_error_name_long"),
    ({"name": 7}, "name", "api_error_type"),
    ({"name": "A", "session_at": "2026-11-24T15:00:00"}, "session_at", "api_error_session_at_offset"),
    ({"name": "A", "session_at": "tomorrow"}, "session_at", "api_error_session_at"),
    ({"name": "A", "session_at": "2026-12-24T15:00:00+01:00"}, "session_at", "enroll_error_future"),
    ({"name": "A", "session_at": "2026-01-24T15:00:00+01:00"}, "session_at", "enroll_error_too_old"),
    ({"name": "A", "session": "first"}, "session", "enroll_error_bad_session"),
    ({"name": "A", "session": 4}, "session", "enroll_error_session_number"),
    ({"name": "A", "session": True}, "session", "api_error_type"),
    ({"name": "A", "series": "30"}, "series", "enroll_error_series"),
    ({"name": "A", "series": 0}, "series", "enroll_error_series"),
    ({"name": "A", "protocol": "botox"}, "protocol", "enroll_error_unknown_protocol"),
    ({"name": "A", "tz": "Mars/Base"}, "tz", "enroll_error_bad_zone"),
    ({"name": "A", "lang": "xx"}, "lang", "enroll_error_bad_lang"),
    ({"name": "A", "phone": "12"}, "phone", "phone_invalid"),
    ({"name": "A", "external_id": "x" * 129}, "external_id", "enroll_error_external_id"),
    ({"name": "A", "external_id": "a\x00b"}, "external_id", "enroll_error_external_id"),
    ({"name": "A", "external_id": "EMR 12"}, "external_id", "enroll_error_external_id"),
    ({"name": "A", "external_id": "Müller-7"}, "external_id", "enroll_error_external_id"),
    ({"name": "A", "external_id": "A#1"}, "external_id", "enroll_error_external_id"),
    ({"name": "A", "session": "2/4", "series": 5}, "series", "enroll_error_series_conflict"),
    ({"name": "A", "nmae": "B"}, "nmae", "api_error_unknown_field"),
])
def test_each_bad_value_is_refused_naming_its_field(fields, field, key):
    with pytest.raises(FieldRefusal) as refused:
        parse(**fields)
    assert (refused.value.field, refused.value.key) == (field, key)
    # Every refusal has its text in every language, filled with what the refusal carries.
    for locale in CATALOG.locales:
        assert CATALOG.bot(locale, key, **refused.value.values)


def test_the_fields_are_the_apis():
    assert FIELDS == ("name", "session_at", "session", "series", "protocol", "tz", "lang", "phone", "external_id",
                      "called")


def test_collecting_keeps_every_refusal_and_stopping_raises_the_first():
    rules = EnrollmentRules(now=NOW, clinic_zone=MADRID, protocols=CATALOG.protocols, locales=CATALOG.locales,
                            series_length=3)
    bad = {"name": "Anna", "session": "2/4", "series": "5", "tz": "Mars/Base", "external_id": "EMR 12"}
    reading = read_enrollment(bad, rules=rules, collect=True)
    assert reading.request is None
    assert [(p.field, p.key) for p in reading.problems] == [
        ("series", "enroll_error_series_conflict"), ("tz", "enroll_error_bad_zone"),
        ("external_id", "enroll_error_external_id")]
    with pytest.raises(FieldRefusal) as first:
        read_enrollment(bad, rules=rules)
    assert (first.value.field, first.value.key) == ("series", "enroll_error_series_conflict")
    good = read_enrollment({"name": "Anna", "session": "2/4", "series": "4"}, rules=rules, collect=True)
    assert good.problems == () and (good.request.session_number, good.request.series_length) == (2, 4)
