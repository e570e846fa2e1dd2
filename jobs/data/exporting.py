"""Exports of every patient's data: CSV files (one per table) or one FHIR R4 Bundle.

What is exported is a list (:data:`PATIENT_TABLES`): each table that holds patient data, with the
column that names the patient. A table another part of the project adds later (an inbox, bookings)
is exported when it is in the list and exists in the database, its columns read from the database
itself; ``tests/jobs/data/test_export.py`` fails when a table with a ``patient_id`` column is neither
listed nor in :data:`NOT_EXPORTED`, so a new table must be decided on.

An erased patient exports nothing: no row of theirs in any table, not even their id. Rows that
belong to no patient (anonymous counts) are not patient data and are left out too. The export
reads one snapshot of the database (a deferred transaction on SQLite, so the bot's writers are not
locked out; REPEATABLE READ on PostgreSQL) and writes files readable by their owner only.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event, inspect, select
from sqlmodel import Session, SQLModel

from jobs.data.cells import SafeWriter
from jobs.data.targets import target_taken
from jobs.ops import audit
from jobs.storage import models  # noqa: F401 - registers every table on SQLModel.metadata
from jobs.storage.states import PatientStatus, ReminderStatus

# Each table holding patient data, and the column naming the patient its row belongs to.
PATIENT_TABLES: dict[str, str] = {
    "patient": "id",
    "enrollment": "patient_id",
    "reminder": "patient_id",
    "event": "patient_id",
    "relay_link": "patient_id",
    "photo": "patient_id",        # photo check-ins: Telegram's file id and the staff review
    "staff_note": "patient_id",   # the team's notes from the patient's topic
    "inbox_item": "patient_id",   # the staff inbox (issue 12), where it exists
    "booking": "patient_id",      # bookings from the booking hooks (issue 13), where they exist
    "conversation_message": "patient_id",  # what the patient wrote and what staff wrote back (issue 19)
    "outcome_answer": "patient_id",  # how the skin turned out, on each outcome step's scale (outcome_answer.csv)
    "photo_consent": "patient_id",  # may the clinic keep their photos to compare before and after, and since when
}
# Tables with a patient column that are not exported, and why.
NOT_EXPORTED: dict[str, str] = {
    "invite": "hashes of one-time links: nothing a patient or another system can use",
    "staff_notice": "the staff outbox: messages on their way to staff chats, emptied once sent, then pruned",
    "staff_mention": "ids of the bot's messages in staff chats, kept to edit them at erasure: meaningless outside",
    "audit_event": "the audit trail: in the FHIR export as AuditEvent resources (not per patient: who saw whom)",
}
# Columns never exported: secrets, or references only meaningful inside this database.
SECRET_COLUMNS = {("patient", "booking_ref"), ("booking", "secret")}
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
BATCH_ROWS = 5_000
URN = uuid.UUID("8f0c6f3e-2a4b-5c1d-9e7f-a1b2c3d4e5f6")  # the namespace of this export's resource ids
ANSWER_SYSTEM = "urn:aftercare:checkin-answer"
# An outcome scale of a protocol: the Questionnaire's canonical url, and its answers' code system.
QUESTIONNAIRE_URL = "urn:aftercare:questionnaire:{protocol}:{scale}"
SCALE_SYSTEM = "urn:aftercare:outcome-scale:{protocol}:{scale}"
OUTCOME_LINK_ID = "outcome"
# The question every outcome scale answers (the step's own wording is in the texts, per language).
OUTCOME_QUESTION = "Compared with before the treatment, how has the skin changed overall?"
STEP_SYSTEM = "urn:aftercare:step"
MESSAGE_SYSTEM = "urn:aftercare:message"  # patient-message | staff-reply
# Follow-ups that tell staff (not the patient) a step went unanswered: not a message to the patient.
STAFF_ONLY_KINDS = {"silence"}
# A reminder's text as the patient read it: (reminder row, patient row, enrollment row) -> text, or None.
Render = Callable[[Mapping, Mapping, Mapping], "str | None"]


class ExportError(ValueError):
    """The export cannot be written where it was asked (the target exists, say)."""


# --------------------------------------------------------------------------- reading


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One consistent read of the whole database that takes no write lock."""
    if engine.dialect.name == "sqlite":
        # The bot's engine begins every transaction with BEGIN IMMEDIATE (the write lock); a reader needs
        # none: a deferred transaction in WAL mode sees one snapshot from its first read to its end.
        reader = create_engine(engine.url, hide_parameters=True, connect_args={"check_same_thread": False})

        @event.listens_for(reader, "connect")
        def _connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA query_only=ON")

        @event.listens_for(reader, "begin")
        def _begin(connection) -> None:
            connection.exec_driver_sql("BEGIN")

        try:
            with reader.connect() as connection, connection.begin():
                yield connection
        finally:
            reader.dispose()
        return
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection, connection.begin():
        yield connection


