"""Aftercare protocols: the timed steps a patient receives after a session, read from TOML files.

A protocol file holds a name, a title for staff and an ordered list of steps. Each step says
when it is due (an offset after the session, or a local time of day N), how long it stays worth
sending, for which patients (always / when sessions remain in the series / after the final one)
and which text it sends. The version of a protocol is a hash of its file, recorded with every
enrollment so that editing a file later never changes plans already made.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path

from messages.durations import DAY_AT_HELP, parse_day_at, parse_offset
from messages.errors import MessageFileError
from messages.files import read_toml

WHEN_ALWAYS = "always"
WHEN_SESSIONS_REMAIN = "sessions_remain"
WHEN_FINAL_SESSION = "final_session"
WHEN_CHOICES = (WHEN_ALWAYS, WHEN_SESSIONS_REMAIN, WHEN_FINAL_SESSION)

KIND_INFO = "info"
KIND_CHECKIN = "checkin"
KIND_REBOOK = "rebook"
KIND_PHOTO = "photo"  # asks for a photo of the treated area; the next photo the patient sends answers it
# After the series: how the skin turned out, on a fixed answer scale (a default PGIC-style one, or the
# protocol's own), and a review request sent to everyone the step reaches (jobs/care/outcomes.py).
KIND_OUTCOME = "outcome"
KIND_REVIEW = "review"
KIND_CHOICES = (KIND_INFO, KIND_CHECKIN, KIND_REBOOK, KIND_PHOTO, KIND_OUTCOME, KIND_REVIEW)
# Steps that wait for an answer, and so may be followed up when none comes (nudge_after, alert_after).
ANSWERED_KINDS = (KIND_CHECKIN, KIND_PHOTO)
# Not a protocol step: the reminder of a booked appointment, planned from a booking hook
# (jobs/care/bookings.py); its expiry is the appointment's start.
KIND_APPOINTMENT = "appointment"

_STEP_KEYS = {"key", "at", "not_before", "expires", "when", "kind", "text", "nudge_after", "alert_after", "scale",
              "photo"}

# The default outcome scale: a Patient Global Impression of Change in seven answers (public domain;
# the licensed aesthetic questionnaires such as FACE-Q may not be shipped in an MIT project). Its
# labels are bot texts ("outcome_pgic_<key>") in every texts file; keys are short for callback data.
DEFAULT_SCALE = "pgic"
PGIC_ANSWERS = ("vmi", "mi", "li", "nc", "lw", "mw", "vmw")  # very much improved ... very much worse
PGIC_WORSE = ("lw", "mw", "vmw")
_SCALE_KEYS = {"answers"}
_ANSWER_KEYS = {"key", "labels", "worse"}
MAX_SCALE_ANSWERS = 10


@dataclass(frozen=True)
class Scale:
    """A fixed answer scale for outcome steps: answer keys in order, which are "worse", and labels.

    ``labels`` maps an answer key to its label per locale; empty for the default scale, whose labels
    are the texts files' ``outcome_pgic_<key>``.
    """

    name: str
    answers: tuple[str, ...]
    worse: frozenset[str]
    labels: dict[str, dict[str, str]]

    def label_key(self, answer: str) -> str | None:
        """The bot text key of an answer's label (default scale), or None (the protocol's own labels)."""
        return f"outcome_{self.name}_{answer}" if not self.labels else None


PGIC = Scale(DEFAULT_SCALE, PGIC_ANSWERS, frozenset(PGIC_WORSE), {})


@dataclass(frozen=True)
class Timing:
    """When a step is due: ``offset`` after the session, or ``day``/``local_time`` in the patient's zone."""

    offset: timedelta | None = None
    day: int | None = None
    local_time: time | None = None
    not_before: timedelta | None = None

    @property
    def is_local(self) -> bool:
        """True for the "day N at HH:MM" form."""
        return self.day is not None


