"""``aftercare import patients.csv``: check every row, enroll them all in one transaction, hand the
front desk the invite links (a CSV, and cards to print).

Memory stays flat in the file's size, and the database's write lock is held for the writing only:

1. the file is read a row at a time and checked a window at a time (jobs/data/importing.py); each
   window's good rows are planned and given their invite tokens at once and kept, pickled, in a
   private temporary file (never in memory, and gone when the import ends, however it ends);
2. if any row is bad, nothing is written (each bad row was said as it was found);
3. otherwise one transaction writes the spooled windows one at a time, each with the ids drawn for it
   in the transaction, and appends their links to the invites CSV as it goes (a private file under
   another name); the CSV takes its name just before the commit (the only copy of the links: the
   database keeps their hashes), and is removed if the commit fails: all or nothing;
4. the cards PDF is made from the invites CSV after the commit, with the lock released.
"""

from __future__ import annotations

import gc
import html
import os
import pickle
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TextIO

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.invite_card import invite_link
from bot.invite_sheets import (
    CSV_COLUMNS,
    PRIVATE_FILE_MODE,
    Card,
    CardsReport,
    FontChoice,
    create_private,
    invite_cards_pdf,
    read_invite_csv,
)
from bot.settings import Settings
from jobs.care.planning import PlannedReminder
from jobs.data.cells import SafeWriter
from jobs.data.importing import (
    CHECK_WINDOW,
    Checked,
    Defaults,
    ImportFileError,
    ImportRow,
    RowProblem,
    Skipped,
    Unnumbered,
    check_stream,
    draw_ids,
    existing_external_ids,
    numbered_rows,
    prepare_import,
    read_csv_file,
    record_import,
    unnumbered_rows,
    write_rows,
)
from jobs.data.targets import target_taken
from jobs.refusal import Refusal
from jobs.storage.db import Store
from messages import bidi
from messages.catalog import Catalog

# Cards for more rows than this are made only when asked (--cards): 12,500 pages help nobody, and
# each card costs a few milliseconds (segno draws its QR code in pure Python).
CARDS_AUTO_LIMIT = 1_000
_TAG = re.compile(r"<[^>]+>")
# Rows whose whole plan is already past are named, up to this many.
EMPTY_PLAN_LINES = 20
# Good rows planned and spooled together (and later written together): the window of every phase.
WRITE_WINDOW = CHECK_WINDOW


@dataclass
class ImportSummary:
    """What a real import wrote, counted as it went (no row is kept)."""

    patients: int = 0
    planned: int = 0
    stale: int = 0
    plans: int = 0  # distinct plans computed (patients with the same slot share one)
    expires_at: datetime | None = None
    # (row, patient id) of rows whose whole plan is already past: the first EMPTY_PLAN_LINES, and how many.
    all_past: list[tuple[int, int]] = field(default_factory=list)
    all_past_count: int = 0


@dataclass(frozen=True)
class ImportOutcome:
    """What an import did, for the command's summary (and the benchmark's figures)."""

    status: int
    summary: ImportSummary | None = None
    checked: Checked | None = None
    csv_path: Path | None = None
    pdf_path: Path | None = None
    cards: CardsReport | None = None
    seconds: dict[str, float] | None = None


def plain(catalog: Catalog, settings: Settings, locale: str, refusal: Refusal) -> str:
    """A refusal's bot text as one plain line (no HTML) for the terminal."""
    values = {"clinic_name": settings.clinic_name or "", "clinic_phone": settings.clinic_phone or "",
              **refusal.values}
    text = catalog.bot(locale, refusal.key, **values)
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def output_paths(source: Path, out_dir: Path | None) -> tuple[Path, Path]:
    """Where the invites go: ``<name>-invites.csv`` and ``.pdf`` beside the file (or in ``out_dir``)."""
    folder = out_dir or source.parent
    return folder / f"{source.stem}-invites.csv", folder / f"{source.stem}-invites.pdf"