def _tables(connection: Connection) -> dict[str, Table]:
    """The patient tables this database has: the models' own, or as the database describes them."""
    present = set(inspect(connection).get_table_names())
    found: dict[str, Table] = {}
    reflected = MetaData()
    for name in PATIENT_TABLES:
        if name not in present:
            continue
        model_table = SQLModel.metadata.tables.get(name)
        found[name] = model_table if model_table is not None else Table(name, reflected, autoload_with=connection)
    return found


def exported_patient_ids(connection: Connection) -> set[int]:
    """Every patient who has not erased their data."""
    patient = SQLModel.metadata.tables["patient"]
    return set(connection.execute(select(patient.c.id).where(patient.c.status != PatientStatus.DELETED.value))
               .scalars())


def _rows(connection: Connection, table: Table, keep: set[int]) -> Iterator[dict]:
    column = table.c[PATIENT_TABLES[table.name]]
    statement = select(table).where(column.is_not(None)).order_by(*table.primary_key.columns)
    result = connection.execution_options(yield_per=BATCH_ROWS).execute(statement)
    for row in result.mappings():
        if row[column.name] in keep:
            yield {key: value for key, value in row.items() if (table.name, key) not in SECRET_COLUMNS}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _instant(value: datetime) -> str:
    """An instant as ISO 8601 in UTC with seconds ("2026-11-24T14:30:00+00:00"); naive values are UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- files


def _private_dir(path: Path) -> None:
    if (taken := target_taken(path, what="folder")) is not None:
        raise ExportError(taken)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=False)
    except FileNotFoundError:
        raise ExportError(f"the folder {path.parent} does not exist") from None
    except FileExistsError:  # made meanwhile
        raise ExportError(target_taken(path, what="folder") or f"{path} already exists") from None
    os.chmod(path, PRIVATE_DIR_MODE)  # whatever the umask


@contextmanager
def _private_file(path: Path, *, binary: bool = False):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:  # O_EXCL: a link, even one to nowhere, is never followed
        raise ExportError(target_taken(path) or f"{path} already exists: give a new file") from None
    except FileNotFoundError:
        raise ExportError(f"the folder {path.parent} does not exist") from None
    os.fchmod(fd, PRIVATE_FILE_MODE)
    handle = os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""}))
    try:
        with handle:
            yield handle
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def export_csv(engine: Engine, folder: Path, *, now: datetime) -> dict[str, int]:
    """One ``<table>.csv`` per patient table (and ``answers.csv``) in the new private ``folder``; rows written."""
    _private_dir(folder)
    counts: dict[str, int] = {}
    with snapshot(engine) as connection:
        keep = exported_patient_ids(connection)
        for name, table in _tables(connection).items():
            columns = [column.name for column in table.columns if (name, column.name) not in SECRET_COLUMNS]
            with _private_file(folder / f"{name}.csv") as handle:
                writer = SafeWriter(handle)
                writer.writerow(columns)
                count = 0
                for row in _rows(connection, table, keep):
                    writer.writerow([_text(row[column]) for column in columns])
                    count += 1
            counts[f"{name}.csv"] = count
        reminder = SQLModel.metadata.tables["reminder"]
        with _private_file(folder / "answers.csv") as handle:
            writer = SafeWriter(handle)
            columns = ["reminder_id", "patient_id", "enrollment_id", "step_key", "kind", "answer", "answered_at"]
            writer.writerow(columns)
            count = 0
            statement = (select(reminder.c.id, reminder.c.patient_id, reminder.c.enrollment_id, reminder.c.step_key,
                                reminder.c.kind, reminder.c.answer, reminder.c.answered_at)
                         .where(reminder.c.answer.is_not(None)).order_by(reminder.c.id))
            for row in connection.execution_options(yield_per=BATCH_ROWS).execute(statement):
                if row.patient_id in keep:
                    writer.writerow([_text(value) for value in row])
                    count += 1
            counts["answers.csv"] = count
        exported = len(keep)
    _record_export(engine, patients=exported, now=now)
    return counts


# --------------------------------------------------------------------------- FHIR


def _urn(kind: str, key: object) -> str:
    return f"urn:uuid:{uuid.uuid5(URN, f'{kind}/{key}')}"


def _id(kind: str, key: object) -> str:
    return f"{kind.lower()}-{key}"


def _ref(kind: str, key: object) -> dict:
    return {"reference": _urn(kind, key)}


def _entry(resource: dict, key: object) -> dict:
    return {"fullUrl": _urn(resource["resourceType"], key), "resource": resource}


_REQUEST_STATUS = {
    ReminderStatus.PENDING.value: "active", ReminderStatus.WAITING.value: "active",
    ReminderStatus.CLAIMED.value: "active", ReminderStatus.HELD.value: "on-hold",
    ReminderStatus.SENT.value: "completed", ReminderStatus.SKIPPED.value: "revoked",
    ReminderStatus.FAILED.value: "revoked", ReminderStatus.CANCELLED.value: "revoked",
}
_OPEN = {ReminderStatus.PENDING.value, ReminderStatus.WAITING.value, ReminderStatus.CLAIMED.value,
         ReminderStatus.HELD.value}


def fhir_resources(connection: Connection, *, titles: Mapping[str, str] | None = None, clinic: str | None = None,
                   render: Render | None = None,
                   scales: Mapping[tuple[str, str], list[tuple[str, str]]] | None = None) -> Iterator[dict]:
    """Every resource of the Bundle, in order: the clinic, patients, care plans, requests and sent
    communications, the conversation, answers, outcome questionnaires and their responses, appointments
    (bookings), the audit trail (AuditEvents).

    Communications say who wrote what: the clinic (an ``Organization``) sent each reminder (its text by
    ``render``, else its title) and each staff reply, with their words; the patient sent their messages,
    with their words. Staff alerts (a silence noticed, a booking) are staff work, not messages: left out.
    ``scales``: each (protocol, scale name)'s answers as (code, label), for the Questionnaires; a scale
    not given (its protocol is gone) lists the answers that were given.
    """
    titles = titles or {}
    tables = _tables(connection)
    keep = exported_patient_ids(connection)
    yield _entry({"resourceType": "Organization", "id": _id("Organization", "clinic"), "active": True,
                  "name": clinic or "The clinic"}, "clinic")
    patient_status: dict[int, str] = {}
    # The rows a reminder's text is rendered from (only when it is: they are kept in memory meanwhile).
    rows: dict[str, dict[int, Mapping]] | None = {"patient": {}, "enrollment": {}} if render is not None else None
    yield from _patients(connection, tables, keep, status_of=patient_status, rows=rows)
    yield from _care_plans(connection, tables, keep, patient_status=patient_status, rows=rows)
    answered: list[tuple[Mapping, str]] = []
    yield from _requests(connection, tables, keep, titles=titles, answered=answered,
                         text_of=_texts(render, rows) if render is not None and rows is not None else None)
    if "conversation_message" in tables:
        yield from _conversation(connection, tables["conversation_message"], keep)
    yield from _answers(answered)
    if "outcome_answer" in tables:
        yield from _outcomes(connection, tables["outcome_answer"], keep, titles=titles, scales=scales or {})
    if "booking" in tables:
        yield from _appointments(connection, tables["booking"], keep)
    if "audit_event" in inspect(connection).get_table_names():
        yield from _audit_events(connection, keep)


def _texts(render: Render, rows: dict[str, dict[int, Mapping]]) -> Callable[[Mapping], str | None]:
    """A reminder row's text, rendered from its patient's and cycle's rows."""
    return lambda row: render(row, rows["patient"].get(row["patient_id"], {}),
                              rows["enrollment"].get(row["enrollment_id"], {}))