@dataclass(frozen=True)
class Step:
    """One message of a protocol."""

    key: str
    timing: Timing
    expires: timedelta
    when: str = WHEN_ALWAYS
    kind: str = KIND_INFO
    text_key: str = ""
    # The timing as written, recorded on each planned reminder so it can be re-planned alone.
    at_spec: str = ""
    not_before_spec: str | None = None
    expires_spec: str = ""
    # Silence noticed (check-in and photo steps only): one gentle reminder to the patient this long
    # after the step was sent if it is still unanswered, and staff told after ``alert_after``.
    nudge_after: timedelta | None = None
    alert_after: timedelta | None = None
    nudge_after_spec: str | None = None
    alert_after_spec: str | None = None
    # Outcome steps: the name of the answer scale (the default PGIC-style one, or the protocol's own).
    scale: str | None = None
    # Outcome steps: after the answer, ask for a photo in the same light as the day-3 one, to compare
    # before and after; only with the patient's consent, asked once first (jobs/care/comparison.py).
    photo: bool = False

    def applies(self, *, session_number: int, series_length: int) -> bool:
        """Whether this step belongs in the plan of session ``session_number`` of ``series_length``."""
        final = session_number >= series_length
        if self.when == WHEN_SESSIONS_REMAIN:
            return not final
        if self.when == WHEN_FINAL_SESSION:
            return final
        return True


@dataclass(frozen=True)
class Protocol:
    """A named, versioned list of steps."""

    name: str
    title: str
    description: str
    steps: tuple[Step, ...]
    version: str
    path: Path | None = None
    # The window in which the next session of a series is due, counted from this session.
    next_session_after: timedelta = timedelta(weeks=4)
    next_session_before: timedelta = timedelta(weeks=6)
    # Escalation: "still red or swollen" is expected up to this many days after the session;
    # from then on it goes to staff. "Worried" always goes to staff.
    red_expected_days: int = 3
    # "Remind me in a few days" on a rebooking message moves it by this much.
    rebook_snooze: timedelta = timedelta(days=3)
    # Answer scales the protocol defines for its outcome steps, by name (the default one is always known).
    scales: dict[str, Scale] | None = None

    def step(self, key: str) -> Step | None:
        """The step called ``key``, or None."""
        return next((step for step in self.steps if step.key == key), None)

    def scale(self, name: str | None) -> Scale:
        """The scale called ``name``; the default PGIC-style one for None or an unknown name."""
        return (self.scales or {}).get(name or DEFAULT_SCALE, PGIC)

    def step_scale(self, step_key: str) -> Scale:
        """The answer scale of outcome step ``step_key`` (the default one if the step is gone)."""
        step = self.step(step_key)
        return self.scale(step.scale if step is not None else None)


def load_protocol(path: Path) -> Protocol:
    """Read and check one protocol file; raise MessageFileError naming the file, step and key."""
    data, raw = read_toml(path)
    return parse_protocol(data, path=path, version=hashlib.sha256(raw).hexdigest()[:12])


