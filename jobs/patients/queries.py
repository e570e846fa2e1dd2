"""What the patient tables answer about one chat or one patient: read-only queries, no state changes.

Which record a Telegram chat follows now, every record it ever followed, and a patient's current
cycle (the latest enrollment), the one place that says what "current cycle" means.
"""

from __future__ import annotations

from sqlmodel import Session, select

from jobs.storage.models import Enrollment, Patient
from jobs.storage.states import CURRENT_STATUSES, PatientStatus

_LINKED = (*CURRENT_STATUSES, PatientStatus.SUPERSEDED)


def current_enrollment(session: Session, *, patient_id: int) -> Enrollment | None:
    """The patient's current aftercare cycle: the latest session (the last written, on a tie)."""
    return session.exec(select(Enrollment).where(Enrollment.patient_id == patient_id)
                        .order_by(Enrollment.session_at.desc(), Enrollment.id.desc())).first()


def current_patient_of_chat(session: Session, *, chat_id: int) -> Patient | None:
    """The one patient record a Telegram chat follows now (None for a stranger)."""
    return session.exec(select(Patient).where(Patient.chat_id == chat_id,
                                              Patient.status.in_(CURRENT_STATUSES))).first()


def records_of_chat(session: Session, *, chat_id: int) -> list[Patient]:
    """Every patient record that was ever linked to this chat and is not erased, current first."""
    rows = session.exec(select(Patient).where(Patient.chat_id == chat_id, Patient.status.in_(_LINKED))).all()
    return sorted(rows, key=lambda p: (p.status not in CURRENT_STATUSES, -p.id))