def _patients(connection: Connection, tables: dict[str, Table], keep: set[int], *,
              status_of: dict[int, str], rows: dict[str, dict[int, Mapping]] | None = None) -> Iterator[dict]:
    """A Patient per exported patient; their statuses are noted in ``status_of`` for the care plans."""
    for row in _rows(connection, tables["patient"], keep):
        status_of[row["id"]] = row["status"]
        if rows is not None:
            rows["patient"][row["id"]] = row
        resource = {"resourceType": "Patient", "id": _id("Patient", row["id"]),
                    "identifier": [{"system": "urn:aftercare:patient", "value": str(row["id"])}],
                    "active": row["status"] not in (PatientStatus.CANCELLED.value, PatientStatus.SUPERSEDED.value),
                    "name": [{"text": row["name"]}]}
        if row.get("external_id"):
            resource["identifier"].append({"system": "urn:aftercare:external-id", "value": row["external_id"]})
        if row.get("phone"):
            resource["telecom"] = [{"system": "phone", "value": row["phone"], "use": "mobile"}]
        if row.get("locale"):
            resource["communication"] = [{"language": {"coding": [{"system": "urn:ietf:bcp:47",
                                                                   "code": row["locale"]}]}}]
        yield _entry(resource, row["id"])


def _care_plans(connection: Connection, tables: dict[str, Table], keep: set[int], *,
                patient_status: Mapping[int, str], rows: dict[str, dict[int, Mapping]] | None = None) -> Iterator[dict]:
    """A CarePlan per cycle: active while something of it is still to come, revoked if staff cancelled."""
    open_cycles = {row.enrollment_id for row in connection.execute(
        select(tables["reminder"].c.enrollment_id).where(tables["reminder"].c.status.in_(_OPEN)).distinct())}
    for row in _rows(connection, tables["enrollment"], keep):
        if rows is not None:
            rows["enrollment"][row["id"]] = row
        status = "active" if row["id"] in open_cycles else (
            "revoked" if patient_status.get(row["patient_id"]) == PatientStatus.CANCELLED.value else "completed")
        yield _entry({
            "resourceType": "CarePlan", "id": _id("CarePlan", row["id"]), "status": status, "intent": "plan",
            "title": f"Aftercare: {row['protocol_name']}",
            "description": f"Session {row['session_number']} of {row['series_length']}, planned from "
                           f"{row['protocol_name']} (version {row['protocol_version']})",
            "subject": _ref("Patient", row["patient_id"]),
            "period": {"start": _instant(row["session_at"])}, "created": _instant(row["created_at"]),
        }, row["id"])