def parse_protocol(data: dict, *, path: Path, version: str) -> Protocol:
    """Build a Protocol from parsed TOML, checking every field."""
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise MessageFileError(path, "name", "missing: give the protocol a name")
    if name != path.stem:
        raise MessageFileError(path, "name", f"{name!r} must equal the file name {path.stem!r}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise MessageFileError(path, "steps", "missing: add at least one [[steps]] table")
    steps: list[Step] = []
    for index, raw_step in enumerate(raw_steps, start=1):
        steps.append(_parse_step(raw_step, path=path, index=index))
    keys = [step.key for step in steps]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise MessageFileError(path, f"step {duplicates[0]!r}", "key used twice: step keys must be unique")
    window = {}
    for key in ("next_session_after", "next_session_before", "rebook_snooze"):
        if key in data:
            try:
                window[key] = parse_offset(data[key])
            except (ValueError, TypeError) as exc:
                raise MessageFileError(path, key, str(exc)) from None
    escalation = data.get("escalation", {})
    if not isinstance(escalation, dict) or set(escalation) - {"red_expected_days"}:
        raise MessageFileError(path, "escalation", "must be a table with red_expected_days only")
    if "red_expected_days" in escalation:
        days = escalation["red_expected_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 60:
            raise MessageFileError(path, "escalation: 'red_expected_days'", "must be a whole number of days, 0 to 60")
        window["red_expected_days"] = days
    scales = _parse_scales(data.get("scales", {}), path=path)
    for step in steps:
        if step.kind == KIND_OUTCOME and step.scale not in (None, DEFAULT_SCALE) and step.scale not in scales:
            raise MessageFileError(path, f"step {step.key!r}: 'scale'",
                                   f"no scale {step.scale!r} (define it under [scales.{step.scale}], "
                                   f"or use the default {DEFAULT_SCALE!r})")
    protocol = Protocol(
        name=name,
        title=str(data.get("title") or name),
        description=str(data.get("description") or ""),
        steps=tuple(steps),
        version=version,
        path=path,
        scales=scales,
        **window,
    )
    if protocol.next_session_before < protocol.next_session_after:
        raise MessageFileError(path, "next_session_before", "must not be earlier than next_session_after")
    return protocol


def _parse_step(raw: object, *, path: Path, index: int) -> Step:
    if not isinstance(raw, dict):
        raise MessageFileError(path, f"step #{index}", "must be a [[steps]] table")
    key = raw.get("key")
    if not isinstance(key, str) or not key.isidentifier():
        raise MessageFileError(path, f"step #{index}: 'key'", "missing or not a snake_case name")
    where = f"step {key!r}"
    unknown = sorted(set(raw) - _STEP_KEYS)
    if unknown:
        raise MessageFileError(path, f"{where}: {unknown[0]!r}",
                               f"unknown key (allowed: {', '.join(sorted(_STEP_KEYS))})")

    def field(name: str, parse, *, required: bool = True, default=None):
        if name not in raw:
            if required:
                raise MessageFileError(path, f"{where}: {name!r}", "missing")
            return default
        try:
            return parse(raw[name])
        except (ValueError, TypeError) as exc:
            raise MessageFileError(path, f"{where}: {name!r}", str(exc)) from None

    try:
        timing = parse_timing(raw.get("at"), raw.get("not_before"))
    except _TimingError as exc:
        raise MessageFileError(path, f"{where}: {exc.key!r}", exc.problem) from None
    expires = field("expires", parse_offset)
    if expires <= timedelta(0):
        raise MessageFileError(path, f"{where}: 'expires'", "must be longer than zero")
    when = field("when", lambda v: _choice(v, WHEN_CHOICES), required=False, default=WHEN_ALWAYS)
    kind = field("kind", lambda v: _choice(v, KIND_CHOICES), required=False, default=KIND_INFO)
    text_key = field("text", _identifier, required=False, default=key)
    nudge_after = field("nudge_after", _positive_offset, required=False)
    alert_after = field("alert_after", _positive_offset, required=False)
    for name, value in (("nudge_after", nudge_after), ("alert_after", alert_after)):
        if value is not None and kind not in ANSWERED_KINDS:
            raise MessageFileError(path, f"{where}: {name!r}",
                                   f"only a step of kind {' or '.join(ANSWERED_KINDS)} waits for an answer "
                                   f"(this one is {kind!r})")
    if nudge_after is not None and alert_after is not None and nudge_after >= alert_after:
        raise MessageFileError(path, f"{where}: 'nudge_after'",
                               f"{raw['nudge_after']!r} must be shorter than alert_after ({raw['alert_after']!r}): "
                               "the patient is reminded before staff are told")
    scale = field("scale", _identifier, required=False)
    if scale is not None and kind != KIND_OUTCOME:
        raise MessageFileError(path, f"{where}: 'scale'", f"only a step of kind {KIND_OUTCOME!r} has an answer scale")
    photo = raw.get("photo", False)
    if not isinstance(photo, bool):
        raise MessageFileError(path, f"{where}: 'photo'", "must be true or false")
    if photo and kind != KIND_OUTCOME:
        raise MessageFileError(path, f"{where}: 'photo'",
                               f"only a step of kind {KIND_OUTCOME!r} asks for a photo to compare before and after "
                               f"(a step of kind {KIND_PHOTO!r} asks for a check-in photo)")
    return Step(key=key, timing=timing, expires=expires, when=when, kind=kind, text_key=text_key, scale=scale,
                photo=photo,
                at_spec=raw["at"], not_before_spec=raw.get("not_before"), expires_spec=raw["expires"],
                nudge_after=nudge_after, alert_after=alert_after, nudge_after_spec=_compact(raw.get("nudge_after")),
                alert_after_spec=_compact(raw.get("alert_after")))


def _parse_scales(raw: object, *, path: Path) -> dict[str, Scale]:
    """``[scales.<name>]`` tables: ``answers = [{key, labels = {en = ..., es = ...}, worse = true}, ...]``."""
    if not isinstance(raw, dict):
        raise MessageFileError(path, "scales", "must be a table of [scales.<name>] tables")
    scales: dict[str, Scale] = {}
    for name, table in raw.items():
        where = f"scales.{name}"
        if not name.isidentifier() or name == DEFAULT_SCALE:
            raise MessageFileError(path, where, f"a scale needs a snake_case name other than {DEFAULT_SCALE!r}")
        if not isinstance(table, dict) or set(table) - _SCALE_KEYS or not isinstance(table.get("answers"), list):
            raise MessageFileError(path, where, "must hold answers = [{ key, labels, worse }, ...] only")
        answers = table["answers"]
        if not 2 <= len(answers) <= MAX_SCALE_ANSWERS:
            raise MessageFileError(path, f"{where}: 'answers'", f"give 2 to {MAX_SCALE_ANSWERS} answers")
        keys: list[str] = []
        worse: set[str] = set()
        labels: dict[str, dict[str, str]] = {}
        for index, answer in enumerate(answers, start=1):
            if not isinstance(answer, dict) or set(answer) - _ANSWER_KEYS:
                raise MessageFileError(path, f"{where}: answer #{index}", "must be { key, labels, worse } only")
            key = answer.get("key")
            # Short keys: they travel in callback data (64 bytes) with the reminder's id.
            if not isinstance(key, str) or not key.isidentifier() or len(key) > 12 or key in keys:
                raise MessageFileError(path, f"{where}: answer #{index}: 'key'",
                                       "missing, repeated, or not a snake_case name of up to 12 characters")
            texts = answer.get("labels")
            if not isinstance(texts, dict) or "en" not in texts or not all(
                    isinstance(label, str) and label.strip() for label in texts.values()):
                raise MessageFileError(path, f"{where}: answer {key!r}: 'labels'",
                                       "must be a table of labels by language, English (en) at least")
            if not isinstance(answer.get("worse", False), bool):
                raise MessageFileError(path, f"{where}: answer {key!r}: 'worse'", "must be true or false")
            keys.append(key)
            labels[key] = {str(locale): label.strip() for locale, label in texts.items()}
            if answer.get("worse", False):
                worse.add(key)
        if len(worse) == len(keys):
            raise MessageFileError(path, where, "every answer is 'worse': at least one must not be")
        scales[name] = Scale(name, tuple(keys), frozenset(worse), labels)
    return scales


class _TimingError(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key, self.problem = key, problem


def parse_timing(at: object, not_before: object = None) -> Timing:
    """A step's timing from its ``at`` and optional ``not_before`` texts; _TimingError names the bad one."""
    if at is None:
        raise _TimingError("at", "missing")
    try:
        timing = _parse_at(at)
    except (ValueError, TypeError) as exc:
        raise _TimingError("at", str(exc)) from None
    if not_before is None:
        return timing
    try:
        offset = parse_offset(not_before)
    except (ValueError, TypeError) as exc:
        raise _TimingError("not_before", str(exc)) from None
    if not timing.is_local:
        raise _TimingError("not_before", 'only goes with "day N at HH:MM"')
    return Timing(day=timing.day, local_time=timing.local_time, not_before=offset)


def _parse_at(value: object) -> Timing:
    if not isinstance(value, str):
        raise ValueError("must be a string such as \"3h\" or \"day 1 at 09:00\"")
    day_at = parse_day_at(value)
    if day_at is not None:
        return Timing(day=day_at[0], local_time=day_at[1])
    try:
        return Timing(offset=parse_offset(value))
    except ValueError as exc:
        raise ValueError(f"{exc}, {DAY_AT_HELP}") from None


def _compact(spec: str | None) -> str | None:
    """An offset as the reminder row keeps it ("4 h" -> "4h")."""
    return None if spec is None else "".join(spec.split())


def _positive_offset(value: object) -> timedelta:
    offset = parse_offset(value)
    if offset <= timedelta(0):
        raise ValueError(f"{value!r} must be longer than zero")
    return offset


def _choice(value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
    return str(value)


def _identifier(value: object) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise ValueError(f"{value!r} is not a text key (letters, digits, underscores)")
    return value
