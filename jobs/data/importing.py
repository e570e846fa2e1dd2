"""Bulk import: a CSV of patients checked row by row, then enrolled all together or not at all.

The phases, so that the database's write lock is held only for the last, and memory stays flat in
the file's size (a bounded window of rows at a time in every phase):

1. :func:`check_stream` (:func:`check_records` for rows in memory) reads every row, a bounded window at a
   time (:func:`read_csv_file` streams the file), with the one reader of an enrollment's fields
   (:func:`jobs.patients.enrollment_request.read_enrollment`, which ``/enroll``, the form and the API use
   too), collecting every refusal, and fills empty cells with
   :func:`~jobs.patients.enrollment_request.resolve_defaults`;
   it yields each row's verdict: a good row, one :class:`RowProblem` per bad row (naming each bad
   column), or a :class:`Skipped` row.
2. :func:`prepare_import` plans a window of patients in pure Python (:func:`jobs.care.planning.plan_reminders`)
   and draws their invite tokens; :func:`unnumbered_rows` makes every row to write but for its ids, as
   plain tuples ready for the driver: no database, no clock. ``aftercare import`` (bot/bulk_import.py)
   keeps these windows in a private temporary file, not in memory, until every row is known to be good;
   :func:`numbered_rows` puts in front the ids drawn in the writing transaction (:func:`draw_ids`).
3. :func:`write_rows` inserts a window in bulk (:mod:`jobs.storage.bulk`: the driver's executemany, COPY
   on PostgreSQL) and records each patient's ``enrolled`` event through
   :func:`jobs.patients.lifecycle.record_new_patients`, in the caller's one transaction (one for the
   whole file: all or nothing); :func:`record_import` adds the file's one audit row.
   (:func:`write_import` does 2 and 3 in one call, for rows in memory.)

An ``external_id`` that a patient in the database already has is *skipped* (the import is
idempotent by it, as the API is: never a second patient for the same reference); one that two rows
of the file share is a bad row, since the file contradicts itself.
"""

from __future__ import annotations

import csv
import hashlib
import io
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from jobs import inputs
from jobs.actors import staff
from jobs.care.planning import PlannedReminder, QuietHours, plan_reminders
from jobs.ops import audit
from jobs.patients.enrollment_request import (
    FIELDS,
    EnrollmentRules,
    FieldRefusal,
    parse_external_id,
    read_enrollment,
    resolve_defaults,
)
from jobs.patients.invites import hash_token, new_token
from jobs.patients.lifecycle import LifecycleEvent, record_new_patients
from jobs.patients.reminder_moves import state_for_new_reminder
from jobs.refusal import Refusal
from jobs.storage.bulk import allocate_ids, datetime_to_driver, insert_rows
from jobs.storage.models import Enrollment, Invite, Patient, Reminder, new_booking_ref
from jobs.storage.states import PatientStatus, ReminderStatus
from jobs.storage.textfold import fold
from messages.protocol import Protocol

# The API's fields, as the file's columns (any order; only ``name`` is required).
COLUMNS = FIELDS
# The columns each bulk insert writes (the others keep their column defaults: NULL, 0).
PATIENT_COLUMNS = ("id", "name", "status", "timezone", "locale", "series_length", "enrolled_by", "created_at",
                   "phone", "external_id", "booking_ref", "called", "search_key")
ENROLLMENT_COLUMNS = ("id", "patient_id", "session_number", "series_length", "session_at", "protocol_name",
                      "protocol_version", "created_at")
REMINDER_COLUMNS = ("enrollment_id", "patient_id", "step_key", "text_key", "kind", "at_spec", "not_before_spec",
                    "expires_spec", "nudge_after_spec", "alert_after_spec", "planned_at", "due_at", "expires_at",
                    "status", "outcome", "attempts")
