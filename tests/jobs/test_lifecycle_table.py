"""The README's lifecycle table is the code's transition table, and every status is explained there."""

from __future__ import annotations

from pathlib import Path

from jobs.lifecycle import TRANSITIONS, LifecycleEvent, PatientStatus, transition_table_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_shows_the_transition_table_as_the_code_has_it():
    assert transition_table_markdown() in README.read_text(encoding="utf-8")


def test_readme_explains_every_status():
    text = README.read_text(encoding="utf-8")
    for status in PatientStatus:
        assert f"| `{status.value}` |" in text, status


def test_every_event_has_a_row_and_deleted_is_final():
    assert set(TRANSITIONS) == set(LifecycleEvent)
    assert all(PatientStatus.DELETED not in t.moves for t in TRANSITIONS.values())