def _requests(connection: Connection, tables: dict[str, Table], keep: set[int], *, titles: Mapping[str, str],
              answered: list[tuple[Mapping, str]],
              text_of: Callable[[Mapping], str | None] | None = None) -> Iterator[dict]:
    """A CommunicationRequest per reminder and a Communication from the clinic per one sent to the patient
    (its text by ``text_of``, else its title); answered check-ins are collected in ``answered`` (their
    responses come after every communication)."""
    for row in _rows(connection, tables["reminder"], keep):
        title = titles.get(row["step_key"], row["step_key"])
        request = {
            "resourceType": "CommunicationRequest", "id": _id("CommunicationRequest", row["id"]),
            "status": _REQUEST_STATUS.get(row["status"], "unknown"),
            "basedOn": [_ref("CarePlan", row["enrollment_id"])], "subject": _ref("Patient", row["patient_id"]),
            "recipient": [_ref("Patient", row["patient_id"])],
            "category": [{"coding": [{"system": STEP_SYSTEM, "code": row["kind"]}]}],
            "payload": [{"contentString": title}], "occurrenceDateTime": _instant(row["due_at"]),
        }
        if row["outcome"] and request["status"] == "revoked":
            request["statusReason"] = {"text": row["outcome"]}
        yield _entry(request, row["id"])
        if row["status"] == ReminderStatus.SENT.value and row["sent_at"] is not None \
                and row["kind"] not in STAFF_ONLY_KINDS:
            words = text_of(row) if text_of is not None else None
            yield _entry({
                "resourceType": "Communication", "id": _id("Communication", f"sent-{row['id']}"),
                "status": "completed", "basedOn": [_ref("CommunicationRequest", row["id"])],
                "subject": _ref("Patient", row["patient_id"]), "recipient": [_ref("Patient", row["patient_id"])],
                "sender": _ref("Organization", "clinic"),
                "category": [{"coding": [{"system": STEP_SYSTEM, "code": row["kind"]}]}],
                "topic": {"text": title}, "payload": [{"contentString": words or title}],
                "sent": _instant(row["sent_at"]),
            }, f"sent-{row['id']}")
        if row["answer"] and row["kind"] == "checkin":
            answered.append((row, title))


