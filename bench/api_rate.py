"""The enrollment API's rate: POST /api/v1/enrollments over real HTTP, beside the one-by-one path.

Run from the project root with the project's Python::

    python bench/api_rate.py                 # 1,000 requests per database, about a minute
    python bench/api_rate.py --requests 300 --no-postgres

The HTTP side runs in a process of its own (``bot.web.app.build_web_app`` on the bot's services, a
real port on 127.0.0.1, no Telegram: the invite link needs only the bot's username); this process is
the client, keeping ``--concurrency`` requests in flight with one API key. Each request enrolls a new
patient (a full plan, an invite and its QR code in the answer). Beside it, the same number of
patients enrolled one transaction each through ``enroll_patient`` (what ``/enroll`` runs, without
Telegram and without a QR code): the API's cost over the data function is HTTP, JSON, the key check
and the PNG. Prints a Markdown table and writes ``bench/api_rate.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seed import drop_database, fresh_database, pg_available  # noqa: E402

WORKDIR = ROOT / "bench" / ".work"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _settings(url: str):
    from bot.settings import Settings

    return Settings.from_env({"DATABASE_URL": url, "CLINIC_TIMEZONE": "Europe/Madrid", "LOG_LEVEL": "WARNING"},
                             require_token=False)


def _serve(url: str, port: int, ready) -> None:
    """The HTTP side alone, in this process, until killed."""
    from aiohttp import web

    from bot.app import build_services
    from bot.web.app import build_web_app

    class _Bot:  # the invite link needs the bot's username and nothing else of Telegram
        username = "aftercare_bench_bot"

    services = build_services(_settings(url))
    ready.set()
    web.run_app(build_web_app(services, _Bot()), host="127.0.0.1", port=port, print=None, access_log=None)


async def _client(port: int, key: str, requests: int, concurrency: int) -> dict:
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = iter(range(requests))

    async def worker(session) -> None:
        for number in queue:
            body = {"name": f"Bench Patient {number}", "external_id": f"bench-{number}"}
            started = time.perf_counter()
            async with session.post(f"http://127.0.0.1:{port}/api/v1/enrollments", json=body,
                                    headers={"Authorization": f"Bearer {key}"}) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        # Warm up (first connections, the first plan's imports) outside the measurement.
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            await response.read()
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"requests": requests, "concurrency": concurrency, "seconds": round(elapsed, 2),
            "requests_per_s": round(requests / elapsed, 1), "statuses": statuses,
            "median_ms": round(statistics.median(latencies) * 1000, 1),
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1)}


def _one_by_one(url: str, count: int) -> dict:
    """``enroll_patient`` in its own transaction per patient, as /enroll runs it."""
    from datetime import UTC, datetime

    from bot.app import build_services
    from jobs.patients.enrollment import enroll_patient

    services = build_services(_settings(url))
    settings, protocol = services.settings, services.catalog.protocol("microneedling")
    now = datetime.now(UTC)
    started = time.perf_counter()
    for number in range(count):
        services.store.call(enroll_patient, name=f"Direct Patient {number}", protocol=protocol, session_at=now,
                            session_number=1, series_length=3, zone=settings.clinic_timezone, locale="",
                            quiet_hours=settings.quiet_hours, invite_ttl=settings.invite_ttl, enrolled_by=None,
                            now=now)
    elapsed = time.perf_counter() - started
    services.store.dispose()
    return {"patients": count, "seconds": round(elapsed, 2), "patients_per_s": round(count / elapsed, 1)}


def measure(kind: str, requests: int, concurrency: int) -> dict:
    from datetime import UTC, datetime

    from jobs.ops.api_keys import create_key
    from jobs.storage.db import Store, make_engine, upgrade

    WORKDIR.mkdir(parents=True, exist_ok=True)
    name = f"aftercare_bench_api_{os.getpid()}"  # another run (another worktree) may be going on beside
    url = fresh_database(kind, name, WORKDIR)
    engine = make_engine(url)
    upgrade(engine)
    key = Store(engine).call(create_key, name="bench", now=datetime.now(UTC))
    engine.dispose()
    port = _free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(url, port, ready), daemon=True)
    server.start()
    try:
        ready.wait(30)
        for _ in range(100):  # until the port answers
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        api = asyncio.run(_client(port, key, requests, concurrency))
    finally:
        server.terminate()
        server.join(10)
    direct = _one_by_one(url, requests)
    drop_database(kind, name, WORKDIR)
    return {"api": api, "one_by_one": direct}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    kinds = ["sqlite"] + ([] if args.no_postgres or not pg_available() else ["postgres"])
    results = {"load_at_start": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    for kind in kinds:
        results[kind] = measure(kind, args.requests, args.concurrency)
    (ROOT / "bench" / "api_rate.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| measure | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    print("| POST /api/v1/enrollments, " f"{args.requests} new patients, {args.concurrency} in flight (requests/s) | "
          + " | ".join(str(results[k]["api"]["requests_per_s"]) for k in kinds) + " |")
    print("| … latency median / p95 (ms) | "
          + " | ".join(f"{results[k]['api']['median_ms']} / {results[k]['api']['p95_ms']}" for k in kinds) + " |")
    print("| the same patients one transaction each through `enroll_patient` (patients/s) | "
          + " | ".join(str(results[k]["one_by_one"]["patients_per_s"]) for k in kinds) + " |")
    print(f"\nstatuses: {[results[k]['api']['statuses'] for k in kinds]}; load at start {results['load_at_start']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
