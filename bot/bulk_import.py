"""``aftercare import patients.csv``: check every row, enroll them all in one transaction, hand the
front desk the invite links (a CSV, and cards to print).

The order keeps the database's write lock short and never loses a link: the file is read and
checked and every plan computed first (no transaction); the writing transaction then only inserts,
and writes the invites CSV (the only copy of the links: the database keeps their hashes) before it
commits; the cards PDF is made from the same links after the commit, with the lock released.
"""

from __future__ import annotations

import gc
import html
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.invite_card import invite_link
from bot.invite_sheets import Card, CardsReport, FontChoice, create_private, invite_cards_pdf, invite_csv
from bot.settings import Settings
from jobs.data.importing import (
    BulkRows,
    Checked,
    Defaults,
    Imported,
    ImportFileError,
    RowProblem,
    Skipped,
    build_rows,
    check_stream,
    draw_ids,
    existing_external_ids,
    prepare_import,
    read_csv_file,
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


@dataclass(frozen=True)
class ImportOutcome:
    """What an import did, for the command's summary (and the benchmark's figures)."""

    status: int
    imported: list[Imported]
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
    # Hundreds of thousands of small objects (rows, plans) and no cycles among them: the collector
    # would walk the growing heap again and again (a third of the time at 100,000 rows).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run_import(source, engine=engine, settings=settings, catalog=catalog, bot_username=bot_username,
                           now=now, out_dir=out_dir, check_only=check_only, cards=cards, say=say,
                           complain=complain, resolve_username=resolve_username)
    finally:
        if collecting:
            gc.enable()


def _run_import(source: Path, *, engine: Engine, settings: Settings, catalog: Catalog, bot_username: str | None,
                now: datetime, out_dir: Path | None, check_only: bool, cards: bool | None,
                say: Callable[[str], None], complain: Callable[[str], None],
                resolve_username: Callable[[], str] | None) -> ImportOutcome:
    started = time.perf_counter()
    handle = _open(source, complain=complain)
    if handle is None:
        return ImportOutcome(2, [])
    csv_path, pdf_path = output_paths(source, out_dir)
    with handle:  # read a row at a time while the rows are checked
        records = _read_records(source, handle, complain=complain)
        if records is None or not (check_only or _outputs_free(csv_path, pdf_path, out_dir=out_dir,
                                                                 complain=complain)):
            return ImportOutcome(2, [])
        checked = _check(source, records, engine=engine, settings=settings, catalog=catalog, now=now,
                         keep_rows=not check_only, say=say, complain=complain)
    if checked is None:
        return ImportOutcome(2, [])
    timings = {"check": time.perf_counter() - started}
    status = _stop_before_writing(checked, check_only=check_only, say=say, complain=complain)
    if status is not None:
        return ImportOutcome(status, [], checked, seconds=timings)
    if bot_username is None:
        bot_username = resolve_username() if resolve_username else None
        if not bot_username:
            complain("aftercare: import: the bot's username is needed for the links: give --bot-username")
            return ImportOutcome(2, [], checked)
    try:
        imported, links = _write(checked, csv_path, engine=engine, settings=settings, bot_username=bot_username,
                                 now=now, timings=timings)
    except IntegrityError:
        complain("aftercare: import: nothing imported: the database refused a row (an external id enrolled "
                 "meanwhile?); run the import again")
        return ImportOutcome(1, [], checked)
    except OSError as exc:  # the invites file could not be made (taken meanwhile, a full disk): nothing committed
        complain(f"aftercare: import: nothing imported: cannot write {csv_path}: "
                 f"{target_taken(csv_path) or exc.strerror or type(exc).__name__}")
        return ImportOutcome(2, [], checked)
    _summarize(imported, checked, csv_path, settings=settings, say=say, complain=complain)
    report, printed = None, None
    if cards or (cards is None and len(imported) <= CARDS_AUTO_LIMIT):
        mark = time.perf_counter()
        report = write_cards(pdf_path, imported, links, settings=settings, catalog=catalog)
        timings["cards"] = time.perf_counter() - mark
        printed = pdf_path
        say(f"invite cards to print: {pdf_path} ({report.pages} page(s), {len(imported)} cards)")
        for line in cards_warnings(report, invites=csv_path):
            complain(f"aftercare: warning: {line}")
    else:
        say(f"no cards printed for {len(imported)} patients (over {CARDS_AUTO_LIMIT:,}): make them for the rows "
            f"you need with  aftercare cards {csv_path}  (or import with --cards)")
    timings["total"] = time.perf_counter() - started
    return ImportOutcome(0, imported, checked, csv_path, printed, report, timings)


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
           catalog: Catalog, now: datetime, keep_rows: bool, say: Callable[[str], None],
           complain: Callable[[str], None]) -> Checked | None:
    """Every row checked against the settings and the patients already here, a window at a time; each
    problem and skip said as it is found. Only the rows to write are kept (none for a check only); None
    (said why) when the file turns out unreadable half-way."""
    locale = settings.staff_locale
    defaults = Defaults(now=now, clinic_zone=settings.clinic_timezone, protocols=catalog.protocols,
                        default_protocol=settings.default_protocol, series_length=settings.series_length,
                        locales=catalog.locales, phone_region=settings.phone_region, local_times=True)
    store = Store(engine)  # its look-ups of external ids take no write lock: the bot keeps working meanwhile
    checked = Checked(keep_rows=keep_rows)

    def lookup(ids: list[str]) -> dict[str, int]:
        found = store.read_call(existing_external_ids, external_ids=ids)
        # The collector is off for the import (run_import), and a session is a knot of cycles: freed here,
        # a window at a time (only what this window made is looked at), or a million rows would keep 500.
        gc.collect(0)
        return found

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