def _conversation(connection: Connection, table: Table, keep: set[int]) -> Iterator[dict]:
    """What the patient wrote (from the patient, with their words) and what staff wrote back (from the clinic)."""
    for row in _rows(connection, table, keep):
        patient, clinic = _ref("Patient", row["patient_id"]), _ref("Organization", "clinic")
        from_patient = row["direction"] == "from_patient"
        resource = {
            "resourceType": "Communication", "id": _id("Communication", f"message-{row['id']}"),
            "status": "completed", "subject": patient,
            "sender": patient if from_patient else clinic, "recipient": [clinic if from_patient else patient],
            "category": [{"coding": [{"system": MESSAGE_SYSTEM,
                                      "code": "patient-message" if from_patient else "staff-reply"}]}],
            ("received" if from_patient else "sent"): _instant(row["at"]),
        }
        if row["text"]:
            resource["payload"] = [{"contentString": row["text"]}]
        if row["kind"] != "text":
            resource["note"] = [{"text": f"with a {row['kind']} (kept on Telegram, not in this export)"}]
        yield _entry(resource, f"message-{row['id']}")


def _answers(answered: list[tuple[Mapping, str]]) -> Iterator[dict]:
    """A QuestionnaireResponse per answered check-in."""
    for row, title in answered:
        resource = {
            "resourceType": "QuestionnaireResponse", "id": _id("QuestionnaireResponse", row["id"]),
            "status": "completed", "basedOn": [_ref("CarePlan", row["enrollment_id"])],
            "subject": _ref("Patient", row["patient_id"]), "author": _ref("Patient", row["patient_id"]),
            "item": [{"linkId": row["step_key"], "text": title,
                      "answer": [{"valueCoding": {"system": ANSWER_SYSTEM, "code": row["answer"]}}]}],
        }
        if row["answered_at"] is not None:
            resource["authored"] = _instant(row["answered_at"])
        yield _entry(resource, row["id"])


