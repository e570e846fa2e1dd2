"""One dispatcher process, for tests/system/test_postgres_dispatchers.py (not a test module itself).

    python -m tests.system.dispatch_worker DATABASE_URL API_ROOT TOKEN

Opens the database and a plain ``telegram.Bot`` pointed at the (fake) Bot API server at
API_ROOT, prints ``ready`` and waits for a line on stdin, so that the test can start several
workers at the same moment. Then it calls :func:`jobs.dispatch.dispatch_due` (with the default
delivery policy and the real clock) again and again until a pass handles nothing, and prints one
JSON line: how many passes it made and the outcome of every reminder it handled, by id.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

from sqlalchemy import text
from telegram import Bot

from jobs.dispatch import ClinicInfo, DispatchReport, dispatch_due
from jobs.storage.db import Store, make_engine
from messages.catalog import load_catalog

CLINIC = ClinicInfo(name="Clínica Sol", phone="+34 600 000 000")


async def main(database_url: str, api_root: str, token: str) -> dict:
    store = Store(make_engine(database_url))
    catalog = load_catalog()
    bot = Bot(token, base_url=f"{api_root}/bot", base_file_url=f"{api_root}/file/bot")
    try:
        async with bot:
            with store.engine.connect() as connection:  # connect now, not in the timed part
                connection.execute(text("SELECT 1"))
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            passes, outcomes = 0, {}
            while True:
                report: DispatchReport = await dispatch_due(
                    store=store, bot=bot, catalog=catalog, clinic=CLINIC, now=datetime.now(UTC))
                passes += 1
                outcomes.update(report.outcomes)
                if not report.handled:
                    break
            return {"passes": passes, "outcomes": outcomes}
    finally:
        store.dispose()


if __name__ == "__main__":
    result = asyncio.run(main(*sys.argv[1:4]))
    print(json.dumps(result), flush=True)