def run_import(source: Path, *, engine: Engine, settings: Settings, catalog: Catalog, bot_username: str | None,
               now: datetime, out_dir: Path | None = None, check_only: bool = False, cards: bool | None = None,
               say: Callable[[str], None] = print, complain: Callable[[str], None] = print,
               resolve_username: Callable[[], str] | None = None) -> ImportOutcome:
    """The whole command: 0 imported (or, with ``check_only``, all rows good), 1 bad rows (nothing imported),
    2 the file or the output cannot be used."""
    # Many small objects (rows, plans) and no cycles among them: the collector would walk them again
    # and again (a third of the time at 100,000 rows); each window's look-up session is freed by hand.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with tempfile.TemporaryFile(prefix="aftercare-import-") as spool:  # 0600, and unlinked at once
            return _run_import(source, engine=engine, settings=settings, catalog=catalog, bot_username=bot_username,
                               now=now, out_dir=out_dir, check_only=check_only, cards=cards, say=say,
                               complain=complain, resolve_username=resolve_username, spool=spool)
    finally:
        if collecting:
            gc.enable()


def _run_import(source: Path, *, engine: Engine, settings: Settings, catalog: Catalog, bot_username: str | None,
                now: datetime, out_dir: Path | None, check_only: bool, cards: bool | None,
                say: Callable[[str], None], complain: Callable[[str], None],
                resolve_username: Callable[[], str] | None, spool: IO[bytes]) -> ImportOutcome:
    started = time.perf_counter()
    handle = _open(source, complain=complain)
    if handle is None:
        return ImportOutcome(2)
    csv_path, pdf_path = output_paths(source, out_dir)
    summary = ImportSummary()
    with handle:  # read a row at a time while the rows are checked
        records = _read_records(source, handle, complain=complain)
        if records is None or not (check_only or _outputs_free(csv_path, pdf_path, out_dir=out_dir,
                                                                 complain=complain)):
            return ImportOutcome(2)
        checked = _check(source, records, engine=engine, settings=settings, catalog=catalog, now=now,
                         spool=None if check_only else spool, summary=summary, say=say, complain=complain)
    if checked is None:
        return ImportOutcome(2)
    timings = {"check": time.perf_counter() - started}
    status = _stop_before_writing(checked, check_only=check_only, say=say, complain=complain)
    if status is not None:
        return ImportOutcome(status, None, checked, seconds=timings)
    if bot_username is None:
        bot_username = resolve_username() if resolve_username else None
        if not bot_username:
            complain("aftercare: import: the bot's username is needed for the links: give --bot-username")
            return ImportOutcome(2, None, checked)
    try:
        _write(spool, csv_path, summary, engine=engine, settings=settings, bot_username=bot_username, now=now,
               timings=timings)
    except IntegrityError:
        complain("aftercare: import: nothing imported: the database refused a row (an external id enrolled "
                 "meanwhile?); run the import again")
        return ImportOutcome(1, None, checked)
    except OSError as exc:  # the invites file could not be made (taken meanwhile, a full disk): nothing committed
        complain(f"aftercare: import: nothing imported: cannot write {csv_path}: "
                 f"{target_taken(csv_path) or exc.strerror or type(exc).__name__}")
        return ImportOutcome(2, None, checked)
    _summarize(summary, checked, csv_path, settings=settings, say=say, complain=complain)
    report, printed = None, None
    if cards or (cards is None and summary.patients <= CARDS_AUTO_LIMIT):
        mark = time.perf_counter()
        report = write_cards(pdf_path, csv_path, settings=settings, catalog=catalog)
        timings["cards"] = time.perf_counter() - mark
        printed = pdf_path
        say(f"invite cards to print: {pdf_path} ({report.pages} page(s), {summary.patients} cards)")
        for line in cards_warnings(report, invites=csv_path):
            complain(f"aftercare: warning: {line}")
    else:
        say(f"no cards printed for {summary.patients} patients (over {CARDS_AUTO_LIMIT:,}): make them for the rows "
            f"you need with  aftercare cards {csv_path}  (or import with --cards)")
    timings["total"] = time.perf_counter() - started
    return ImportOutcome(0, summary, checked, csv_path, printed, report, timings)


