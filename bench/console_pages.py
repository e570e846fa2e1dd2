"""The staff console's pages at 10,000 patients: how long each answers, on SQLite and PostgreSQL.

Run from the project root with the project's Python::

    python bench/console_pages.py                      # 10,000 patients, both databases
    python bench/console_pages.py --patients 2000 --no-postgres

A database is seeded as the other benchmarks do (bench/seed.py: linked patients, one enrollment
each, eight reminders spread over ±60 days) plus open inbox items; the console's application
(``bot.web.app.build_web_app``, no Telegram) answers on a loopback test server, signed in with a
session cookie as a browser would be. Each page is asked ``--repeat`` times in turn; the figure is
the time from request to the whole answer read, so it includes the client's share on the same
2 cores: an upper bound of the server's time. The issue's target is under 100 ms per page.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seed import drop_database, fresh_database, migrate, pg_available, seed, utc_now  # noqa: E402

WORKDIR = ROOT / "bench" / ".work"
STAFF = 1001
TOKEN = "123456:" + "B" * 35
PAGES = ("/console/", "/console/patients", "/console/patients?which=due", "/console/patients?q=zzz",
         "/console/patients/1000", "/console/enroll", "/console/stats", "/console/protocols")


class _Bot:  # the invite links need the bot's username and nothing else of Telegram
    username = "aftercare_bench_bot"


async def _measure(url: str, repeat: int, patients: int) -> dict[str, list[float]]:
    from aiohttp import CookieJar
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_services
    from bot.settings import Settings
    from bot.web.app import build_web_app
    from bot.web.console.identity import COOKIE
    from jobs.staff.console_access import create_login, redeem_login
    from jobs.staff.inbox import open_item

    settings = Settings.from_env({"BOT_TOKEN": TOKEN, "DATABASE_URL": url, "CLINIC_TIMEZONE": "Europe/Madrid",
                                  "STAFF_IDS": str(STAFF), "HTTP_PORT": "8089", "LOG_LEVEL": "WARNING"})
    services = build_services(settings, migrate=False)
    now = services.clock()

    def prepare(session):
        for n in range(100):
            open_item(session, kind="message", patient_id=1 + n * (patients // 100), text=f"message {n}", now=now)
        token = create_login(session, user_id=STAFF, name="Bench", now=now)
        return redeem_login(session, token=token, now=now, lasting=timedelta(hours=settings.console_session_hours))[1]

    cookie = services.store.call(prepare)
    client = TestClient(TestServer(build_web_app(services, _Bot()), host="127.0.0.1"),
                        cookie_jar=CookieJar(unsafe=True))
    await client.start_server()
    client.session.cookie_jar.update_cookies({COOKIE: cookie}, client.make_url("/console/"))
    times: dict[str, list[float]] = {page: [] for page in PAGES}
    try:
        for page in PAGES:  # once each first: templates compiled, caches warm
            response = await client.get(page)
            assert response.status == 200, (page, response.status, await response.text())
        for _ in range(repeat):
            for page in PAGES:
                started = time.perf_counter()
                response = await client.get(page)
                await response.read()
                times[page].append((time.perf_counter() - started) * 1000)
    finally:
        await client.close()
        services.store.dispose()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    WORKDIR.mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite"] + (["postgres"] if not args.no_postgres and pg_available() else [])
    results = {}
    for kind in kinds:
        name = "bench_console"
        url = fresh_database(kind, name, WORKDIR)
        try:
            migrate(url)
            seed(url, patients=args.patients, reminders_per_patient=8, due_every=50, now=utc_now())
            results[kind] = asyncio.run(_measure(url, args.repeat, args.patients))
        finally:
            drop_database(kind, name, WORKDIR)
    print(f"| page ({args.patients:,} patients) | " + " | ".join(f"{kind} median / max ms" for kind in kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for page in PAGES:
        cells = [f"{statistics.median(results[kind][page]):.1f} / {max(results[kind][page]):.1f}" for kind in kinds]
        print(f"| `{page}` | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
