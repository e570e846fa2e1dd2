"""The API and the import read an enrollment's fields with one reader: the same value, the same verdict.

The API over real HTTP (the aiohttp test client), the import through ``aftercare import``'s own
function, both on the test's database (SQLite, or PostgreSQL with AFTERCARE_TEST_DB=postgres).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.bulk_import import run_import
from jobs.patients.enrollment_request import FIELD_RULES, FIELDS, parse_external_id
from jobs.refusal import Refusal
from jobs.storage.models import Patient
from tests.bot.web.conftest import auth

# A value the API accepted but the import refused (issue 18): a patient the API made could never be
# matched by a later import. One rule now: ASCII letters, digits and ". _ : @ / + -".
REFUSED_EXTERNAL_IDS = ("EMR 12", "Müller-7", "A#1")


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _import(web_bot, tmp_path: Path, rows: list[dict[str, str]], *, check_only: bool = False):
    path = tmp_path / f"patients-{len(list(tmp_path.iterdir()))}.csv"
    path.write_text(_csv(rows), encoding="utf-8")
    lines: dict[str, list[str]] = {"out": [], "err": []}
    services = web_bot.services
    outcome = run_import(path, engine=services.store.engine, settings=services.settings, catalog=services.catalog,
                         bot_username="aftercare_test_bot", now=web_bot.clock(), check_only=check_only,
                         say=lines["out"].append, complain=lines["err"].append)
    return outcome, lines


def _row_errors(lines: dict[str, list[str]]) -> dict[int, str]:
    """``row N: ...`` lines by row number."""
    found = {}
    for line in lines["err"]:
        if line.startswith("row "):
            number, _, rest = line.removeprefix("row ").partition(": ")
            found[int(number)] = rest
    return found


async def _post(http, api_key: str, body: dict) -> tuple[int, dict]:
    response = await http.post("/api/v1/enrollments", json=body, headers=auth(api_key))
    return response.status, await response.json()


@pytest.mark.parametrize("external_id", REFUSED_EXTERNAL_IDS)
async def test_an_external_id_is_refused_by_the_api_as_by_the_import(web_bot, http, api_key, tmp_path, external_id):
    status, answer = await _post(http, api_key, {"name": "Anna K", "external_id": external_id})
    assert status == 422, answer
    assert (answer["field"], answer["key"]) == ("external_id", "enroll_error_external_id")
    outcome, lines = _import(web_bot, tmp_path, [{"name": "Anna K", "external_id": external_id}])
    assert outcome.status == 1
    assert _row_errors(lines)[2] == f"external_id: {answer['message']}"
    assert web_bot.rows(Patient) == []


async def test_a_patient_the_api_made_is_matched_by_a_later_import(web_bot, http, api_key, tmp_path):
    reference = "EMR-12.a_b:c@d/e+f"
    status, answer = await _post(http, api_key, {"name": "Anna K", "external_id": reference})
    assert status == 201, answer
    outcome, lines = _import(web_bot, tmp_path, [{"name": "Anna K", "external_id": reference}])
    assert outcome.status == 0, lines
    assert any(f"external_id {reference!r} is patient {answer['patient_id']} already: skipped" in line
               for line in lines["out"]), lines
    assert len(web_bot.rows(Patient)) == 1


async def test_session_2_of_4_with_series_5_is_refused_by_both(web_bot, http, api_key, tmp_path):
    status, answer = await _post(http, api_key, {"name": "Anna K", "session": "2/4", "series": 5})
    assert status == 422, answer
    assert (answer["field"], answer["key"]) == ("series", "enroll_error_series_conflict")
    assert answer["message"].startswith("Session 2/4 says a series of 4, but series is 5")
    outcome, lines = _import(web_bot, tmp_path, [{"name": "Anna K", "session": "2/4", "series": "5"}])
    assert outcome.status == 1
    assert _row_errors(lines)[2] == f"series: {answer['message']}"
    assert web_bot.rows(Patient) == []
    # When they agree, both take them.
    status, answer = await _post(http, api_key, {"name": "Anna K", "session": "2/4", "series": 4})
    assert status == 201, answer
    outcome, lines = _import(web_bot, tmp_path, [{"name": "Bea", "session": "2/4", "series": "4"}])
    assert outcome.status == 0, lines
    assert sorted(patient.series_length for patient in web_bot.rows(Patient)) == [4, 4]


def _table(now) -> list[dict[str, str]]:
    """Field values, good and bad, each on a patient of its own."""
    hour_ago = (now - timedelta(hours=1)).isoformat()
    return [
        {"name": "Anna K"}, {"name": "  ", "lang": "es"}, {"name": "x" * 121}, {"name": "Anna\u202eK"}, {"name": "\u200b"},
        {"session_at": hour_ago}, {"session_at": "2026-11-24 15:30"}, {"session_at": "tomorrow"},
        {"session_at": (now + timedelta(days=2)).isoformat()}, {"session_at": (now - timedelta(days=90)).isoformat()},
        {"session": "2/4"}, {"session": "2 of 4"}, {"session": "3"}, {"session": "4"}, {"session": "7/3"},
        {"session": "first"}, {"session": "1/0"}, {"session": "2/4", "series": "5"}, {"session": "2/4", "series": "4"},
        {"session": "5", "series": "6"},
        {"series": "5"}, {"series": "0"}, {"series": "30"}, {"series": "²"},
        {"protocol": "microneedling"}, {"protocol": "botox"},
        {"tz": "Europe/London"}, {"tz": "Mars/Base"}, {"tz": "UTC"},
        {"lang": "ES"}, {"lang": "xx"},
        {"phone": "+34 600 111 222"}, {"phone": "600 111 222"}, {"phone": "12"},
        {"external_id": "crm-1"}, {"external_id": "EMR 12"}, {"external_id": "Müller-7"}, {"external_id": "A#1"},
        {"external_id": "x" * 128}, {"external_id": "x" * 129}, {"external_id": "a\x00b"},
    ]


async def test_both_faces_give_the_same_verdict_on_a_table_of_values(web_bot, http, api_key, tmp_path):
    table = _table(web_bot.clock())
    # Each row its own patient; a good one named so and given its own reference where it has none.
    rows = [{"name": f"Patient {index}", **values} for index, values in enumerate(table)]
    _, lines = _import(web_bot, tmp_path, rows, check_only=True)
    import_verdicts = _row_errors(lines)
    for index, row in enumerate(rows):
        status, answer = await _post(http, api_key, row)
        by_import = import_verdicts.get(index + 2)
        if status == 201:
            assert by_import is None, (row, by_import)
        elif answer.get("key") == "api_error_session_at_offset":
            # The one rule that differs, on purpose (issue 19): the import reads a spreadsheet's time without
            # an offset in CLINIC_TIMEZONE; the API keeps asking a machine to say which moment it means.
            assert status == 422 and by_import is None, (row, answer, by_import)
        else:
            assert status == 422, (row, answer)
            assert by_import == f"{answer['field']}: {answer['message']}", (row, answer, by_import)
    # The table is not all good or all bad: both verdicts are exercised.
    assert 0 < len(import_verdicts) < len(rows)


async def test_the_openapi_document_states_each_fields_rule_as_the_reader_applies_it(http):
    document = await (await http.get("/api/v1/openapi.json")).json()
    schema = document["components"]["schemas"]["EnrollmentRequest"]
    assert list(schema["properties"]) == list(FIELDS)
    assert {name: field["description"] for name, field in schema["properties"].items()} == FIELD_RULES
    pattern = re.compile(schema["properties"]["external_id"]["pattern"])
    for value in ("crm-1", "EMR-12.a_b:c@d/e+f", "x" * 128, "x" * 129, *REFUSED_EXTERNAL_IDS, "a\x00b", "Ｅ1", ""):
        try:
            parse_external_id(value)
            accepted = True
        except Refusal:
            accepted = False
        assert bool(pattern.match(value)) == accepted, value
