"""End to end: every staff view and action leaves exactly one audit row, through the chat (fake Bot API),
the JSON API (tests/bot/web/test_api_audit.py) and the command line; refused attempts leave a refusal row; the trail names who by id,
holds no patient name, phone or message text, and `aftercare audit` prints and verifies it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from bot.cli import main
from jobs.ops.api_keys import create_key
from jobs.storage.models import AuditEvent, InboxItem, Photo, Reminder
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID, bot_env

PATIENT_NAME, PHONE, WORDS = "Anna K", "+34611222333", "Is it normal that it peels?"


class Trail:
    """The audit rows written since the last look."""

    def __init__(self, bot) -> None:
        self.bot, self.seen = bot, 0

    def rows(self) -> list[AuditEvent]:
        with Session(self.bot.services.store.engine) as session:
            return list(session.exec(select(AuditEvent).order_by(AuditEvent.id)))

    def new(self) -> list[tuple]:
        rows = self.rows()
        fresh, self.seen = rows[self.seen:], len(rows)
        return [(row.action, row.outcome, row.face, row.actor, row.actor_id, row.patient_id) for row in fresh]

    def one(self, action: str, *, actor_id: int | None = STAFF_ID, patient_id: int | None = None,
            outcome: str = "success", face: str = "chat", actor: str = "person") -> None:
        assert self.new() == [(action, outcome, face, actor, actor_id, patient_id)]


def _alert_id(fake_api, chat_id: int, containing: str) -> int:
    calls = [call for call in fake_api.sent_messages(chat_id) if containing in str(call.params.get("text"))]
    return fake_api.sent_messages(chat_id).index(calls[-1]) + 1


def no_patient_data(trail: Trail) -> None:
    with Session(trail.bot.services.store.engine) as session:
        dump = " ".join(str(tuple(row)) for row in session.execute(text("SELECT * FROM audit_event")))
    assert PATIENT_NAME not in dump and PHONE not in dump and "peels" not in dump


async def test_every_staff_view_and_action_in_the_chat_leaves_one_row(harness, fake_api, clock):
    trail = Trail(harness)
    await harness.link(f"/enroll {PATIENT_NAME} phone={PHONE}")
    trail.one("enroll", patient_id=1)                  # linking is the patient's, not audited
    await harness.send(STAFF_ID, "/patient 1")
    trail.one("view_patient", patient_id=1)
    await harness.enroll("/enroll Bob B")
    trail.one("enroll", patient_id=2)
    await harness.send(STAFF_ID, "/invite 2")
    trail.one("invite", patient_id=2)
    await harness.send(STAFF_ID, "/cancel 2")
    trail.one("cancel", patient_id=2)
    harness.services.store.call(_not_continuing, patient_id=1, now=clock())  # as the patient's button does
    assert trail.new() == []
    await harness.send(STAFF_ID, "/reopen 1")
    trail.one("reopen", patient_id=1)
    clock.advance(days=35)
    await harness.send(STAFF_ID, "/session 1")
    trail.one("session", patient_id=1)
    # A refused action (an unknown patient) is no action: nothing recorded.
    await harness.send(STAFF_ID, "/cancel 99")
    assert trail.new() == []

    # Reply: the patient writes, staff answer by replying to the alert (which also takes its item).
    await harness.send(PATIENT_ID, WORDS)
    assert trail.new() == []
    await harness.send(STAFF_ID, "Yes, leave it be", reply_to_message_id=_alert_id(fake_api, STAFF_ID, "peels"))
    assert "leave it be" in fake_api.texts(PATIENT_ID)[-1]
    trail.one("reply", patient_id=1)
    [item] = harness.rows(InboxItem)
    await harness.send(STAFF_ID, f"/resolve {item.id}")
    trail.one("resolve", patient_id=1)
    await harness.send(PATIENT_ID, "And the redness?")
    [newer] = harness.rows(InboxItem, InboxItem.id != item.id)
    await harness.send(STAFF_ID, f"/take {newer.id}")
    trail.one("take", patient_id=1)

    # Staff added (the newcomer acts) and removed (the admin acts).
    await harness.send(STAFF_ID, "/staffinvite")
    assert trail.new() == []
    link = fake_api.texts(STAFF_ID)[-1].split("?start=")[1].split()[0]
    await harness.send(OTHER_ID, f"/start {link}", first_name="Lucía")
    trail.one("staff_added", actor_id=OTHER_ID)
    await harness.send(OTHER_ID, "/staffinvite")       # staff, not an admin
    trail.one("access", actor_id=OTHER_ID, outcome="refused")
    await harness.send(STAFF_ID, f"/removestaff {OTHER_ID}")
    trail.one("staff_removed")
    rows = trail.rows()
    assert [row.subject for row in rows if row.action.startswith("staff_")] == [str(OTHER_ID)] * 2
    assert rows[-3].actor_name == "Lucía" and rows[-1].actor_name == "Test"

    # A stranger at staff doors: one refusal row each, by id, without their name.
    await harness.send(OTHER_ID, "/patients", first_name="Mallory")
    trail.one("access", actor_id=OTHER_ID, outcome="refused")
    await harness.press(OTHER_ID, f"ib:{newer.id}:done", 1)
    trail.one("access", actor_id=OTHER_ID, outcome="refused")
    assert trail.rows()[-1].actor_name is None

    # The patient erases their data: recorded as the patient, by record id only.
    await harness.send(PATIENT_ID, "/delete")
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, data[0], message_id)
    trail.one("erasure", actor="patient", actor_id=None, patient_id=1)
    no_patient_data(trail)
    assert harness.services.store.call(_verify).ok


def _not_continuing(session, *, patient_id: int, now) -> None:
    from jobs.actors import PATIENT
    from jobs.patients.lifecycle import LifecycleEvent, apply_event
    from jobs.storage.models import Patient

    apply_event(session, patient=session.get(Patient, patient_id), event=LifecycleEvent.NOT_CONTINUING,
                cause=PATIENT, now=now)


def _verify(session):
    from jobs.ops import audit

    return audit.verify(session)


async def test_a_photo_review_is_one_row_though_it_resolves_the_item_too(harness, fake_api, clock):
    trail = Trail(harness)
    await harness.link()
    clock.set_local(3, 10, 5)
    await harness.dispatch()
    assert harness.rows(Reminder, Reminder.step_key == "photo_day3", Reminder.kind == "photo")[0].status == "sent"
    clock.set_local(3, 11, 0)
    await harness.send(PATIENT_ID, "", photo_file_id="patient-photo-1")
    trail.new()
    alert = fake_api.calls_to("sendPhoto")[-1]
    message_id = fake_api.sent_messages(STAFF_ID).index(alert) + 1
    [photo] = harness.rows(Photo)
    await harness.press(STAFF_ID, f"ph:{photo.id}:ok", message_id)
    assert harness.rows(Photo)[0].review == "ok"
    assert harness.rows(InboxItem)[0].status == "resolved"
    trail.one("photo_review", patient_id=1)
    assert trail.rows()[-1].subject == f"photo {photo.id}"


@pytest.fixture
def cli_env(harness, fake_api, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key, value in bot_env(fake_api, harness.services.settings.database_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("getpass.getuser", lambda: "clinic-admin")


async def test_the_command_line_records_keys_imports_exports_and_backups(harness, cli_env, tmp_path, capsys):
    trail = Trail(harness)
    await harness.link()
    trail.new()

    async def cli(*argv: str) -> int:
        return await asyncio.to_thread(main, list(argv))

    def one(action: str, **kwargs) -> AuditEvent:
        trail.one(action, face="cli", actor="operator", actor_id=None, **kwargs)
        return trail.rows()[-1]

    assert await cli("api-key", "create", "crm") == 0
    assert one("api_key_created").subject == "crm" and trail.rows()[-1].actor_name == "clinic-admin"
    assert await cli("api-key", "revoke", "crm") == 0
    assert one("api_key_revoked").subject == "crm"
    assert await cli("api-key", "list") == 0
    assert trail.new() == []
    csv_file = tmp_path / "patients.csv"
    csv_file.write_text("name,session_at\nCarla M,2026-11-24T10:00+01:00\nDavid P,2026-11-24T11:00+01:00\n",
                        encoding="utf-8")
    assert await cli("import", str(csv_file), "--bot-username", "clinic_bot", "--no-cards") == 0
    assert one("import").count == 2
    assert await cli("export", "--format", "csv", str(tmp_path / "out")) == 0
    assert one("export").count == 3
    assert await cli("export", "--format", "fhir", str(tmp_path / "out.json")) == 0
    assert one("export").count == 3
    assert await cli("backup", str(tmp_path / "copy.backup")) == 0
    one("backup")
    capsys.readouterr()

    # Reading it: the whole trail with names and clinic time, narrowed by patient, staff and day.
    assert await cli("audit") == 0
    out = capsys.readouterr().out
    assert "Test (1001)" in out and "operator clinic-admin" in out and "api_key_created" in out
    assert "2026-11-24 15:30:00" in out  # the enrollment, in clinic time (Madrid)
    assert await cli("audit", "--patient", "1") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert " enroll " in line and "patient 1 " in line
    assert await cli("audit", "--staff", str(STAFF_ID), "--since", "2026-11-24") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert " enroll " in line
    assert await cli("audit", "--since", "2027-01-01") == 0
    assert capsys.readouterr().out == ""
    assert await cli("audit", "verify") == 0
    assert "verify; head" in capsys.readouterr().out


async def test_audit_verify_exits_1_naming_the_first_row_that_does_not_match(harness, cli_env, capsys):
    await harness.link()
    await harness.send(STAFF_ID, "/patient 1")
    await harness.send(STAFF_ID, "/patient 1")
    with Session(harness.services.store.engine) as session:
        session.execute(text("UPDATE audit_event SET actor_id = 7 WHERE id = 2"))
        session.commit()
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 1
    assert "row 2 does not match: its fields do not match its hash" in capsys.readouterr().err


async def test_the_fhir_export_carries_the_trail_as_audit_events(harness, clock, tmp_path):
    bundle_models = pytest.importorskip("fhir.resources.R4B.bundle")
    from jobs.data.exporting import export_fhir

    await harness.link()
    await harness.send(STAFF_ID, "/patient 1")
    await harness.send(OTHER_ID, "/patients")
    harness.services.store.call(create_key, name="crm", now=clock())
    path = tmp_path / "export.json"
    counts = export_fhir(harness.services.store.engine, path, now=clock() + timedelta(minutes=1))
    assert counts["AuditEvent"] == 4
    bundle = bundle_models.Bundle.model_validate_json(path.read_text(encoding="utf-8"))
    events = [entry.resource for entry in bundle.entry if entry.resource.get_resource_type() == "AuditEvent"]
    enroll, view, refused, key = events
    assert (view.action, view.outcome, view.entity[0].what.reference) == ("R", "0", bundle.entry[0].fullUrl)
    assert view.agent[0].who.identifier.value == str(STAFF_ID) and view.subtype[0].code == "view_patient"
    assert (refused.outcome, refused.type.code, refused.agent[0].who.identifier.value) == ("4", "110114",
                                                                                           str(OTHER_ID))
    assert enroll.action == "C" and key.entity[0].description == "crm"
