"""``aftercare export``: every patient table as CSV, or one FHIR Bundle validated against the R4B models;
erased patients export nothing; the files are private. On SQLite and PostgreSQL (AFTERCARE_TEST_DB)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import stat
from datetime import timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, inspect
from sqlmodel import SQLModel

from bot.cli import main
from jobs.data.exporting import NOT_EXPORTED, PATIENT_TABLES, export_csv, export_fhir
from jobs.storage.models import Patient
from jobs.storage.states import PatientStatus
from jobs.storage.types import UTCDateTime
from messages.protocol import PGIC_ANSWERS
from tests.conftest import PATIENT_ID, bot_env

ERASED_ID = 4004


async def _clinic_day(harness, clock) -> dict:
    """Anna linked, sent her first messages, answered a check-in, wrote to the clinic; Dave linked and erased."""
    await harness.link("/enroll Anna K phone=+34 600 111 222")
    clock.set_local(0, 19, 5)
    await harness.dispatch()
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, [d for d in data if d.endswith(":fine")][0], message_id)
    await harness.send(PATIENT_ID, "Can I wash my face tonight?")
    await harness.link("/enroll Dave B", user_id=ERASED_ID)
    await harness.send(ERASED_ID, "/delete")
    message_id, data = harness.buttons(ERASED_ID)
    await harness.press(ERASED_ID, [d for d in data if "yes" in d.split(":")][0], message_id)
    with harness.session() as session:
        erased = session.get(Patient, 2)
        assert erased.status == PatientStatus.DELETED
    return {"anna": 1, "erased": 2}


def _read_csv(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


async def test_csv_export_has_every_table_and_nothing_of_an_erased_patient(harness, clock, tmp_path):
    ids = await _clinic_day(harness, clock)
    folder = tmp_path / "export"
    counts = export_csv(harness.services.store.engine, folder, now=clock())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert {"patient.csv", "enrollment.csv", "reminder.csv", "event.csv", "relay_link.csv", "answers.csv"} <= set(
        counts)
    [anna] = _read_csv(folder / "patient.csv")
    assert anna["name"] == "Anna K" and anna["phone"] == "+34600111222" and anna["id"] == str(ids["anna"])
    assert "booking_ref" not in anna
    for name in counts:
        for row in _read_csv(folder / name):
            owner = row.get("patient_id", row.get("id"))
            assert owner == str(ids["anna"]), (name, row)  # nothing, not even an id, of the erased patient
    [answer] = _read_csv(folder / "answers.csv")
    assert answer["answer"] == "fine" and answer["step_key"] == "evening_checkin"
    assert answer["answered_at"].endswith("+00:00")
    assert counts["relay_link.csv"] == 1
    reminders = _read_csv(folder / "reminder.csv")
    assert {r["status"] for r in reminders} >= {"sent", "pending"}
    # Round trip: each CSV reads back to the rows in the database.
    with harness.session() as session:
        from sqlmodel import select

        from jobs.storage.models import Reminder

        stored = session.exec(select(Reminder).where(Reminder.patient_id == ids["anna"]).order_by(Reminder.id)).all()
    assert [(int(r["id"]), r["step_key"], r["due_at"]) for r in reminders] == [
        (r.id, r.step_key, r.due_at.isoformat(timespec="seconds")) for r in stored]
    # A second export into the same folder is refused, and writes nothing.
    from jobs.data.exporting import ExportError

    with pytest.raises(ExportError, match="already exists"):
        export_csv(harness.services.store.engine, folder, now=clock())


async def test_fhir_bundle_validates_and_leaves_out_the_erased(harness, clock, tmp_path):
    bundle_models = pytest.importorskip("fhir.resources.R4B.bundle")
    ids = await _clinic_day(harness, clock)
    path = tmp_path / "export.json"
    titles = {"evening_checkin": "Evening check-in"}
    counts = export_fhir(harness.services.store.engine, path, now=clock(), titles=titles)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = json.loads(path.read_text(encoding="utf-8"))
    bundle = bundle_models.Bundle.model_validate(raw)  # every resource checked against its R4B model
    kinds = [entry.resource.get_resource_type() for entry in bundle.entry]
    assert counts["Patient"] == 1 and kinds.count("Patient") == 1
    assert counts["CarePlan"] == 1 and counts["QuestionnaireResponse"] == 1
    protocol = harness.services.catalog.protocol("microneedling")
    plan = [step for step in protocol.steps if step.applies(session_number=1, series_length=3)]
    assert counts["CommunicationRequest"] == len(plan)  # the whole plan of session 1 of 3
    assert counts["Communication"] == 3                 # 2 sent (what to expect, the check-in) + 1 received
    [patient] = [e.resource for e in bundle.entry if e.resource.get_resource_type() == "Patient"]
    assert patient.name[0].text == "Anna K" and patient.telecom[0].value == "+34600111222"
    [answer] = [e.resource for e in bundle.entry if e.resource.get_resource_type() == "QuestionnaireResponse"]
    assert answer.item[0].answer[0].valueCoding.code == "fine" and answer.item[0].text == "Evening check-in"
    # References resolve inside the bundle.
    urls = {entry.fullUrl for entry in bundle.entry}
    text = path.read_text(encoding="utf-8")
    for entry in raw["entry"]:
        for value in _references(entry["resource"]):
            assert value in urls, value
    # The erased patient: no resource, no reference, not even the id.
    assert f"patient-{ids['erased']}" not in text and "Dave" not in text
    assert not any(f"patient/{ids['erased']}" in str(e) for e in raw["entry"])


def _references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference":
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


async def test_bookings_become_appointments_when_the_table_exists(harness, clock, tmp_path):
    """The booking table belongs to the booking hooks; where it exists, each booking is an Appointment."""
    pytest.importorskip("fhir.resources.R4B.bundle")
    from fhir.resources.R4B.bundle import Bundle

    await harness.link()
    engine = harness.services.store.engine
    if "booking" in inspect(engine).get_table_names():
        pytest.skip("the booking table is the hooks' own here: covered with their rows")
    metadata = MetaData()
    booking = Table("booking", metadata, Column("id", Integer, primary_key=True),
                    Column("patient_id", Integer), Column("booking_id", String(64)),
                    Column("status", String(16)), Column("start_at", UTCDateTime()))
    metadata.create_all(engine)
    try:
        with engine.begin() as connection:
            connection.execute(booking.insert(), [{"patient_id": 1, "booking_id": "cal-1", "status": "booked",
                                                   "start_at": clock() + timedelta(weeks=5)}])
        path = tmp_path / "export.json"
        counts = export_fhir(engine, path, now=clock())
        assert counts["Appointment"] == 1
        bundle = Bundle.model_validate_json(path.read_text(encoding="utf-8"))
        [appointment] = [e.resource for e in bundle.entry if e.resource.get_resource_type() == "Appointment"]
        assert appointment.status == "booked" and appointment.identifier[0].value == "cal-1"
        folder = tmp_path / "csv"
        assert export_csv(engine, folder, now=clock())["booking.csv"] == 1
    finally:
        metadata.drop_all(engine)


def test_every_table_with_patient_data_is_exported_or_says_why_not():
    """A table another change adds with a patient column must be put in PATIENT_TABLES or NOT_EXPORTED."""
    for table in SQLModel.metadata.sorted_tables:
        refers = any(fk.column.table.name == "patient" for fk in table.foreign_keys) or "patient_id" in table.c
        if refers or table.name == "patient":
            assert table.name in PATIENT_TABLES or table.name in NOT_EXPORTED, table.name


async def test_the_command_writes_both_formats(harness, fake_api, clock, tmp_path, monkeypatch, capsys):
    await harness.link()
    monkeypatch.chdir(tmp_path)
    for key, value in bot_env(fake_api, harness.services.settings.database_url).items():
        monkeypatch.setenv(key, value)
    assert await asyncio.to_thread(main, ["export", "--format", "csv", str(tmp_path / "out")]) == 0
    assert "patient.csv" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["export", "--format", "fhir", str(tmp_path / "out.json")]) == 0
    assert "CommunicationRequest" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["export", "--format", "fhir", str(tmp_path / "out.json")]) == 2
    assert "already exists" in capsys.readouterr().err


async def test_outcome_answers_are_questionnaire_responses_to_the_scales_questionnaire(harness, clock, tmp_path):
    """An outcome answer (changed once) and a worse one: read back from the Bundle and from the CSV files."""
    bundle_models = pytest.importorskip("fhir.resources.R4B.bundle")
    from bot.cli import outcome_scales

    await harness.link("/enroll Anna K session=3/3")
    await harness.link("/enroll Ben session=3/3", user_id=ERASED_ID + 1)
    clock.set_local(30, 11, 5)
    await harness.dispatch()
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, data[2], message_id)  # a little improved...
    await harness.press(PATIENT_ID, data[1], message_id)  # ...no: much improved
    message_id, data = harness.buttons(ERASED_ID + 1)
    await harness.press(ERASED_ID + 1, data[5], message_id)  # much worse
    catalog = harness.services.catalog
    path = tmp_path / "export.json"
    counts = export_fhir(harness.services.store.engine, path, now=clock(),
                         titles={"outcome_day30": "One month after the series"}, scales=outcome_scales(catalog, "es"))
    bundle = bundle_models.Bundle.model_validate(json.loads(path.read_text(encoding="utf-8")))
    resources = [entry.resource for entry in bundle.entry]
    [questionnaire] = [r for r in resources if r.get_resource_type() == "Questionnaire"]
    assert counts["Questionnaire"] == 1 and questionnaire.url == "urn:aftercare:questionnaire:microneedling:pgic"
    options = [(o.valueCoding.code, o.valueCoding.display) for o in questionnaire.item[0].answerOption]
    assert options[0] == ("vmi", "Muchísimo mejor") and [code for code, _ in options] == list(PGIC_ANSWERS)
    responses = [r for r in resources if r.get_resource_type() == "QuestionnaireResponse"
                 and r.questionnaire == questionnaire.url]
    answers = [(r.subject.reference, r.item[0].linkId, r.item[0].answer[0].valueCoding.code,
                r.item[0].answer[0].valueCoding.display, r.item[0].text) for r in responses]
    by_patient = {entry.resource.id: entry.fullUrl for entry in bundle.entry}
    assert answers == [
        (by_patient["patient-1"], "outcome", "mi", "Bastante mejor", "One month after the series"),
        (by_patient["patient-2"], "outcome", "mw", "Bastante peor", "One month after the series"),
    ]
    assert responses[0].authored.isoformat().startswith("2026-12-24T10:05")  # when it was changed (UTC)
    # The CSV export's outcomes file: one row per step answered, the latest answer, how often changed.
    export_csv(harness.services.store.engine, tmp_path / "csv", now=clock())
    rows = _read_csv(tmp_path / "csv" / "outcome_answer.csv")
    assert [(r["patient_id"], r["step_key"], r["scale"], r["answer"], r["worse"], r["changes"]) for r in rows] == [
        ("1", "outcome_day30", "pgic", "mi", "false", "1"), ("2", "outcome_day30", "pgic", "mw", "true", "0")]


async def test_no_exported_cell_can_run_in_a_spreadsheet(harness, clock, tmp_path):
    """A patient's name or words that a spreadsheet would take for a formula get a quote in front."""
    from sqlalchemy import update

    await _clinic_day(harness, clock)
    with harness.session() as session:
        session.exec(update(Patient).where(Patient.id == 1).values(name="=HYPERLINK(\"https://evil.example\")"))
        session.commit()
    folder = tmp_path / "export"
    export_csv(harness.services.store.engine, folder, now=clock())
    [anna] = _read_csv(folder / "patient.csv")
    assert anna["name"] == "'=HYPERLINK(\"https://evil.example\")"
    assert anna["phone"] == "+34600111222"  # a plain number cannot run: it stays the number
    for path in folder.iterdir():
        for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8"))):
            assert not any(cell.startswith(("=", "@", "\t", "\r")) for cell in row), (path.name, row)


