"""What ``/patient`` shows staff: the profile, then each cycle's timeline, in the staff member's language.

Each section is a function returning lines, so that further sections (a status history) sit beside
them and the command only joins what they return. Times are the patient's local time, and say so;
steps are named by their titles (``[titles]`` in the texts), answers by the buttons' labels.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.services import Services
from jobs.buttons import ANSWER_LABELS, REVIEW_LABELS
from jobs.care.photos import Review
from jobs.care.silence import KIND_NUDGE, KIND_SILENCE
from jobs.inputs import display_phone
from jobs.staff.console import Timeline
from jobs.storage.models import Patient, Photo
from jobs.storage.states import ReminderStatus
from messages.protocol import KIND_PHOTO

R = ReminderStatus
_MARKS = {R.SENT: "✅", R.PENDING: "⏳", R.WAITING: "⏳", R.HELD: "⏸", R.CLAIMED: "⏳", R.SKIPPED: "⏭", R.FAILED: "❌",
          R.CANCELLED: "✖"}


def _when(services: Services, locale: str, moment: datetime | None, zone: ZoneInfo) -> str:
    return services.catalog.format_date(locale, moment.astimezone(zone), with_time=True) if moment else "-"


def profile_lines(services: Services, locale: str, patient: Patient) -> list[str]:
    """Name, status, zone and language, when enrolled and linked, and which zone the times are in."""
    zone = ZoneInfo(patient.timezone)
    return [
        services.text(locale, "patient_profile", name=patient.name, patient_id=patient.id,
                      status=services.text(locale, f"state_{patient.status}"), zone=patient.timezone,
                      locale=patient.locale or "-", enrolled=_when(services, locale, patient.created_at, zone),
                      linked=_when(services, locale, patient.linked_at, zone)),
        *([services.text(locale, "patient_phone", phone=display_phone(patient.phone))] if patient.phone else []),
        services.text(locale, "patient_times_zone", zone=patient.timezone),
    ]


def timeline_lines(services: Services, locale: str, timeline: Timeline) -> list[str]:
    """Each cycle (session k of n, its protocol) and its steps with what became of each."""
    catalog = services.catalog
    zone = ZoneInfo(timeline.patient.timezone)
    lines: list[str] = []
    for enrollment in timeline.enrollments:
        protocol = catalog.protocols.get(enrollment.protocol_name)
        lines.append(services.text(locale, "patient_cycle", session_number=enrollment.session_number,
                                   series_length=enrollment.series_length,
                                   session_date=_when(services, locale, enrollment.session_at, zone),
                                   protocol=protocol.title if protocol else enrollment.protocol_name))
        for reminder in (r for r in timeline.reminders if r.enrollment_id == enrollment.id):
            extra = ""
            # A photo step's answers are its photos, listed under it with their reviews.
            if reminder.answer and reminder.kind != KIND_PHOTO:
                label = ANSWER_LABELS.get(reminder.answer)
                extra = services.text(locale, "patient_step_answer",
                                      answer=services.text(locale, label) if label else reminder.answer)
            elif reminder.status in (R.SKIPPED, R.FAILED, R.CANCELLED) and reminder.outcome:
                extra = f" — {reminder.outcome}"
            step = catalog.step_title(locale, reminder.step_key)
            if reminder.kind in (KIND_NUDGE, KIND_SILENCE):
                step = services.text(locale, f"patient_step_{reminder.kind}", step=step)
            lines.append(services.text(locale, "patient_step", mark=_MARKS.get(reminder.status, "•"),
                                       when=_when(services, locale, reminder.sent_at or reminder.due_at, zone),
                                       step=step, extra=extra))
            lines += [photo_line(services, locale, photo, zone) for photo in timeline.photos
                      if photo.reminder_id == reminder.id]
    return lines


def photo_line(services: Services, locale: str, photo: Photo, zone: ZoneInfo) -> str:
    """One photo that answered a photo step, and its review: how, by whom, when (or that it waits)."""
    if photo.review is None:
        review = services.text(locale, "patient_photo_pending")
    else:
        review = services.text(locale, "patient_photo_reviewed",
                               label=services.text(locale, REVIEW_LABELS[Review(photo.review)]),
                               who=services.text(locale, "actor_staff", user_id=photo.reviewed_by or "?"),
                               when=_when(services, locale, photo.reviewed_at, zone))
    return services.text(locale, "patient_photo", when=_when(services, locale, photo.received_at, zone), review=review)


def history_lines(services: Services, locale: str, timeline: Timeline) -> list[str]:
    """The patient's status history from the lifecycle's event rows: when, what, who, and the new status."""
    if not timeline.history:
        return []
    zone = ZoneInfo(timeline.patient.timezone)
    lines = [services.text(locale, "patient_history_title", zone=zone.key)]
    for event in timeline.history:
        who = services.text(locale, f"actor_{event.actor or 'system'}", user_id=event.actor_id or "?")
        status = services.text(locale, f"state_{event.to_status}") if event.to_status else "-"
        lines.append(services.text(locale, "patient_history_line", event=services.text(locale, f"event_{event.kind}"),
                                   who=who, status=status, when=_when(services, locale, event.at, zone)))
    return lines


def notes_lines(services: Services, locale: str, timeline: Timeline) -> list[str]:
    """What staff wrote in the patient's topic (internal notes): when, who, what."""
    if not timeline.notes:
        return []
    zone = ZoneInfo(timeline.patient.timezone)
    lines = [services.text(locale, "patient_notes_title", zone=zone.key)]
    for note in timeline.notes:
        words = note.text
        if note.kind != "text":
            marker = services.text(locale, "patient_note_photo" if note.kind == "photo" else "patient_note_media")
            words = f"{marker}: {words}" if words else marker
        lines.append(services.text(locale, "patient_note_line", when=_when(services, locale, note.created_at, zone),
                                   author=note.author_id or "?", text=words))
    return lines
