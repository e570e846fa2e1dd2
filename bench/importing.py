"""The bulk import measured beside the one-by-one path and the usual ORM import (workers for run.py).

* ``import_bulk``: ``bot.bulk_import.run_import`` itself (what ``aftercare import`` runs) on a CSV of
  N rows into a fresh, migrated database, without the cards PDF (timed on its own by
  ``import_cards``); meanwhile a probe thread does what a bot handler does, a short write
  transaction every 50 ms waiting at most the handlers' 2 s for the lock, and records how long each
  waited: how long the import locks the bot out.
* ``import_one_by_one``: today's path, each row its own transaction (``enroll_patient`` through
  ``Store.call``, as ``/enroll`` does), on a sample, extrapolated linearly.
* ``import_orm``: the usual way an import is written: one session, ``enroll_patient`` (ORM objects,
  a flush per patient) for each row, one commit at the end; on a sample, extrapolated linearly.
* ``import_cards``: the cards PDF for a sample of imported patients (ms per card).
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import peak_rss_mb

CLINIC_ENV = {"BOT_TOKEN": "", "CLINIC_TIMEZONE": "Europe/Madrid", "CLINIC_PHONE": "+34 600 000 000",
              "CLINIC_NAME": "Clínica Sol"}
FIRST = ["Ana", "María José", "Lucía", "Carmen", "Zoë", "Chloé", "Ioana", "Agnieszka", "Ζωή", "Анна", "Léa", "Nuria"]
LAST = ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Núñez", "Muñoz", "Ruiz", "Díaz", "Ortega"]


def write_csv(path: Path, rows: int, *, now: datetime, seed: int = 7) -> Path:
    """A realistic patients file: sessions over the last two days, a third with a phone, all with an external id."""
    rng = random.Random(seed)
    zone = ZoneInfo("Europe/Madrid")
    # Written as generated: a million rows (100 MB) never sit in this process's memory.
    with path.open("w", encoding="utf-8") as handle:
        handle.write("name,session_at,session,series,protocol,tz,lang,phone,external_id\n")
        for n in range(rows):
            session_at = (now - timedelta(minutes=rng.randrange(30, 2 * 24 * 60))).astimezone(zone)
            phone = f"+34 6{rng.randrange(10**7, 10**8):08d}" if n % 3 == 0 else ""
            protocol = "microneedling_peel_laser" if n % 10 == 0 else ""
            handle.write(f"{rng.choice(FIRST)} {rng.choice(LAST)} {n},{session_at.isoformat(timespec='minutes')},"
                         f"{1 + n % 3},,{protocol},,{('', 'en', 'es')[n % 3]},{phone},EXT-{n:07d}\n")
    return path


def _setup(url: str):
    from bot.app import load_messages
    from bot.settings import Settings
    from jobs.storage.db import make_engine

    settings = Settings.from_env({**CLINIC_ENV, "DATABASE_URL": url}, require_token=False)
    return settings, load_messages(settings), make_engine(url)


class LockProbe:
    """A bot handler's worth of writing: a short transaction every ``every`` s, timed."""

    def __init__(self, engine, every: float = 0.05) -> None:
        from jobs.storage.db import HANDLER_BUSY_TIMEOUT_MS, Store

        self.store = Store(engine, busy_timeout_ms=HANDLER_BUSY_TIMEOUT_MS)
        self.every, self.waits, self.failures = every, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _write(self, session) -> None:
        from jobs.storage.models import Heartbeat

        beat = session.get(Heartbeat, "bench-probe") or Heartbeat(name="bench-probe", at=datetime.now(UTC))
        beat.at = datetime.now(UTC)
        session.add(beat)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self.store.call(self._write)
                self.waits.append(time.perf_counter() - started)
            except Exception:  # noqa: BLE001 - "database is locked" after the handlers' wait: counted
                self.failures += 1
            self._stop.wait(self.every)

    def __enter__(self) -> LockProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        waits = sorted(self.waits) or [0.0]
        return {"probe_writes": len(self.waits), "probe_failures": self.failures,
                "probe_max_wait_s": round(waits[-1], 3),
                "probe_p50_wait_ms": round(waits[len(waits) // 2] * 1000, 2)}


def import_bulk(args: dict) -> dict:
    from bot.bulk_import import run_import

    settings, catalog, engine = _setup(args["url"])
    now = datetime.now(UTC)
    source = write_csv(Path(args["workdir"]) / f"import_{args['rows']}.csv", args["rows"], now=now)
    out = Path(args["workdir"]) / f"import_out_{time.time_ns()}"
    out.mkdir()
    cpu0 = time.process_time()
    started = time.perf_counter()
    with LockProbe(engine) as probe:
        outcome = run_import(source, engine=engine, settings=settings, catalog=catalog,
                             bot_username="aftercare_bench_bot", now=now, out_dir=out, cards=False,
                             say=lambda line: None, complain=lambda line: None)
    wall = time.perf_counter() - started
    assert outcome.status == 0, outcome.status
    summary = outcome.summary
    engine.dispose()
    return {"rows": args["rows"], "imported": summary.patients, "reminders": summary.planned,
            "distinct_plans": summary.plans, "wall_s": round(wall, 2), "cpu_s": round(time.process_time() - cpu0, 2),
            "phases_s": {k: round(v, 2) for k, v in (outcome.seconds or {}).items()},
            "peak_rss_mb": round(peak_rss_mb(), 1), **probe.summary()}


def _rows(args: dict, now: datetime):
    from jobs.data.importing import Defaults, check_records, read_csv

    settings, catalog, engine = _setup(args["url"])
    source = write_csv(Path(args["workdir"]) / f"sample_{args['rows']}.csv", args["rows"], now=now, seed=11)
    _, records = read_csv(source.read_text(encoding="utf-8"))
    defaults = Defaults(now=now, clinic_zone=settings.clinic_timezone, protocols=catalog.protocols,
                        default_protocol=settings.default_protocol, series_length=settings.series_length,
                        locales=catalog.locales, phone_region=settings.phone_region)
    checked = check_records(records, defaults=defaults)
    assert checked.ok
    return settings, engine, checked.rows


def _enroll(session, row, settings, now):
    from jobs.patients.enrollment import enroll_patient

    return enroll_patient(session, name=row.name, protocol=row.protocol, session_at=row.session_at,
                          session_number=row.session_number, series_length=row.series_length, zone=row.zone,
                          locale=row.locale, quiet_hours=settings.quiet_hours, invite_ttl=settings.invite_ttl,
                          enrolled_by=None, now=now, phone=row.phone, external_id=row.external_id)


def import_one_by_one(args: dict) -> dict:
    from jobs.storage.db import Store

    now = datetime.now(UTC)
    settings, engine, rows = _rows(args, now)
    store = Store(engine)
    started = time.perf_counter()
    for row in rows:
        store.call(_enroll, row=row, settings=settings, now=now)
    wall = time.perf_counter() - started
    engine.dispose()
    return {"rows": len(rows), "wall_s": round(wall, 2), "ms_per_row": round(wall / len(rows) * 1000, 3),
            "extrapolated_s": round(wall / len(rows) * args["target"], 1)}


def import_orm(args: dict) -> dict:
    from sqlmodel import Session

    now = datetime.now(UTC)
    settings, engine, rows = _rows(args, now)
    started = time.perf_counter()
    with Session(engine) as session:
        for row in rows:
            _enroll(session, row, settings, now)
        session.commit()
    wall = time.perf_counter() - started
    engine.dispose()
    return {"rows": len(rows), "wall_s": round(wall, 2), "ms_per_row": round(wall / len(rows) * 1000, 3),
            "extrapolated_s": round(wall / len(rows) * args["target"], 1)}


def import_cards(args: dict) -> dict:
    from bot.bulk_import import cards_from_rows
    from bot.invite_card import invite_link
    from bot.invite_sheets import FontChoice, invite_cards_pdf
    from jobs.patients.invites import new_token

    settings, catalog, engine = _setup(args["url"])
    engine.dispose()
    now = datetime.now(UTC)
    rows = [(f"{FIRST[n % len(FIRST)]} {LAST[n % len(LAST)]}", invite_link("aftercare_bench_bot", new_token()),
             ("", "en", "es")[n % 3], now + timedelta(days=7), n + 1) for n in range(args["cards"])]
    started = time.perf_counter()
    cards = cards_from_rows(rows, settings=settings, catalog=catalog)
    data, report = invite_cards_pdf(cards, fonts=FontChoice())
    wall = time.perf_counter() - started
    return {"cards": len(cards), "pages": report.pages, "wall_s": round(wall, 2),
            "ms_per_card": round(wall / len(cards) * 1000, 2), "pdf_mb": round(len(data) / 2**20, 2),
            "extrapolated_s_per_100k": round(wall / len(cards) * 100_000, 0)}


WORKERS = {"import_bulk": import_bulk, "import_one_by_one": import_one_by_one, "import_orm": import_orm,
           "import_cards": import_cards}
