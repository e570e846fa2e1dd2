"""Erasure is total: after ``/delete`` the database holds nothing of the patient, and handled updates
keep no payload at all (issue 20).

Every update goes through the durable intake as in production (stored, claimed, handled, marked
done), so ``inbound_update`` holds what it would hold in a clinic. Then the database is searched
for the patient's name, phone, words, photo and Telegram name: on SQLite the bytes of the files
themselves (the database and its -wal: a deleted row's bytes can outlive it there), and on both
databases every text column of every table.
"""

from __future__ import annotations

import re

from sqlalchemy import inspect, text

from jobs.storage.db import sqlite_files
from jobs.storage.models import InboundUpdate, Patient
from jobs.storage.states import PatientStatus, UpdateStatus
from tests.bot.conftest import all_done, until
from tests.conftest import PATIENT_ID, STAFF_ID

NAME = "Hilda Zwicky"
TELEGRAM = {"first_name": "Hildegard", "last_name": "Zwickstein", "username": "hzwick_tg"}
WORDS = "my left cheek is burning"
CAPTION = "blisters near the jawline"
PHOTO = "photo-of-hilda-0042"
# The phone as enrolled and as shared, in every form the bot writes it (E.164 and spaced).
PHONES = ("600111222", "600 11 12 22", "611222333", "611 22 23 33")
NEEDLES = (NAME, "Zwicky", *TELEGRAM.values(), WORDS, CAPTION, PHOTO, *PHONES)


async def _through_intake(harness, intake, raw: dict) -> None:
    await intake.receive([raw])
    # Done, and whatever the intake does after marking it so (the scrub after an erasure) finished too.
    await until(lambda: all_done(harness) and not intake._in_flight, "the update handled")


def _text_columns_holding(harness, needles) -> list[str]:
    """``table.column: needle`` for every text column of every table that holds one of ``needles``."""
    engine = harness.services.store.engine
    found = []
    with engine.connect() as connection:
        inspector = inspect(connection)
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                kind = str(column["type"]).upper()
                if not any(word in kind for word in ("CHAR", "TEXT", "JSON", "CLOB")):
                    continue
                name = column["name"]
                for (value,) in connection.execute(text(f'SELECT "{name}" FROM "{table}"')):
                    found += [f"{table}.{name}: {needle}" for needle in needles if value and needle in str(value)]
    return found


def _files_holding(harness, needles) -> list[str]:
    """``file: needle`` for the SQLite files (database and -wal) whose bytes hold one of ``needles``."""
    found = []
    for path in sqlite_files(harness.services.store.engine):
        if path.name.endswith("-shm"):
            continue
        data = path.read_bytes()
        found += [f"{path.name}: {needle}" for needle in needles if needle.encode() in data]
    return found


async def test_after_delete_nothing_of_the_patient_is_left_in_the_database(harness, fake_api, intake):
    intake.start(polling=False)
    await _through_intake(harness, intake, fake_api.message_update(
        user_id=STAFF_ID, text=f"/enroll {NAME} phone=+34 600 111 222"))
    token = re.search(r"\?start=([A-Za-z0-9_-]+)", fake_api.sent_messages(STAFF_ID)[-1].params["caption"]).group(1)
    said = {"user_id": PATIENT_ID, **TELEGRAM}
    await _through_intake(harness, intake, fake_api.message_update(text=f"/start {token}", **said))
    await _through_intake(harness, intake, fake_api.message_update(text=WORDS, **said))
    await _through_intake(harness, intake, fake_api.message_update(text=CAPTION, photo_file_id=PHOTO, **said))
    await _through_intake(harness, intake, fake_api.message_update(text="", contact=("34611222333", PATIENT_ID),
                                                                   **said))
    assert _text_columns_holding(harness, (NAME, WORDS)), "the test must see the patient before the erasure"
    # As SQLite's own checkpoints do in a running clinic: the rows reach the database file itself.
    harness.services.store.scrub()
    if sqlite_files(harness.services.store.engine):
        assert _files_holding(harness, (NAME,)), "the test must see the patient in the file before the erasure"
    await _through_intake(harness, intake, fake_api.message_update(text="/delete", **said))
    message_id, data = harness.buttons(PATIENT_ID)
    await _through_intake(harness, intake, fake_api.callback_update(data=data[0], message_id=message_id, **said))
    assert [patient.status for patient in harness.rows(Patient)] == [PatientStatus.DELETED]

    # Handled updates keep their id, status and effects (for de-duplication), no payload, no chat.
    rows = harness.rows(InboundUpdate)
    assert len(rows) == 7 and {row.status for row in rows} == {UpdateStatus.DONE}
    assert {(row.payload, row.chat_key) for row in rows} == {("", None)}
    assert _text_columns_holding(harness, NEEDLES) == []
    assert _files_holding(harness, NEEDLES) == []


async def test_after_delete_no_staff_message_names_the_patient_in_private_staff_chats(harness, fake_api):
    await harness.link(f"/enroll {NAME}")  # the enrollment's QR code and caption
    await harness.send(PATIENT_ID, WORDS)  # relayed to staff privately
    relayed = next(m for m in fake_api.bot_messages(STAFF_ID) if WORDS in (m.get("text") or ""))
    await harness.send(STAFF_ID, "Cool it down.", reply_to_message_id=relayed["message_id"])  # "Sent to …"
    await harness.send(STAFF_ID, "/patient 1")
    await harness.send(STAFF_ID, "/invite 1")

    def naming() -> list[str]:
        shown = [m.get("text") or m.get("caption") or "" for m in fake_api.bot_messages(STAFF_ID)]
        return [text for text in shown if "Zwicky" in text or WORDS in text]

    assert len(naming()) >= 5, naming()
    await harness.send(PATIENT_ID, "/delete")
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, data[0], message_id)
    assert naming() == []