def _outcomes(connection: Connection, table: Table, keep: set[int], *, titles: Mapping[str, str],
              scales: Mapping[tuple[str, str], list[tuple[str, str]]]) -> Iterator[dict]:
    """A Questionnaire per outcome scale used, then a QuestionnaireResponse per outcome answer."""
    rows = list(_rows(connection, table, keep))
    used: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        key = (row["protocol_name"], row["scale"])
        used.setdefault(key, dict(scales.get(key, ()))).setdefault(row["answer"], row["answer"])
    for (protocol, scale), options in used.items():
        url = QUESTIONNAIRE_URL.format(protocol=protocol, scale=scale)
        system = SCALE_SYSTEM.format(protocol=protocol, scale=scale)
        yield _entry({
            "resourceType": "Questionnaire", "id": _id("Questionnaire", f"{protocol}-{scale}"), "url": url,
            "status": "active", "title": f"Outcome after the series ({scale}, {protocol})",
            "item": [{"linkId": OUTCOME_LINK_ID, "text": OUTCOME_QUESTION, "type": "choice", "required": True,
                      "answerOption": [{"valueCoding": {"system": system, "code": code, "display": label}}
                                       for code, label in options.items()]}],
        }, f"{protocol}/{scale}")
    for row in rows:
        protocol, scale = row["protocol_name"], row["scale"]
        yield _entry({
            "resourceType": "QuestionnaireResponse", "id": _id("QuestionnaireResponse", f"outcome-{row['id']}"),
            "questionnaire": QUESTIONNAIRE_URL.format(protocol=protocol, scale=scale), "status": "completed",
            "basedOn": [_ref("CarePlan", row["enrollment_id"])], "subject": _ref("Patient", row["patient_id"]),
            "author": _ref("Patient", row["patient_id"]),
            "authored": _instant(row["changed_at"] or row["answered_at"]),
            "item": [{"linkId": OUTCOME_LINK_ID, "text": titles.get(row["step_key"], row["step_key"]),
                      "answer": [{"valueCoding": {"system": SCALE_SYSTEM.format(protocol=protocol, scale=scale),
                                                  "code": row["answer"],
                                                  "display": used[(protocol, scale)][row["answer"]]}}]}],
        }, f"outcome-{row['id']}")


# DICOM's event types (FHIR's AuditEvent.type): a patient record used, data exported or imported,
# someone let in or refused, who may act changed.
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_AUDIT_TYPE = {
    audit.Action.EXPORT: ("110106", "Export"), audit.Action.IMPORT: ("110107", "Import"),
    audit.Action.BACKUP: ("110106", "Export"), audit.Action.RESTORE: ("110107", "Import"),
    audit.Action.ACCESS: ("110114", "User Authentication"), audit.Action.SIGN_IN: ("110114", "User Authentication"),
    audit.Action.STAFF_ADDED: ("110137", "User Security Attributes Changed"),
    audit.Action.STAFF_REMOVED: ("110137", "User Security Attributes Changed"),
    audit.Action.API_KEY_CREATED: ("110137", "User Security Attributes Changed"),
    audit.Action.API_KEY_REVOKED: ("110137", "User Security Attributes Changed"),
    audit.Action.AUDIT_PRUNED: ("110101", "Audit Log Used"),
}
_AUDIT_OUTCOME = {audit.Outcome.SUCCESS: "0", audit.Outcome.REFUSED: "4", audit.Outcome.FAILED: "8"}
_AGENT_SYSTEM = {"person": "urn:aftercare:telegram-user", "api_key": "urn:aftercare:api-key",
                 "operator": "urn:aftercare:operator"}


def _audit_events(connection: Connection, keep: set[int]) -> Iterator[dict]:
    """The audit trail as FHIR AuditEvents (an erased patient's rows stay, without naming the patient)."""
    table = SQLModel.metadata.tables["audit_event"]
    for record in connection.execution_options(yield_per=BATCH_ROWS).execute(select(table).order_by(table.c.id)):
        row = record._mapping
        action = audit.Action(row["action"])
        code, display = _AUDIT_TYPE.get(action, ("110110", "Patient Record"))
        agent: dict[str, Any] = {"requestor": row["actor"] != "system",
                       "type": {"coding": [{"system": "urn:aftercare:actor", "code": row["actor"]}]}}
        identity = row["actor_id"] if row["actor_id"] is not None else row["actor_name"]
        if row["actor"] in _AGENT_SYSTEM and identity is not None:
            agent["who"] = {"identifier": {"system": _AGENT_SYSTEM[row["actor"]], "value": str(identity)}}
            if row["actor_name"]:
                agent["who"]["display"] = row["actor_name"]
        elif row["actor"] == "patient" and row["patient_id"] in keep:
            agent["who"] = _ref("Patient", row["patient_id"])
        else:
            agent["name"] = row["actor"]
        resource: dict[str, Any] = {
            "resourceType": "AuditEvent", "id": _id("AuditEvent", row["id"]),
            "type": {"system": _DCM, "code": code, "display": display},
            "subtype": [{"system": "urn:aftercare:audit-action", "code": action.value}],
            "action": audit.FHIR_ACTION.get(action, "U"), "recorded": _instant(row["at"]),
            "outcome": _AUDIT_OUTCOME[audit.Outcome(row["outcome"])], "agent": [agent],
            "source": {"observer": {"display": "Aftercare bot"},
                       "type": [{"system": "urn:aftercare:face", "code": row["face"]}]},
        }
        entities: list[dict[str, Any]] = []
        if row["patient_id"] in keep:
            entities.append({"what": _ref("Patient", row["patient_id"])})
        if row["count"] is not None:
            unit = "patients" if action in (audit.Action.EXPORT, audit.Action.IMPORT) else "rows"
            entities.append({"description": f"{row['count']} {unit}"})
        if row["subject"]:
            entities.append({"description": row["subject"]})
        if entities:
            resource["entity"] = entities
        yield _entry(resource, row["id"])