def _write(checked: Checked, csv_path: Path, *, engine: Engine, settings: Settings, bot_username: str,
           now: datetime, timings: dict[str, float]) -> tuple[list[Imported], list[str]]:
    """Enroll every checked row in one transaction and write the invites CSV before it commits.

    Returns the patients imported and their links; raises ``IntegrityError`` (nothing written, no CSV
    left behind) when the database refuses a row.
    """
    mark = time.perf_counter()
    prepared = prepare_import(checked.rows, quiet_hours=settings.quiet_hours, now=now)
    dialect = engine.dialect.name
    # Everything the transaction writes is built before it begins, for ids drawn ahead: PostgreSQL's
    # sequence hands them out for good; on SQLite they are the next ones, checked again under the lock.
    with Session(engine) as session:
        ahead = draw_ids(session, len(prepared))
        session.commit()

    def build(ids: tuple[list[int], list[int]]) -> tuple[BulkRows, list[str], bytes]:
        rows = build_rows(prepared, patient_ids=ids[0], enrollment_ids=ids[1], dialect=dialect,
                          invite_ttl=settings.invite_ttl, enrolled_by=None, now=now)
        links = [invite_link(bot_username, item.token) for item in rows.imported]
        expires = rows.imported[0].expires_at.astimezone(settings.clinic_timezone).isoformat(timespec="minutes")
        table = invite_csv((item.row.row, item.patient_id, item.row.name, item.row.external_id or "",
                            item.row.locale, link, expires) for item, link in zip(rows.imported, links, strict=True))
        return rows, links, table

    rows, links, table = build(ahead)
    timings["plan"] = time.perf_counter() - mark
    mark = time.perf_counter()
    with Session(engine) as session:
        if dialect != "postgresql":
            again = draw_ids(session, len(prepared))
            if again != ahead:  # someone enrolled a patient meanwhile: the next ids moved on
                rows, links, table = build(again)
        # A patient enrolled meanwhile with one of these references: the unique index refuses the
        # whole transaction (IntegrityError), so the import stays all or nothing.
        imported = write_rows(session, rows, enrolled_by=None, now=now)
        timings["write"] = time.perf_counter() - mark
        create_private(csv_path, table)
        try:
            session.commit()
        except BaseException:
            csv_path.unlink(missing_ok=True)  # links that do not work must not reach the front desk
            raise
    timings["transaction"] = time.perf_counter() - mark
    return imported, links


def _summarize(imported: list[Imported], checked: Checked, csv_path: Path, *, settings: Settings,
               say: Callable[[str], None], complain: Callable[[str], None]) -> None:
    """What was imported, the rows whose whole plan is already past, and where the links are."""
    planned = sum(item.planned for item in imported)
    stale = sum(item.stale for item in imported)
    say(f"imported {len(imported)} patient(s): {planned} messages planned"
        + (f" ({stale} already past and skipped)" if stale else "")
        + (f"; {checked.passed_over} row(s) skipped" if checked.passed_over else ""))
    empty = [item for item in imported if item.planned and item.stale >= item.planned]
    for item in empty[:EMPTY_PLAN_LINES]:
        complain(f"aftercare: warning: row {item.row.row}: every message of patient {item.patient_id}'s plan is "
                 "already past, so nothing will be sent (a mistyped session_at?)")
    if len(empty) > EMPTY_PLAN_LINES:
        complain(f"aftercare: warning: … and {len(empty) - EMPTY_PLAN_LINES} more such rows")
    say(f"invite links: {csv_path} (readable by you only; the links work once and expire "
        f"{imported[0].expires_at.astimezone(settings.clinic_timezone):%Y-%m-%d %H:%M} {settings.clinic_timezone.key})")


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


def write_cards(path: Path, imported: list[Imported], links: list[str], *, settings: Settings,
                catalog: Catalog) -> CardsReport:
    """The invite cards PDF of an import (0600)."""
    cards = cards_from_rows(((item.row.name, link, item.row.locale, item.expires_at, item.patient_id)
                             for item, link in zip(imported, links, strict=True)), settings=settings, catalog=catalog)
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
