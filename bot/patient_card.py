"""What ``/patient`` shows staff: the profile, then each cycle's timeline, in the staff member's language.

Each section is a function returning lines, so that further sections (a status history) sit beside
them and the command only joins what they return. Times are the patient's local time, and say so;
steps are named by their titles (``[titles]`` in the texts), answers by the buttons' labels.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.services import Services
from jobs.buttons import ANSWER_LABELS, REVIEW_LABELS, scale_label
from jobs.care.comparison import consent_state
from jobs.care.outcomes import REVIEW_OPENED
from jobs.care.photos import Review
from jobs.care.silence import KIND_NUDGE, KIND_SILENCE
from jobs.inputs import display_phone
from jobs.patients.reminder_moves import CancelReason
from jobs.staff.console import Timeline
from jobs.storage.models import OutcomeAnswer, Patient, Photo, Reminder
from jobs.storage.states import ReminderStatus
from messages.protocol import KIND_OUTCOME, KIND_PHOTO, KIND_REVIEW

R = ReminderStatus
_MARKS = {R.SENT: "✅", R.PENDING: "⏳", R.WAITING: "⏳", R.HELD: "⏸", R.CLAIMED: "⏳", R.SKIPPED: "⏭", R.FAILED: "❌",
          R.CANCELLED: "✖"}


def _when(services: Services, locale: str, moment: datetime | None, zone: ZoneInfo) -> str:
    return services.catalog.format_date(locale, moment.astimezone(zone), with_time=True) if moment else "-"


def staff_zone(services: Services) -> ZoneInfo:
    """The zone of every time on a staff screen: the clinic's (the patient's own is named on the card)."""
    return services.settings.clinic_timezone


def profile_lines(services: Services, locale: str, patient: Patient) -> list[str]:
    """Name, status, zone and language, when enrolled and linked, and which zone the times are in."""
    zone = staff_zone(services)
    return [
        services.text(locale, "patient_profile", name=patient.name, patient_id=patient.id,
                      status=services.text(locale, f"state_{patient.status}"), zone=patient.timezone,
                      locale=patient.locale or "-", enrolled=_when(services, locale, patient.created_at, zone),
                      linked=_when(services, locale, patient.linked_at, zone)),
        *([services.text(locale, "patient_phone", phone=display_phone(patient.phone))] if patient.phone else []),
        services.text(locale, "patient_times_zone", zone=zone.key) if patient.timezone == zone.key else
        services.text(locale, "patient_times_zone_elsewhere", zone=zone.key, patient_zone=patient.timezone),
    ]


def timeline_lines(services: Services, locale: str, timeline: Timeline) -> list[str]:
    """Each cycle (session k of n, its protocol) and its steps with what became of each."""
    catalog = services.catalog
    zone = staff_zone(services)
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
                extra = services.text(locale, "patient_step_answer",
                                      answer=answer_label(services, locale, reminder, enrollment.protocol_name))
            elif reminder.status in (R.SKIPPED, R.FAILED, R.CANCELLED) and reminder.outcome:
                extra = f" — {outcome_text(services, locale, reminder.outcome)}"
            step = catalog.step_title(locale, reminder.step_key)
            if reminder.kind in (KIND_NUDGE, KIND_SILENCE):
                step = services.text(locale, f"patient_step_{reminder.kind}", step=step)
            lines.append(services.text(locale, "patient_step", mark=_MARKS.get(reminder.status, "•"),
                                       when=_when(services, locale, reminder.sent_at or reminder.due_at, zone),
                                       step=step, extra=extra))
            lines += [photo_line(services, locale, photo, zone, timeline.staff_names) for photo in timeline.photos
                      if photo.reminder_id == reminder.id]
    return lines


def answer_label(services: Services, locale: str, reminder: Reminder, protocol_name: str) -> str:
    """A step's answer in words: a button's label, an outcome on its scale, a review link opened."""
    answer = reminder.answer or ""
    if reminder.kind == KIND_OUTCOME:
        scale = services.catalog.protocol_for(protocol_name).step_scale(reminder.step_key)
        return scale_label(scale, answer, catalog=services.catalog, locale=locale)
    if reminder.kind == KIND_REVIEW and answer == REVIEW_OPENED:
        return services.text(locale, "review_opened")
    label = ANSWER_LABELS.get(answer)
    return services.text(locale, label) if label else answer


def outcome_lines(services: Services, locale: str, patient: Patient, outcomes: list[OutcomeAnswer]) -> list[str]:
    """The patient's own answers to the outcome steps, on the scale each was asked with, oldest first."""
    if not outcomes:
        return []
    zone = ZoneInfo(patient.timezone)
    lines = [services.text(locale, "patient_outcomes_title")]
    for row in outcomes:
        scale = services.catalog.protocol_for(row.protocol_name).scale(row.scale)
        lines.append(services.text(
            locale, "patient_outcome_line", step=services.catalog.step_title(locale, row.step_key),
            answer=("📉 " if row.worse else "") + scale_label(scale, row.answer, catalog=services.catalog,
                                                              locale=locale),
            changed=services.text(locale, "patient_outcome_changed") if row.changes else "",
            when=_when(services, locale, row.changed_at or row.answered_at, zone)))
    return lines