INVITE_COLUMNS = ("patient_id", "token_hash", "created_at", "expires_at")
# How many external ids one "already there?" query asks about.
_LOOKUP_CHUNK = 500
# How many rows are checked together (one "already there?" look-up for their external ids): the
# window that bounds what checking holds, whatever the file's size.
CHECK_WINDOW = 2_000
# Python's csv module refuses a cell longer than this (its default limit, kept): a patient's value is
# never near it, so such a cell is a broken file (an unclosed quote swallowing the rest).
MAX_FIELD_BYTES = csv.field_size_limit()


class ImportFileError(ValueError):
    """The file cannot be read as a patients CSV at all (no header, no ``name`` column, bad encoding)."""


@dataclass(frozen=True)
class RowProblem:
    """A bad row: its number as a spreadsheet shows it (the header is row 1) and each bad column's refusal."""

    row: int
    columns: tuple[tuple[str, Refusal], ...]


@dataclass(frozen=True)
class ImportRow:
    """A good row, every value parsed and checked."""

    row: int
    name: str
    session_at: datetime
    session_number: int
    series_length: int
    protocol: Protocol
    zone: ZoneInfo
    locale: str
    phone: str | None
    external_id: str | None
    called: str = ""


@dataclass(frozen=True)
class Skipped:
    """A row whose ``external_id`` a patient already has: not imported again."""

    row: int
    external_id: str
    patient_id: int