@pytest.mark.parametrize("fmt", ["csv", "fhir"])
async def test_a_dangling_symlink_as_the_target_is_one_clear_line(harness, fake_api, tmp_path, monkeypatch, capsys,
                                                                   fmt):
    """A link to nowhere is not a new folder or file: the command says so in one line and follows nothing."""
    await harness.link()
    for key, value in bot_env(fake_api, harness.services.settings.database_url).items():
        monkeypatch.setenv(key, value)
    target = tmp_path / "export"
    target.symlink_to(tmp_path / "elsewhere")
    assert await asyncio.to_thread(main, ["export", "--format", fmt, str(target)]) == 2
    err = capsys.readouterr().err
    # (Another test's `run` may have left a log handler on stderr: only the command's own lines count.)
    said = [line for line in err.splitlines() if line.startswith("aftercare:")]
    assert len(said) == 1 and "symbolic link" in said[0], err
    assert not (tmp_path / "elsewhere").exists()


async def test_fhir_communications_say_who_wrote_what(harness, fake_api, clock, tmp_path):
    """Issue 19: every relay_link (staff alerts included) was exported as a message from the patient, with no
    words; now the patient's messages come from the patient with their text, reminders and staff replies from
    the clinic with theirs, and staff alerts are not patient messages."""
    from fhir.resources.R4B.bundle import Bundle

    from jobs.storage.models import ConversationMessage
    from tests.conftest import STAFF_ID

    await _clinic_day(harness, clock)  # Anna wrote "Can I wash my face tonight?"; Dave wrote nothing, erased
    alert_id = fake_api.texts(STAFF_ID).index(next(t for t in fake_api.texts(STAFF_ID) if "wash my face" in t)) + 1
    await harness.send(STAFF_ID, "Yes, with lukewarm water only.", reply_to_message_id=alert_id)
    assert "lukewarm" in fake_api.texts(PATIENT_ID)[-1]
    path = tmp_path / "export.json"
    export_fhir(harness.services.store.engine, path, now=clock(), titles={"evening_checkin": "Evening check-in"},
                clinic="Clínica Sol", render=lambda reminder, patient, enrollment: f"text of {reminder['step_key']}")
    bundle = Bundle.model_validate(json.loads(path.read_text(encoding="utf-8")))
    resources = [entry.resource for entry in bundle.entry]
    [clinic] = [r for r in resources if r.get_resource_type() == "Organization"]
    assert clinic.name == "Clínica Sol"
    urls = {entry.resource.id: entry.fullUrl for entry in bundle.entry}
    patient_ref, clinic_ref = urls["patient-1"], urls[clinic.id]
    communications = [r for r in resources if r.get_resource_type() == "Communication"]

    def sent_by(reference):
        return [c for c in communications if c.sender is not None and c.sender.reference == reference]

    from_patient = sent_by(patient_ref)
    assert [c.payload[0].contentString for c in from_patient] == ["Can I wash my face tonight?"]
    assert from_patient[0].recipient[0].reference == clinic_ref and from_patient[0].received is not None
    from_clinic = sent_by(clinic_ref)
    assert {c.payload[0].contentString for c in from_clinic} == {
        "text of expect", "text of evening_checkin", "Yes, with lukewarm water only."}
    assert all(c.recipient[0].reference == patient_ref for c in from_clinic)
    assert len(communications) == len(from_patient) + len(from_clinic)  # no alert passes for a patient's message
    assert not any("relayed to the clinic's staff" in str(c.note) for c in communications)
    [_, kept] = [len(harness.rows(ConversationMessage, ConversationMessage.direction == d))
                 for d in ("from_patient", "from_clinic")]
    assert kept == 1
    # The CSV export has the staff replies too.
    folder = tmp_path / "csv"
    export_csv(harness.services.store.engine, folder, now=clock())
    rows = _read_csv(folder / "conversation_message.csv")
    assert [(r["direction"], r["text"]) for r in rows] == [("from_patient", "Can I wash my face tonight?"),
                                                          ("from_clinic", "Yes, with lukewarm water only.")]