def consent_lines(services: Services, locale: str, timeline: Timeline) -> list[str]:
    """Whether the patient lets the clinic keep photos to compare before and after, and since when."""
    state = consent_state(timeline.consent)
    consent = timeline.consent
    when = consent.answered_at or consent.asked_at if consent is not None else None
    return [services.text(locale, f"patient_consent_{state.value}",
                          when=_when(services, locale, when, staff_zone(services)))]


def comparison_captions(services: Services, locale: str, timeline: Timeline) -> tuple[str, str] | None:
    """The captions of the first and the last photo shown side by side: which, when, and for which step."""
    if timeline.comparison is None:
        return None
    steps = {reminder.id: reminder.step_key for reminder in timeline.reminders}
    zone = staff_zone(services)

    def caption(key: str, photo: Photo) -> str:
        return services.text(locale, key, name=timeline.patient.name, patient_id=timeline.patient.id,
                             when=_when(services, locale, photo.received_at, zone),
                             step=services.catalog.step_title(locale, steps.get(photo.reminder_id, "")))

    first, last = timeline.comparison
    return caption("comparison_first", first), caption("comparison_last", last)


# Why a message was cancelled or skipped, as stored (English, for the logs), and the text that says it
# to staff in their language. An outcome not listed (a send error's words) is shown as stored.
OUTCOME_KEYS = {
    **{reason.value: f"outcome_{reason.name.lower()}" for reason in CancelReason},
    "stale: its time had passed at enrollment": "outcome_stale_at_enrollment",
    "stale: its time had passed when the patient linked": "outcome_stale_at_link",
}


def outcome_text(services: Services, locale: str, outcome: str) -> str:
    """What became of a message that did not go, in the staff member's language."""
    key = OUTCOME_KEYS.get(outcome)
    return services.text(locale, key) if key else outcome


def who_did(services: Services, locale: str, actor: str | None, actor_id: int | None, detail: str | None,
            names: dict[int, str]) -> str:
    """"by Marta", "by the patient", "by import", "automatic": who caused an event, by name where known."""
    if actor == "staff":
        if actor_id is None and detail == "import":
            return services.text(locale, "actor_import")
        if actor_id in names:
            return services.text(locale, "actor_staff_named", name=names[actor_id])
    return services.text(locale, f"actor_{actor or 'system'}", user_id=actor_id or "?")


def photo_line(services: Services, locale: str, photo: Photo, zone: ZoneInfo,
               names: dict[int, str] | None = None) -> str:
    """One photo that answered a photo step, and its review: how, by whom, when (or that it waits)."""
    if photo.review is None:
        review = services.text(locale, "patient_photo_pending")
    else:
        review = services.text(locale, "patient_photo_reviewed",
                               label=services.text(locale, REVIEW_LABELS[Review(photo.review)]),
                               who=who_did(services, locale, "staff", photo.reviewed_by, None, names or {}),
                               when=_when(services, locale, photo.reviewed_at, zone))
    return services.text(locale, "patient_photo", when=_when(services, locale, photo.received_at, zone), review=review)


def history_lines(services: Services, locale: str, timeline: Timeline) -> list[str]:
    """The patient's status history from the lifecycle's event rows: when, what, who, and the new status."""
    if not timeline.history:
        return []
    zone = staff_zone(services)
    lines = [services.text(locale, "patient_history_title", zone=zone.key)]
    for event in timeline.history:
        who = who_did(services, locale, event.actor, event.actor_id, event.detail, timeline.staff_names)
        status = services.text(locale, f"state_{event.to_status}") if event.to_status else "-"
        lines.append(services.text(locale, "patient_history_line", event=services.text(locale, f"event_{event.kind}"),
                                   who=who, status=status, when=_when(services, locale, event.at, zone)))
    return lines


def notes_lines(services: Services, locale: str, timeline: Timeline) -> list[str]:
    """What staff wrote in the patient's topic (internal notes): when, who, what."""
    if not timeline.notes:
        return []
    zone = staff_zone(services)
    lines = [services.text(locale, "patient_notes_title", zone=zone.key)]
    for note in timeline.notes:
        words = note.text
        if note.kind != "text":
            marker = services.text(locale, "patient_note_photo" if note.kind == "photo" else "patient_note_media")
            words = f"{marker}: {words}" if words else marker
        lines.append(services.text(locale, "patient_note_line", when=_when(services, locale, note.created_at, zone),
                                   author=note.author_id or "?", text=words))
    return lines