@dataclass
class Checked:
    """What :func:`check_records` found (good rows kept only while ``keep_rows``; counts always)."""

    rows: list[ImportRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    keep_rows: bool = True
    good: int = 0
    bad: int = 0
    passed_over: int = 0  # skipped rows

    @property
    def ok(self) -> bool:
        return not self.bad

    @property
    def total(self) -> int:
        return self.good + self.bad + self.passed_over

    def add(self, result: ImportRow | RowProblem | Skipped) -> None:
        """Count one row's verdict, and keep it while ``keep_rows``."""
        if isinstance(result, RowProblem):
            self.bad += 1
            if self.keep_rows:
                self.problems.append(result)
        elif isinstance(result, Skipped):
            self.passed_over += 1
            if self.keep_rows:
                self.skipped.append(result)
        else:
            self.good += 1
            if self.keep_rows:
                self.rows.append(result)


@dataclass(frozen=True)
class PreparedPatient:
    """One row ready to write: its plan and its invite token (in clear only here and in the output files)."""

    row: ImportRow
    plan: tuple[PlannedReminder, ...]
    token: str
    booking_ref: str


class Written(NamedTuple):
    """One patient written: its id and invite token, and what the invites CSV and the summary say of its row."""

    row: int
    patient_id: int
    name: str
    external_id: str | None
    locale: str
    token: str
    planned: int
    stale: int


# --------------------------------------------------------------------------- reading


def read_csv(text: str) -> tuple[list[str], Iterator[dict[str, str]]]:
    """The header (lower-cased) and the rows of a patients CSV held in memory (see :func:`read_csv_file`)."""
    return read_csv_file(io.StringIO(text.removeprefix("\ufeff"), newline=""))


def read_csv_file(handle: TextIO) -> tuple[list[str], Iterator[dict[str, str]]]:
    """The header (lower-cased) and the rows of a patients CSV, read from ``handle`` one row at a time.

    ``handle`` is a text file opened with ``newline=""`` (and ``encoding="utf-8-sig"``, so a spreadsheet's
    byte order mark is dropped) that can seek back to its start: its first 4 KiB tell the delimiter.
    ImportFileError, raised at once or while the rows are read, is one line for the admin: no header,
    a cell over :data:`MAX_FIELD_BYTES`, text that is not UTF-8.
    """
    try:
        head = handle.read(4096)
        handle.seek(0)
    except UnicodeDecodeError:
        raise ImportFileError(_NOT_UTF8) from None
    try:
        dialect = csv.Sniffer().sniff(head, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(handle, dialect)
    try:
        header = [column.strip().lower() for column in _next_values(reader)]
    except StopIteration:
        raise ImportFileError("the file is empty: the first line must name the columns (name, session_at, …)") \
            from None
    unknown = [column for column in header if column not in COLUMNS]
    if unknown:
        raise ImportFileError(f"unknown column(s) {', '.join(map(repr, unknown))}: the columns are "
                              f"{', '.join(COLUMNS)}")
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        raise ImportFileError(f"column(s) {', '.join(map(repr, repeated))} given twice")
    if "name" not in header:
        raise ImportFileError(f"no 'name' column: the first line must name the columns ({', '.join(COLUMNS)})")

    def rows() -> Iterator[dict[str, str]]:
        while True:
            try:
                values = _next_values(reader)
            except StopIteration:
                return
            if not any(value.strip() for value in values):
                yield {}  # an empty line: counted (row numbers stay the spreadsheet's), then passed over
                continue
            record = dict(zip(header, values, strict=False))
            if len(values) > len(header):
                record["\0extra"] = str(len(values) - len(header))
            yield record
    return header, rows()


_NOT_UTF8 = 'the file is not UTF-8 text: save it as "CSV UTF-8" and try again'


def _next_values(reader) -> list[str]:
    """The reader's next row; a file it cannot read further is one ImportFileError naming the line."""
    try:
        return next(reader)
    except UnicodeDecodeError:
        raise ImportFileError(f"line {reader.line_num + 1}: {_NOT_UTF8}") from None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise ImportFileError(f"line {reader.line_num}: a cell is longer than {MAX_FIELD_BYTES // 1024} KiB: "
                                  "no patient's value is that long (a quote left open?)") from None
        raise ImportFileError(f"line {reader.line_num}: {exc}") from None


# --------------------------------------------------------------------------- checking


# What an empty cell means (the clinic's settings and message files): the one set of rules every face reads with.
Defaults = EnrollmentRules


def check_row(record: Mapping[str, str], *, row: int, defaults: Defaults) -> ImportRow | RowProblem:
    """Read one row with the rules of every face (:func:`jobs.patients.enrollment_request.read_enrollment`),
    keeping every bad column's refusal."""
    cells = {column: value for column, value in record.items() if column != "\0extra"}
    reading = read_enrollment(cells, rules=defaults, collect=True)
    problems: list[tuple[str, Refusal]] = []
    if "\0extra" in record:
        problems.append(("", Refusal("import_error_extra_cells", count=record["\0extra"])))
    problems += [(refusal.field, refusal) for refusal in reading.problems]
    resolved = None
    if reading.request is not None:
        try:
            resolved = resolve_defaults(reading.request, rules=defaults)
        except FieldRefusal as refusal:  # DEFAULT_PROTOCOL names no file
            problems.append((refusal.field, refusal))
    if problems or resolved is None:
        return RowProblem(row, tuple(problems))
    request = resolved.request
    return ImportRow(row=row, name=request.name, session_at=request.session_at, session_number=request.session_number,
                     series_length=resolved.series_length, protocol=resolved.protocol, zone=resolved.zone,
                     locale=resolved.locale, phone=request.phone, external_id=request.external_id,
                     called=resolved.called)


def check_records(records: Iterable[Mapping[str, str]], *, defaults: Defaults,
                  existing: Mapping[str, int] | None = None) -> Checked:
    """Check every row; rows whose ``external_id`` is in ``existing`` (id -> patient) are skipped.

    Row numbers are a spreadsheet's: the header is row 1, the first patient row 2.
    """
    checked = Checked()
    known = existing or {}
    for result in check_stream(records, defaults=defaults, lookup=lambda ids: known):
        checked.add(result)
    return checked


def check_stream(records: Iterable[Mapping[str, str]], *, defaults: Defaults,
                 lookup: Callable[[list[str]], Mapping[str, int]],
                 window: int = CHECK_WINDOW) -> Iterator[ImportRow | RowProblem | Skipped]:
    """Each row's verdict, in the file's order, reading and checking ``window`` rows at a time.

    ``lookup`` says which of a window's external ids patients already have (id -> patient); what is
    held is one window and, to find an id the file repeats, each id's 8-byte digest and row number
    (:class:`_FirstRows`: 24 MB for a million ids).
    """
    first_row_of = _FirstRows()
    batch: list[tuple[int, Mapping[str, str]]] = []

    def verdicts() -> Iterator[ImportRow | RowProblem | Skipped]:
        wanted = [(record.get("external_id") or "").strip() for _, record in batch]
        existing = lookup([value for value in wanted if value])
        for index, record in batch:
            result = check_row(record, row=index, defaults=defaults)
            if isinstance(result, ImportRow) and result.external_id is not None:
                first = first_row_of.setdefault(_digest(result.external_id), index)
                if first is not None:
                    yield RowProblem(index, (("external_id", Refusal(
                        "import_error_external_id_repeated", value=inputs.echo(result.external_id), row=first)),))
                    continue
                if result.external_id in existing:
                    yield Skipped(index, result.external_id, existing[result.external_id])
                    continue
            yield result
        batch.clear()

    for index, record in enumerate(records, start=2):
        if record:
            batch.append((index, record))
        if len(batch) >= window:
            yield from verdicts()
    if batch:
        yield from verdicts()


def _digest(external_id: str) -> int:
    digest = int.from_bytes(hashlib.blake2b(external_id.encode("utf-8", "surrogatepass"), digest_size=8).digest())
    return digest or 1  # 0 marks an empty slot in _FirstRows (a collision of 64-bit digests is ~1e-8 at 1e6 ids)


class _FirstRows:
    """External id digest -> the row it was first seen on: an open-addressing table in two flat arrays.

    A dict of Python ints costs about 110 bytes an entry (130 MB at a million rows, more than the
    rest of the check); this costs at most 24 (8-byte digests and 4-byte rows, kept under half full).
    """

    def __init__(self) -> None:
        self._count = 0
        self._allocate(1 << 12)

    def _allocate(self, slots: int) -> None:
        self._mask = slots - 1
        self._digests = array("Q", bytes(8 * slots))
        self._rows = array("I", bytes(4 * slots))

    def setdefault(self, digest: int, row: int) -> int | None:
        """The row ``digest`` was first seen on, or None after remembering ``row`` as its first."""
        digests, mask = self._digests, self._mask
        slot = digest & mask
        while (found := digests[slot]) != 0:
            if found == digest:
                return self._rows[slot]
            slot = (slot + 1) & mask
        digests[slot], self._rows[slot] = digest, row
        self._count += 1
        if 2 * self._count > mask:
            self._grow()
        return None

    def _grow(self) -> None:
        # Straight from the old arrays into the new: a list of the pairs would cost ~120 bytes each.
        digests, rows = self._digests, self._rows
        self._allocate(2 * (self._mask + 1))
        self._count = 0
        for slot, digest in enumerate(digests):
            if digest:
                self.setdefault(digest, rows[slot])


def existing_external_ids(session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    """Which of ``external_ids`` patients already have: external id -> patient id.

    Only readable ids are asked about: a cell with a NUL byte is a bad row, not a query PostgreSQL refuses.
    """
    wanted = sorted({value for value in map(_readable_external_id, external_ids) if value is not None})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start:start + _LOOKUP_CHUNK]
        statement = select(Patient.external_id, Patient.id).where(Patient.external_id.in_(chunk))
        found.update({external_id: patient_id for external_id, patient_id in session.execute(statement)})
    return found


def _readable_external_id(value: str) -> str | None:
    try:
        return parse_external_id(value)
    except Refusal:
        return None


# --------------------------------------------------------------------------- planning


# Plans remembered across the windows of one import (a booking system's slots repeat); past this many
# the memory is cleared, so that it stays bounded whatever the file's size.
PLAN_MEMORY = 20_000


def prepare_import(rows: Sequence[ImportRow], *, quiet_hours: QuietHours, now: datetime,
                   plans: dict[tuple, tuple[PlannedReminder, ...]] | None = None) -> list[PreparedPatient]:
    """Every row's plan and a fresh invite token.

    One plan per patient, from :func:`jobs.care.planning.plan_reminders`; patients whose plans must be
    equal (same protocol, session time, zone and session of the series: a booking system's slots)
    share the one computed for the first of them, since a plan is an immutable tuple of rows.
    ``plans``: the plans computed so far, kept by the caller across windows (at most :data:`PLAN_MEMORY`).
    """
    plans = {} if plans is None else plans
    if len(plans) > PLAN_MEMORY:
        plans.clear()
    prepared = []
    for row in rows:
        key = (row.protocol.name, row.protocol.version, row.session_at, row.zone.key, row.session_number,
               row.series_length)
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = tuple(plan_reminders(
                protocol=row.protocol, session_at=row.session_at, zone=row.zone, quiet_hours=quiet_hours,
                session_number=row.session_number, series_length=row.series_length, now=now))
        prepared.append(PreparedPatient(row=row, plan=plan, token=new_token(), booking_ref=new_booking_ref()))
    return prepared


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Unnumbered:
    """A window's rows to write, ready for the driver but for their ids (drawn in the writing transaction).

    Plain tuples of strings and numbers (datetimes too on PostgreSQL): cheap to pickle, which is how
    ``aftercare import`` keeps them on disk until the file is known to be good. Patients whose plans are
    one share their reminder rows (``tails``).
    """

    patients: list[tuple]  # each patient's columns after its id
    enrollments: list[tuple]  # each cycle's columns after its id and patient id
    tails: list[tuple[tuple, ...]]  # each patient's reminder rows after (enrollment id, patient id)
    invites: list[tuple]  # each invite's columns after its patient id
    written: list[tuple]  # (row, name, external_id, locale, token, planned, stale) for :class:`Written`
    expires_at: datetime

    def __len__(self) -> int:
        return len(self.patients)


@dataclass(frozen=True)
class BulkRows:
    """Every row a window of an import writes, ready for the driver, and what it made."""

    patient_ids: list[int]
    patients: list[tuple]
    enrollments: list[tuple]
    reminders: list[tuple]
    invites: list[tuple]
    written: list[Written]
    expires_at: datetime


def draw_ids(session: Session, count: int) -> tuple[list[int], list[int]]:
    """Ids for ``count`` patients and as many cycles (see :func:`jobs.storage.bulk.allocate_ids`)."""
    connection = session.connection()
    return (allocate_ids(connection, Patient.__table__, count),
            allocate_ids(connection, Enrollment.__table__, count))


def unnumbered_rows(prepared: Sequence[PreparedPatient], *, dialect: str, invite_ttl: timedelta,
                    enrolled_by: int | None, now: datetime) -> Unnumbered:
    """The rows of patients, cycles, reminders and invites, without their ids (pure: no database)."""
    to_driver = datetime_to_driver(dialect)
    expires_at = now + invite_ttl
    now_value, expires_value = to_driver(now), to_driver(expires_at)
    initial, initial_outcome = state_for_new_reminder(PatientStatus.AWAITING_LINK)
    stale_outcome = "stale: its time had passed at enrollment"
    # Patients who share a plan share its rows but for their ids: each plan's rows are made (and their
    # times converted for the driver) once.
    tails: dict[int, tuple[tuple, ...]] = {}

    def tails_of(plan: tuple[PlannedReminder, ...]) -> tuple[tuple, ...]:
        found = tails.get(id(plan))
        if found is None:
            found = tails[id(plan)] = tuple(
                (step.step_key, step.text_key, step.kind, step.at_spec, step.not_before_spec, step.expires_spec,
                 step.nudge_after_spec, step.alert_after_spec,
                 to_driver(step.planned_at), to_driver(step.due_at), to_driver(step.expires_at),
                 ReminderStatus.SKIPPED if step.stale else initial, stale_outcome if step.stale else initial_outcome, 0)
                for step in plan)
        return found

    return Unnumbered(
        patients=[(item.row.name, PatientStatus.AWAITING_LINK, item.row.zone.key, item.row.locale,
                   item.row.series_length, enrolled_by, now_value, item.row.phone, item.row.external_id,
                   item.booking_ref, item.row.called, fold(item.row.name)) for item in prepared],
        enrollments=[(item.row.session_number, item.row.series_length, to_driver(item.row.session_at),
                      item.row.protocol.name, item.row.protocol.version, now_value) for item in prepared],
        tails=[tails_of(item.plan) for item in prepared],
        invites=[(hash_token(item.token), now_value, expires_value) for item in prepared],
        written=[(item.row.row, item.row.name, item.row.external_id, item.row.locale, item.token, len(item.plan),
                  sum(step.stale for step in item.plan)) for item in prepared],
        expires_at=expires_at,
    )


def numbered_rows(rows: Unnumbered, *, patient_ids: Sequence[int], enrollment_ids: Sequence[int]) -> BulkRows:
    """``rows`` with these ids put in front (pure, and quick: done in the writing transaction)."""
    pairs = list(zip(patient_ids, enrollment_ids, strict=True))
    return BulkRows(
        patient_ids=list(patient_ids),
        patients=[(patient_id,) + row for (patient_id, _), row in zip(pairs, rows.patients, strict=True)],
        enrollments=[(enrollment_id, patient_id) + row
                     for (patient_id, enrollment_id), row in zip(pairs, rows.enrollments, strict=True)],
        reminders=[(enrollment_id, patient_id) + tail for (patient_id, enrollment_id), tails
                   in zip(pairs, rows.tails, strict=True) for tail in tails],
        invites=[(patient_id,) + row for (patient_id, _), row in zip(pairs, rows.invites, strict=True)],
        written=[Written(row, patient_id, name, external_id, locale, token, planned, stale)
                 for (patient_id, _), (row, name, external_id, locale, token, planned, stale)
                 in zip(pairs, rows.written, strict=True)],
        expires_at=rows.expires_at,
    )


def build_rows(prepared: Sequence[PreparedPatient], *, patient_ids: Sequence[int], enrollment_ids: Sequence[int],
               dialect: str, invite_ttl: timedelta, enrolled_by: int | None, now: datetime) -> BulkRows:
    """The rows of patients, cycles, reminders and invites for these ids (pure: no database)."""
    return numbered_rows(unnumbered_rows(prepared, dialect=dialect, invite_ttl=invite_ttl, enrolled_by=enrolled_by,
                                         now=now), patient_ids=patient_ids, enrollment_ids=enrollment_ids)


def write_rows(session: Session, rows: BulkRows, *, enrolled_by: int | None, now: datetime) -> list[Written]:
    """Insert what :func:`build_rows` made, and record each patient's ``enrolled`` event, in the caller's
    transaction (a window of the file; :func:`record_import` once for the file)."""
    connection = session.connection()
    for table, columns, values in ((Patient.__table__, PATIENT_COLUMNS, rows.patients),
                                   (Enrollment.__table__, ENROLLMENT_COLUMNS, rows.enrollments),
                                   (Reminder.__table__, REMINDER_COLUMNS, rows.reminders),
                                   (Invite.__table__, INVITE_COLUMNS, rows.invites)):
        insert_rows(connection, table, columns, values, converted=True)
    record_new_patients(session, patient_ids=rows.patient_ids, event=LifecycleEvent.ENROLL,
                        cause=staff(enrolled_by, "import"), now=now)
    return rows.written


def record_import(session: Session, *, count: int, now: datetime) -> None:
    """The audit trail's one row for a whole file, naming how many (each patient's ``enrolled`` event names them)."""
    audit.record(session, action=audit.Action.IMPORT, count=count, now=now)


def write_import(session: Session, prepared: Sequence[PreparedPatient], *, invite_ttl: timedelta,
                 enrolled_by: int | None, now: datetime) -> list[Written]:
    """Write every prepared patient with bulk inserts, in the caller's transaction; return them with their ids."""
    if not prepared:
        return []
    patient_ids, enrollment_ids = draw_ids(session, len(prepared))
    rows = build_rows(prepared, patient_ids=patient_ids, enrollment_ids=enrollment_ids,
                      dialect=session.connection().dialect.name, invite_ttl=invite_ttl, enrolled_by=enrolled_by,
                      now=now)
    imported = write_rows(session, rows, enrolled_by=enrolled_by, now=now)
    record_import(session, count=len(imported), now=now)
    return imported