def _open(source: Path, *, complain: Callable[[str], None]) -> TextIO | None:
    """The file, open for reading as text (a spreadsheet's byte order mark dropped), or None (said why)."""
    try:
        return source.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        complain(f"aftercare: import: no such file {str(source)!r}")
    except OSError as exc:
        complain(f"aftercare: import: cannot read {source}: {exc.strerror}")
    return None


def _read_records(source: Path, handle: TextIO, *,
                  complain: Callable[[str], None]) -> Iterator[dict[str, str]] | None:
    """The file's rows as records, read as they are asked for, or None (said why) when it cannot be read as
    a CSV of patients."""
    try:
        _header, records = read_csv_file(handle)
        return records
    except ImportFileError as exc:
        complain(f"aftercare: import: {source}: {exc}")
        return None


def _outputs_free(csv_path: Path, pdf_path: Path, *, out_dir: Path | None, complain: Callable[[str], None]) -> bool:
    """Whether the invites may be written there: never over an earlier import's links, never into no folder."""
    for path in (csv_path, pdf_path):
        if (taken := target_taken(path)) is not None:
            complain(f"aftercare: import: {taken} (it may hold links of an earlier import): move it away, or "
                     "give --out another folder")
            return False
    if out_dir is not None and not out_dir.is_dir():
        complain(f"aftercare: import: --out: no such folder {str(out_dir)!r}")
        return False
    return True


def _check(source: Path, records: Iterator[dict[str, str]], *, engine: Engine, settings: Settings,
           catalog: Catalog, now: datetime, spool: IO[bytes] | None, summary: ImportSummary,
           say: Callable[[str], None], complain: Callable[[str], None]) -> Checked | None:
    """Every row checked against the settings and the patients already here, a window at a time; each
    problem and skip said as it is found. With a ``spool`` (a real import), the good rows are planned a
    window at a time and pickled into it; none is kept in memory. None (said why) when the file turns
    out unreadable half-way."""
    locale = settings.staff_locale
    defaults = Defaults(now=now, clinic_zone=settings.clinic_timezone, protocols=catalog.protocols,
                        default_protocol=settings.default_protocol, series_length=settings.series_length,
                        locales=catalog.locales, phone_region=settings.phone_region, local_times=True)
    store = Store(engine)  # its look-ups of external ids take no write lock: the bot keeps working meanwhile
    checked = Checked(keep_rows=False)
    good: list[ImportRow] = []
    plans: dict[tuple, tuple[PlannedReminder, ...]] = {}

    def lookup(ids: list[str]) -> dict[str, int]:
        found = store.read_call(existing_external_ids, external_ids=ids)
        # The collector is off for the import (run_import), and a session is a knot of cycles: freed here,
        # a window at a time (only what this window made is looked at), or a million rows would keep 500.
        gc.collect(0)
        return found

    def spool_window() -> None:
        if spool is None or checked.bad or not good:
            good.clear()  # a bad row anywhere: nothing will be written, so nothing more is planned
            return
        before = len(plans)
        prepared = prepare_import(good, quiet_hours=settings.quiet_hours, now=now, plans=plans)
        summary.plans += len(plans) - before if len(plans) >= before else len(plans)
        # Plain tuples, without ids (drawn when written): quick to pickle and to read back under the lock.
        rows = unnumbered_rows(prepared, dialect=engine.dialect.name, invite_ttl=settings.invite_ttl,
                               enrolled_by=None, now=now)
        pickle.dump(rows, spool, protocol=pickle.HIGHEST_PROTOCOL)
        good.clear()

    try:
        for result in check_stream(records, defaults=defaults, lookup=lookup):
            checked.add(result)
            if isinstance(result, RowProblem):
                parts = [f"{column}: {plain(catalog, settings, locale, refusal)}" if column
                         else plain(catalog, settings, locale, refusal) for column, refusal in result.columns]
                complain(f"row {result.row}: " + "; ".join(parts))
            elif isinstance(result, Skipped):
                say(f"row {result.row}: external_id {result.external_id!r} is patient {result.patient_id} already: "
                    f"skipped (a fresh link for them: /invite {result.patient_id})")
            else:
                good.append(result)
                if len(good) >= WRITE_WINDOW:
                    spool_window()
        spool_window()
    except ImportFileError as exc:
        complain(f"aftercare: import: {source}: {exc}")
        return None
    return checked


