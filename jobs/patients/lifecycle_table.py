"""The README's "Patient lifecycle" table, generated from ``TRANSITIONS`` (a test keeps them equal)."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.patients.lifecycle import TRANSITIONS, LifecycleEvent
from jobs.storage.states import PatientStatus


@dataclass(frozen=True)
class TableRow:
    """One line of the README's lifecycle table."""

    event: str
    sources: tuple[str, ...]
    target: str
    summary: str = field(default="")


def transition_table() -> list[TableRow]:
    """The transitions as the README shows them: one row per event and target status."""
    rows = []
    for event, transition in TRANSITIONS.items():
        by_target: dict[PatientStatus, list[str]] = {}
        for source, target in transition.moves.items():
            by_target.setdefault(target, []).append(source.value)
        if event is LifecycleEvent.ERASE:
            rows.append(TableRow(event.value, ("any",), PatientStatus.DELETED.value, transition.summary))
            continue
        for target, sources in by_target.items():
            rows.append(TableRow(event.value, tuple(sources), target.value, transition.summary))
    return rows


def transition_table_markdown() -> str:
    """:func:`transition_table` as a Markdown table."""
    lines = ["| event | from | to | what staff and the patient see |", "|---|---|---|---|"]
    for row in transition_table():
        lines.append(f"| `{row.event}` | {', '.join(row.sources)} | {row.target} | {row.summary} |")
    return "\n".join(lines)