def _first(row: Mapping, *names: str):
    return next((row[name] for name in names if name in row and row[name] is not None), None)


def _appointments(connection: Connection, table: Table, keep: set[int]) -> Iterator[dict]:
    """An Appointment per booked session (the booking table's columns read by their usual names)."""
    for row in _rows(connection, table, keep):
        start = _first(row, "start_at", "starts_at", "start", "session_at")
        state = str(_first(row, "status", "state", "event") or "booked").lower()
        status = {"cancelled": "cancelled", "canceled": "cancelled", "noshow": "noshow",
                  "no_show": "noshow", "fulfilled": "fulfilled"}.get(state, "booked")
        resource = {"resourceType": "Appointment", "id": _id("Appointment", row["id"]), "status": status,
                    "participant": [{"actor": _ref("Patient", row["patient_id"]), "status": "accepted"}]}
        if isinstance(start, datetime):
            resource["start"] = _instant(start)
            end = _first(row, "end_at", "ends_at", "end")
            if isinstance(end, datetime):
                resource["end"] = _instant(end)
        reference = _first(row, "booking_id", "external_id", "uid")
        if reference is not None:
            # The booking's own id in its system ("calcom", or the generic hook's "booking").
            system = f"urn:aftercare:booking:{row['source']}" if row.get("source") else "urn:aftercare:booking"
            resource["identifier"] = [{"system": system, "value": str(reference)}]
        yield _entry(resource, row["id"])


def export_fhir(engine: Engine, path: Path, *, now: datetime, titles: Mapping[str, str] | None = None,
                clinic: str | None = None, render: Render | None = None,
                scales: Mapping[tuple[str, str], list[tuple[str, str]]] | None = None) -> dict[str, int]:
    """One FHIR R4 Bundle (type collection) of every resource, written (streamed) to the new private ``path``."""
    counts: dict[str, int] = {}
    with _private_file(path, binary=True) as buffer, snapshot(engine) as connection:
        head = {"resourceType": "Bundle", "id": str(uuid.uuid5(URN, f"bundle/{_instant(now)}")),
                "type": "collection", "timestamp": _instant(now)}
        buffer.write(json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "entry": [')
        first = True
        for entry in fhir_resources(connection, titles=titles, clinic=clinic, render=render, scales=scales):
            kind = entry["resource"]["resourceType"]
            counts[kind] = counts.get(kind, 0) + 1
            buffer.write((b"\n" if first else b",\n") + json.dumps(entry, ensure_ascii=False).encode())
            first = False
        buffer.write(b"\n]}\n")
        buffer.flush()
    _record_export(engine, patients=counts.get("Patient", 0), now=now)
    return counts


def _record_export(engine: Engine, *, patients: int, now: datetime) -> None:
    """The export, in the audit trail, naming how many patients it held (after it was written)."""
    with Session(engine) as session:
        audit.record(session, action=audit.Action.EXPORT, count=patients, now=now)
        session.commit()