def _stop_before_writing(checked: Checked, *, check_only: bool, say: Callable[[str], None],
                         complain: Callable[[str], None]) -> int | None:
    """The command's status when nothing is to be written (bad rows, a check only, nothing new); None: write."""
    total = checked.total
    if checked.bad:
        complain(f"aftercare: import: nothing imported: {checked.bad} bad row(s) of {total}; "
                 "correct them and run the import again")
        return 1
    if check_only:
        say(f"all {total} row(s) are good: {checked.good} would be imported, {checked.passed_over} skipped "
            "(nothing was written)")
        return 0
    if not checked.good:
        say("nothing to import: every row's patient is here already")
        return 0
    return None


def _spooled(spool: IO[bytes]) -> Iterator[Unnumbered]:
    """The windows :func:`_check` pickled, in the file's order."""
    spool.seek(0)
    while True:
        try:
            yield pickle.load(spool)  # noqa: S301 - our own private temporary file, written by this process
        except EOFError:
            return


def _write(spool: IO[bytes], csv_path: Path, summary: ImportSummary, *, engine: Engine, settings: Settings,
           bot_username: str, now: datetime, timings: dict[str, float]) -> None:
    """Enroll every spooled row in one transaction, a window at a time, and write the invites CSV before
    it commits.

    Raises ``IntegrityError`` or ``OSError`` with nothing written and no CSV left behind (a row the
    database refuses, a CSV that cannot be made).
    """
    mark = time.perf_counter()
    partial = csv_path.with_name(f".{csv_path.name}.{secrets.token_hex(4)}.partial")
    placed = False
    try:
        with _private_text(partial) as out, Session(engine) as session:
            out.write("\ufeff")  # so that spreadsheets read the names right
            writer = SafeWriter(out)
            writer.writerow(CSV_COLUMNS)
            for unnumbered in _spooled(spool):
                # Ids drawn in the transaction: SQLite's next ones under its write lock, PostgreSQL's sequence.
                patient_ids, enrollment_ids = draw_ids(session, len(unnumbered))
                rows = numbered_rows(unnumbered, patient_ids=patient_ids, enrollment_ids=enrollment_ids)
                # A patient enrolled meanwhile with one of these references: the unique index refuses the
                # whole transaction (IntegrityError), so the import stays all or nothing.
                written = write_rows(session, rows, enrolled_by=None, now=now)
                summary.expires_at = rows.expires_at
                shown = rows.expires_at.astimezone(settings.clinic_timezone).isoformat(timespec="minutes")
                for item in written:
                    writer.writerow((item.row, item.patient_id, item.name, item.external_id or "", item.locale,
                                     invite_link(bot_username, item.token), shown))
                    summary.patients += 1
                    summary.planned += item.planned
                    summary.stale += item.stale
                    if item.planned and item.stale >= item.planned:
                        summary.all_past_count += 1
                        if len(summary.all_past) < EMPTY_PLAN_LINES:
                            summary.all_past.append((item.row, item.patient_id))
            record_import(session, count=summary.patients, now=now)
            timings["write"] = time.perf_counter() - mark
            out.flush()
            os.fsync(out.fileno())
            os.link(partial, csv_path)  # FileExistsError if something took the name meanwhile
            placed = True
            session.commit()
    except BaseException:
        if placed:
            csv_path.unlink(missing_ok=True)  # links that do not work must not reach the front desk
        raise
    finally:
        partial.unlink(missing_ok=True)
    timings["transaction"] = time.perf_counter() - mark


