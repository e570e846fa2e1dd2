"""A stateful property test of the patient lifecycle (hypothesis).

Random sequences of what patients, staff and Telegram do -- enroll, link (and switch), pause,
resume, stop, block, unblock, cancel, delete, snooze, book, not continuing, next session, reopen,
a message going out -- over several patients and chats, with time moving on between steps. After
every step the lifecycle's promises hold:

- a chat follows at most one current patient;
- a patient who is not active has no sendable (pending or claimed) reminder;
- a reminder cancelled by staff never becomes sendable again;
- an erased patient has no name, no chat and nothing open;
- the counts ``/stats`` shows equal the rows.

Each example runs in one database transaction that is rolled back at its end, and each step in a
savepoint, so that a refused step (``Refusal``) is undone exactly as ``Store.run`` undoes it. CI
runs 2,000 examples on each database; a local run, fewer (``LIFECYCLE_EXAMPLES`` overrides).
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlmodel import Session, func, select

from jobs.care.answers import REBOOK_ANSWERS, answer_rebook
from jobs.care.planning import QuietHours
from jobs.patients.enrollment import enroll_patient
from jobs.patients.invites import confirm_switch, decline_switch, redeem_invite
from jobs.patients.reminder_moves import CancelReason
from jobs.patients.self_service import erase_patient, mark_reachable, mark_unreachable, set_paused, stop_patient
from jobs.refusal import Refusal
from jobs.staff.console import cancel_patient, clinic_stats, record_next_session, reinvite, reopen_patient
from jobs.storage.db import make_engine, upgrade
from jobs.storage.models import Patient, Reminder
from jobs.storage.states import CURRENT_STATUSES, PatientStatus, ReminderStatus
from messages.catalog import load_catalog
from messages.protocol import KIND_REBOOK
from tests.conftest import in_ci

CHATS = (501, 502, 503)
NAMES = ("Ana P", "Bo Q", "Cy R", "Di S")
ZONE = ZoneInfo("Europe/Madrid")
TTL = timedelta(days=7)
EXAMPLES = int(os.environ.get("LIFECYCLE_EXAMPLES") or (2000 if in_ci() else 150))


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_lifecycle_invariants_hold_after_every_step(database_url, catalog):
    engine = make_engine(database_url)
    upgrade(engine)
    quiet = QuietHours.parse("21:00-08:00")
    protocols = list(catalog.protocols.values())

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.connection = engine.connect()
            self.transaction = self.connection.begin()
            self.session = Session(bind=self.connection, join_transaction_mode="create_savepoint")
            self.now = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
            self.patients: list[int] = []
            self.staff_cancelled: set[int] = set()
            self.offers: dict[int, int] = {}  # chat -> invite id of an open switch question

        def teardown(self) -> None:
            self.session.close()
            self.transaction.rollback()
            self.connection.close()

        def step(self, function, **kwargs):
            """One request as the bot makes it: all of it, or (refused) none of it."""
            savepoint = self.session.begin_nested()
            try:
                result = function(self.session, **kwargs)
                savepoint.commit()
                self.session.flush()
                return result
            except Refusal:
                savepoint.rollback()
                return None

        def patient(self, index: int) -> int | None:
            return self.patients[index % len(self.patients)] if self.patients else None

        # ------------------------------------------------------------------ what happens

        @rule(hours=st.integers(min_value=0, max_value=24 * 12))
        def time_passes(self, hours):
            self.now += timedelta(hours=hours)

        @rule(name=st.sampled_from(NAMES), protocol=st.sampled_from(range(8)), session=st.integers(1, 3))
        def enroll(self, name, protocol, session):
            enrolled = self.step(enroll_patient, name=name, protocol=protocols[protocol % len(protocols)],
                                 session_at=self.now - timedelta(hours=1), session_number=session, series_length=3,
                                 zone=ZONE, locale="en", quiet_hours=quiet, invite_ttl=TTL, enrolled_by=1, now=self.now)
            if enrolled is not None:
                self.patients.append(enrolled.patient.id)

        @rule(index=st.integers(0, 20), chat=st.sampled_from(CHATS))
        def open_new_invite(self, index, chat):
            patient_id = self.patient(index)
            if patient_id is None:
                return
            patient = self.session.get(Patient, patient_id)
            if patient.status == PatientStatus.DELETED:
                return
            token = self.step(reinvite, patient_id=patient_id, now=self.now, ttl=TTL)
            result = self.step(redeem_invite, token=token, chat_id=chat, now=self.now, locale="en", quiet_hours=quiet)
            if result is not None and result.switch_from is not None:
                self.offers[chat] = result.invite_id

        @rule(chat=st.sampled_from(CHATS), yes=st.booleans())
        def answer_switch(self, chat, yes):
            invite_id = self.offers.pop(chat, None)
            if invite_id is None:
                return
            if yes:
                self.step(confirm_switch, invite_id=invite_id, chat_id=chat, now=self.now, locale="en",
                          quiet_hours=quiet)
            else:
                self.step(decline_switch, invite_id=invite_id, chat_id=chat)

        @rule(chat=st.sampled_from(CHATS), paused=st.booleans())
        def pause_or_resume(self, chat, paused):
            self.step(set_paused, chat_id=chat, paused=paused, quiet_hours=quiet, now=self.now)

        @rule(chat=st.sampled_from(CHATS))
        def stop(self, chat):
            self.step(stop_patient, chat_id=chat, now=self.now)

        @rule(chat=st.sampled_from(CHATS))
        def delete(self, chat):
            self.step(erase_patient, chat_id=chat, now=self.now)

        @rule(chat=st.sampled_from(CHATS), blocked=st.booleans())
        def block_or_unblock(self, chat, blocked):
            if blocked:
                self.step(mark_unreachable, chat_id=chat, now=self.now)
            else:
                self.step(mark_reachable, chat_id=chat, quiet_hours=quiet, now=self.now)

        @rule(index=st.integers(0, 20))
        def staff_cancel(self, index):
            patient_id = self.patient(index)
            if patient_id is not None and self.step(cancel_patient, patient_id=patient_id, now=self.now,
                                                    staff_id=1) is not None:
                self.staff_cancelled |= set(self.session.exec(select(Reminder.id).where(
                    Reminder.patient_id == patient_id, Reminder.outcome == CancelReason.STAFF.value)).all())

        @rule(index=st.integers(0, 20))
        def reopen(self, index):
            patient_id = self.patient(index)
            if patient_id is not None:
                self.step(reopen_patient, patient_id=patient_id, quiet_hours=quiet, now=self.now, staff_id=1)

        @rule(index=st.integers(0, 20), days=st.integers(0, 60))
        def next_session(self, index, days):
            patient_id = self.patient(index)
            if patient_id is not None:
                self.step(record_next_session, patient_id=patient_id, session_at=self.now + timedelta(days=days) -
                          timedelta(days=60), protocol=protocols[0], quiet_hours=quiet, now=self.now, staff_id=1)

        @rule(index=st.integers(0, 20))
        def a_message_goes_out(self, index):
            """The dispatcher sends the patient's next due message (rebooking ones included, to answer)."""
            patient_id = self.patient(index)
            if patient_id is None:
                return
            row = self.session.exec(select(Reminder).where(
                Reminder.patient_id == patient_id, Reminder.status == ReminderStatus.PENDING)
                .order_by(Reminder.kind != KIND_REBOOK, Reminder.due_at)).first()
            if row is not None:
                row.status, row.sent_at = ReminderStatus.SENT, self.now
                self.session.add(row)
                self.session.flush()

        @rule(index=st.integers(0, 20), answer=st.sampled_from(REBOOK_ANSWERS))
        def answer_rebooking(self, index, answer):
            patient_id = self.patient(index)
            if patient_id is None:
                return
            patient = self.session.get(Patient, patient_id)
            row = self.session.exec(select(Reminder).where(
                Reminder.patient_id == patient_id, Reminder.kind == KIND_REBOOK,
                Reminder.status == ReminderStatus.SENT, Reminder.answer.is_(None))).first()
            if row is not None and patient.chat_id is not None:
                self.step(answer_rebook, reminder_id=row.id, chat_id=patient.chat_id, answer=answer,
                          quiet_hours=quiet, catalog=catalog, now=self.now)

        # ------------------------------------------------------------------ what must hold

        @invariant()
        def a_chat_follows_one_current_patient(self):
            rows = self.session.exec(select(Patient.chat_id, func.count()).where(
                Patient.chat_id.is_not(None), Patient.status.in_(CURRENT_STATUSES))
                .group_by(Patient.chat_id)).all()
            assert all(count == 1 for _, count in rows), rows

        @invariant()
        def only_active_patients_have_sendable_reminders(self):
            rows = self.session.exec(select(Patient.id, Patient.status).join(
                Reminder, Reminder.patient_id == Patient.id).where(
                Reminder.status.in_([ReminderStatus.PENDING, ReminderStatus.CLAIMED]),
                Patient.status != PatientStatus.ACTIVE)).all()
            assert not rows, rows

        @invariant()
        def staff_cancellations_stay_cancelled(self):
            if self.staff_cancelled:
                states = set(self.session.exec(select(Reminder.status).where(
                    Reminder.id.in_(self.staff_cancelled))).all())
                assert states <= {ReminderStatus.CANCELLED}, states

        @invariant()
        def erased_patients_keep_nothing(self):
            rows = self.session.exec(select(Patient).where(Patient.status == PatientStatus.DELETED)).all()
            for patient in rows:
                assert (patient.name, patient.chat_id) == ("", None)
                assert not self.session.exec(select(Reminder.id).where(
                    Reminder.patient_id == patient.id,
                    Reminder.status.in_([ReminderStatus.PENDING, ReminderStatus.WAITING,
                                         ReminderStatus.HELD, ReminderStatus.CLAIMED]))).first()

        @invariant()
        def stats_count_the_rows(self):
            far = timedelta(days=3650)
            stats = clinic_stats(self.session, since=self.now - far, now=self.now + far)
            rows = Counter(dict(self.session.exec(select(Reminder.status, func.count())
                                                  .group_by(Reminder.status)).all()))
            assert +stats.messages == +rows
            assert stats.enrolled == len(self.patients)

    run_state_machine_as_test(Lifecycle, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    engine.dispose()
