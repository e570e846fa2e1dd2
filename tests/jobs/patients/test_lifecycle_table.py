"""The lifecycle table in docs/patients.md is the code's transition table, and every status is explained there."""

from __future__ import annotations

from pathlib import Path

from jobs.patients.lifecycle import TRANSITIONS, LifecycleEvent
from jobs.patients.lifecycle_table import transition_table_markdown
from jobs.storage.states import PatientStatus

PAGE = Path(__file__).resolve().parents[3] / "docs" / "patients.md"


def test_the_docs_show_the_transition_table_as_the_code_has_it():
    assert transition_table_markdown() in PAGE.read_text(encoding="utf-8")


def test_the_docs_explain_every_status():
    text = PAGE.read_text(encoding="utf-8")
    for status in PatientStatus:
        assert f"| `{status.value}` |" in text, status


def test_every_event_has_a_row_and_deleted_is_final():
    assert set(TRANSITIONS) == set(LifecycleEvent)
    assert all(PatientStatus.DELETED not in t.moves for t in TRANSITIONS.values())


def test_an_event_the_status_does_not_allow_is_refused_and_changes_nothing(database_url):
    from datetime import UTC, datetime

    import pytest
    from sqlmodel import Session, select

    from jobs.actors import PATIENT
    from jobs.patients.lifecycle import apply_event
    from jobs.refusal import Refusal
    from jobs.storage.db import make_engine, upgrade
    from jobs.storage.models import Event, Patient

    engine = make_engine(database_url)
    upgrade(engine)
    now = datetime(2026, 11, 24, tzinfo=UTC)
    refused = 0
    with Session(engine) as session:
        for status in PatientStatus:
            patient = Patient(name="Ana", timezone="UTC", status=status.value, created_at=now)
            session.add(patient)
            session.flush()
            for event, transition in TRANSITIONS.items():
                if status in transition.moves:
                    continue
                with pytest.raises(Refusal) as caught:
                    apply_event(session, patient=patient, event=event, cause=PATIENT, now=now)
                assert caught.value.key == f"patient_state_{status.value}"
                assert patient.status == status.value
                refused += 1
        assert not session.exec(select(Event)).all()
    engine.dispose()
    assert refused > 50


def test_every_status_and_event_has_its_texts_in_every_language():
    from messages.catalog import load_catalog

    catalog = load_catalog()
    for locale in catalog.locales:
        bot = catalog.texts[locale]["bot"]
        for status in PatientStatus:
            assert f"patient_state_{status.value}" in bot and f"state_{status.value}" in bot, (locale, status)
        for event in LifecycleEvent:
            assert f"event_{event.value}" in bot, (locale, event)