def _private_text(path: Path) -> TextIO:
    """A new text file readable by its owner only (FileExistsError if ``path`` exists), for the csv module."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask
    return open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed by the caller's with


def _summarize(summary: ImportSummary, checked: Checked, csv_path: Path, *, settings: Settings,
               say: Callable[[str], None], complain: Callable[[str], None]) -> None:
    """What was imported, the rows whose whole plan is already past, and where the links are."""
    say(f"imported {summary.patients} patient(s): {summary.planned} messages planned"
        + (f" ({summary.stale} already past and skipped)" if summary.stale else "")
        + (f"; {checked.passed_over} row(s) skipped" if checked.passed_over else ""))
    for row, patient_id in summary.all_past:
        complain(f"aftercare: warning: row {row}: every message of patient {patient_id}'s plan is "
                 "already past, so nothing will be sent (a mistyped session_at?)")
    if summary.all_past_count > len(summary.all_past):
        complain(f"aftercare: warning: … and {summary.all_past_count - len(summary.all_past)} more such rows")
    expires = summary.expires_at.astimezone(settings.clinic_timezone) if summary.expires_at else None
    say(f"invite links: {csv_path} (readable by you only; the links work once and expire "
        f"{expires:%Y-%m-%d %H:%M} {settings.clinic_timezone.key})")


def cards_from_rows(rows, *, settings: Settings, catalog: Catalog) -> list[Card]:
    """Cards for (name, link, lang, expires_at, patient id) rows, their texts in each patient's language
    (a row without one: DEFAULT_LANGUAGE; the patient's own Telegram language takes over once they link)."""
    made = []
    for name, link, lang, expires_at, patient_id in rows:
        locale = lang or settings.default_locale
        when = (catalog.format_date(locale, expires_at.astimezone(settings.clinic_timezone), with_time=True,
                                    with_year=True) if expires_at else "")
        made.append(Card(name=name, link=link, hint=plain_text(catalog.bot(locale, "invite_card_hint")),
                         expires=plain_text(catalog.bot(locale, "invite_card_expires", date=when)) if when else "",
                         clinic=settings.clinic_name, reference=f"#{patient_id}" if patient_id else ""))
    return made


def plain_text(text: str) -> str:
    """A bot text without its HTML, nor direction marks (the cards lay Arabic out themselves, with HarfBuzz)."""
    return " ".join(bidi.strip(html.unescape(_TAG.sub("", text))).split())


def cards_from_invites(rows: Iterable[dict[str, str]], *, settings: Settings, catalog: Catalog) -> list[Card]:
    """Cards for the rows of an invites CSV (:func:`bot.invite_sheets.read_invite_csv`)."""

    def expiry(text: str) -> datetime | None:
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            return None

    return cards_from_rows(((row["name"], row["invite_url"], row.get("lang") or "", expiry(row.get("expires_at") or ""),
                             row.get("patient_id") or "") for row in rows), settings=settings, catalog=catalog)


def write_cards(path: Path, invites: Path, *, settings: Settings, catalog: Catalog) -> CardsReport:
    """The invite cards PDF of an import (0600), made from its invites CSV."""
    cards = cards_from_invites(read_invite_csv(invites.read_text(encoding="utf-8")), settings=settings,
                               catalog=catalog)
    data, report = invite_cards_pdf(cards, fonts=FontChoice(settings.card_fonts))
    create_private(path, data)
    return report


def cards_warnings(report: CardsReport, *, invites: str | Path) -> list[str]:
    """What the admin should know about the cards' fonts (``invites``: the CSV to remake them from)."""
    lines = []
    if report.core_font_only:
        lines.append("no font file found (DejaVu Sans or CARD_FONTS): the cards use Helvetica, which shows "
                     "Latin-1 letters only (install fonts-dejavu-core)")
    if report.missing_glyphs:
        lines.append(f"{report.missing_glyphs} card(s) have letters no font on this machine has: install "
                     "fonts-noto-core and fonts-noto-cjk, or name a font in CARD_FONTS, then remake them with "
                     f"aftercare cards {invites}")
    return lines
