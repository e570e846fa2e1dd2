"""Aftercare's benchmark: our database-driven dispatcher against the usual one-job-per-reminder approach.

Run from the project root with the project's Python (the dev venv)::

    python bench/run.py                  # everything, about 7 minutes on 2 cores
    python bench/run.py --quick          # smaller workloads, about 4 minutes
    python bench/run.py --only throughput --only limit
    python bench/run.py --no-postgres    # SQLite only

It prints a Markdown table and writes ``bench/last_run.md`` and ``bench/last_run.json``
(every raw figure, query plans and profiles included). bench/README.md explains each figure.

What it measures (every measurement in its own process; the fake Bot API in another one, so the
CPU counted is the dispatcher's alone):

* **throughput**: drain 20,000 due reminders (one per chat) with ``jobs.dispatch.dispatch_due``,
  a plain ``telegram.Bot`` on the bot's own ``AiohttpRequest`` (no rate limiter) and
  ``ChatPacer(0)``, on SQLite and on PostgreSQL: messages per second and CPU milliseconds per
  message of the dispatcher process. Then the same drain at several concurrencies, the cost of
  each piece alone (claim, render, send, record), and a profile.
* **limit**: drain reminders with python-telegram-bot's ``AIORateLimiter`` as ``bot/app.py``
  builds it, against a fake that allows 30 messages in any 1-second window and answers 429
  beyond: achieved rate as a fraction of 30/s and the number of 429s. Three ways: re-running
  the dispatcher at once after a 429 halts it, re-running it at the bot's own 30-s job interval
  (what the bot does), and, for reference, PTB's default limiter configuration at that interval.
* **scale**: 100,000 patients and 1,000,000 reminder rows (1% due), SQLite and PostgreSQL:
  time to enroll one more patient (``enroll_patient`` through ``Store.call``), time of one
  claim (``claim_due``, limit 100, rolled back each time; median and p99 of 200), start-up
  time to the first send and resident memory of a dispatcher process, at 1,000 and at 100,000
  patients, both for a minimal dispatcher process and for the real bot (``python -m bot run``).
* **usual**: (a) one ``job_queue.run_once`` per reminder, (b) one APScheduler job per reminder
  in ``SQLAlchemyJobStore`` (SQLite file): time to schedule 8 reminders for each patient
  (measured on fewer patients and extrapolated to 100,000, said so in the table), memory,
  start-up, what survives a restart, and what is sent after an outage longer than the 1 s
  misfire grace.
* **outage**: ours after the same outage: what is due and not stale is sent once, the stale
  is skipped, a second pass sends nothing.
* **burst**: the real bot (``python -m bot run``, polling, its rate limiter) is sending a backlog of
  5,000 due messages when 40 patients open their invite links within one second: seconds from each
  ``/start`` reaching the Bot API server to the bot's greeting (median, p95, max), SQLite and
  PostgreSQL (``--only burst`` runs just this, about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import seed as seeding  # noqa: E402
from bench.common import TOKEN  # noqa: E402

SECTIONS = ("throughput", "sweep", "components", "profile", "limit", "scale", "usual", "outage", "burst", "import",
            "staff")
TARGET_PATIENTS = 100_000
TARGET_JOBS = TARGET_PATIENTS * 8

FULL = {
    "tp_n": 20_000, "tp_concurrency": 4, "tp_batch": 1000, "sweep_n": 3000, "sweep": [1, 4, 8, 16],
    "components_n": 3000, "profile_n": 2000,
    "limit_n": 3000, "limit_variant_n": 1200, "limit_cadence_wall_s": 62, "tick_s": 30,
    "scale_patients": 100_000, "scale_per_patient": 10, "small_patients": 1000, "enrollments": 200,
    "claims": 200, "claim_limit": 100,
    "usual_a_patients": 20_000, "usual_b_patients": 1000, "usual_b_synth_jobs": TARGET_JOBS,
    "outage_jobs": 1000, "outage_s": 5, "ours_outage_due": 1000, "ours_outage_stale": 200,
    "burst_patients": 40, "burst_backlog": 5000,
    "import_rows": TARGET_PATIENTS, "import_one_by_one": 1000, "import_orm": 5000, "import_cards": 1000,
    "staff_patients": 50, "staff_seconds": 75,
}
QUICK = {
    **FULL, "tp_n": 3000, "sweep": [], "components_n": 1000,
    "profile_n": 1000, "limit_n": 600, "limit_variant_n": 300, "limit_cadence_wall_s": 35,
    "scale_patients": 10_000, "small_patients": 1000, "enrollments": 50, "claims": 100,
    "usual_a_patients": 3000, "usual_b_patients": 150, "usual_b_synth_jobs": 80_000,
    "outage_jobs": 300, "ours_outage_due": 300, "ours_outage_stale": 60,
    "import_rows": 10_000, "import_one_by_one": 200, "import_orm": 1000, "import_cards": 200,
}


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- plumbing

class FakeAPI:
    """The fast fake Bot API (bench/fast_api.py) in its own process."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.root = f"http://127.0.0.1:{self.port}"
        self._log = open(workdir / "fast_api.log", "w")
        self.process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fast_api.py"), "--port",
                                         str(self.port)], stdout=self._log, stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the fake Bot API did not start")

    def _call(self, path: str, method: str = "GET") -> dict:
        request = urllib.request.Request(self.root + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict:
        return self._call("/_stats")

    def reset(self, limit: int = 0) -> dict:
        return self._call(f"/_reset?limit={limit}", "POST")

    def cpu_s(self) -> float:
        return process_cpu_s(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


def process_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_memory_mb(pid: int) -> dict:
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
    return values


class Runner:
    """Starts workers, keeps the log, collects results."""

    def __init__(self, workdir: Path, fake: FakeAPI) -> None:
        self.workdir, self.fake = workdir, fake
        self.worker_log = open(workdir / "workers.log", "a")

    def worker(self, name: str, args: dict, timeout: float = 900) -> dict:
        self.worker_log.write(f"\n=== {datetime.now(UTC):%H:%M:%S} {name} {json.dumps(args)}\n")
        self.worker_log.flush()
        completed = subprocess.run([sys.executable, "-m", "bench.workers", name, json.dumps(args)], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=self.worker_log, text=True, timeout=timeout)
        for line in completed.stdout.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        raise RuntimeError(f"worker {name} failed (exit {completed.returncode}); see {self.workdir}/workers.log")

    def spawn_until_first_send(self, command: list[str], *, env: dict | None = None, settle_s: float = 0.0,
                               timeout: float = 120, stop_signal=signal.SIGINT) -> dict:
        """Start ``command``; time from just before the start to the fake's first sendMessage.

        If ``settle_s``, let it run that long after the first send, read its memory from /proc,
        then stop it with ``stop_signal``; otherwise let it finish by itself.
        """
        self.fake.reset()
        self.worker_log.write(f"\n=== {datetime.now(UTC):%H:%M:%S} {' '.join(command[:4])}\n")
        self.worker_log.flush()
        started = time.time()
        process = subprocess.Popen(command, cwd=self.workdir if env else ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=self.worker_log, text=True)
        first = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self.fake.stats()
            if stats["first_send_wall"] is not None:
                first = stats["first_send_wall"]
                break
            if process.poll() is not None:
                break
            time.sleep(0.01)
        result: dict = {"startup_s": round(first - started, 3) if first else None}
        if settle_s and process.poll() is None:
            time.sleep(settle_s)
            result.update(process_memory_mb(process.pid))
            process.send_signal(stop_signal)
        try:
            out, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        for line in (out or "").splitlines():
            if line.startswith("RESULT "):
                result.update(json.loads(line[7:]))
        result["sent_by_then"] = self.fake.stats()["sent"]
        return result


def fresh_db(kind: str, name: str, workdir: Path) -> str:
    url = seeding.fresh_database(kind, name, workdir)
    seeding.migrate(url)
    return url


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, round(time.perf_counter() - started, 1)


# ---------------------------------------------------------------------------------------------- sections

def section_throughput(run: Runner, cfg: dict, kinds: list[str], out: dict) -> None:
    for kind in kinds:
        url = fresh_db(kind, "bench_tp", run.workdir)
        seeded, seed_s = timed(seeding.seed, url, patients=cfg["tp_n"], reminders_per_patient=1, due_every=1,
                               now=seeding.utc_now(), all_due=True)
        log(f"throughput {kind}: seeded {seeded['due']} due reminders in {seed_s} s; draining")
        run.fake.reset()
        load, fake_cpu = os.getloadavg()[0], run.fake.cpu_s()
        result = run.worker("drain", {"url": url, "root": run.fake.root, "concurrency": cfg["tp_concurrency"],
                                      "batch_size": cfg["tp_batch"]})
        stats = run.fake.stats()
        result.update(seed_s=seed_s, load_before=round(load, 2), fake_cpu_s=round(run.fake.cpu_s() - fake_cpu, 2),
                      fake_sent=stats["sent"], fake_duplicates=stats["chats_with_more_than_one"],
                      concurrency=cfg["tp_concurrency"], batch_size=cfg["tp_batch"], reminders=cfg["tp_n"])
        out.setdefault("throughput", {})[kind] = result
        log(f"throughput {kind}: {result['msgs_per_s']} msg/s, {result['cpu_ms_per_msg']} CPU ms/msg")
        seeding.drop_database(kind, "bench_tp", run.workdir)


def section_sweep(run: Runner, cfg: dict, out: dict) -> None:
    rows = []
    for concurrency in cfg["sweep"]:
        url = fresh_db("sqlite", "bench_sweep", run.workdir)
        seeding.seed(url, patients=cfg["sweep_n"], reminders_per_patient=1, due_every=1, now=seeding.utc_now(),
                     all_due=True)
        run.fake.reset()
        load = os.getloadavg()[0]
        result = run.worker("drain", {"url": url, "root": run.fake.root, "concurrency": concurrency,
                                      "batch_size": cfg["tp_batch"]})
        rows.append({"concurrency": concurrency, "msgs_per_s": result["msgs_per_s"],
                     "cpu_ms_per_msg": result["cpu_ms_per_msg"], "load_before": round(load, 2)})
        log(f"sweep: concurrency {concurrency}: {result['msgs_per_s']} msg/s, {result['cpu_ms_per_msg']} ms/msg")
    seeding.drop_database("sqlite", "bench_sweep", run.workdir)
    out["sweep"] = {"reminders": cfg["sweep_n"], "rows": rows}


def section_components(run: Runner, cfg: dict, kinds: list[str], out: dict) -> None:
    for kind in kinds:
        url = fresh_db(kind, "bench_parts", run.workdir)
        seeding.seed(url, patients=cfg["components_n"], reminders_per_patient=1, due_every=1, now=seeding.utc_now(),
                     all_due=True)
        run.fake.reset()
        result = run.worker("components", {"url": url, "root": run.fake.root, "concurrency": cfg["tp_concurrency"]})
        out.setdefault("components", {})[kind] = result["components"]
        log(f"components {kind}: " + ", ".join(f"{k}: {v['cpu_ms_per_msg']}" for k, v in result["components"].items()))
        seeding.drop_database(kind, "bench_parts", run.workdir)


def section_profile(run: Runner, cfg: dict, out: dict) -> None:
    url = fresh_db("sqlite", "bench_profile", run.workdir)
    seeding.seed(url, patients=cfg["profile_n"], reminders_per_patient=1, due_every=1, now=seeding.utc_now(),
                 all_due=True)
    run.fake.reset()
    result = run.worker("drain", {"url": url, "root": run.fake.root, "concurrency": cfg["tp_concurrency"],
                                  "batch_size": cfg["tp_batch"], "profile": True})
    out["profile"] = result
    seeding.drop_database("sqlite", "bench_profile", run.workdir)
    shares = result["profile"]["share_by_package"]
    log("profile: " + ", ".join(f"{k} {v:.0%}" for k, v in list(shares.items())[:6]))


def section_limit(run: Runner, cfg: dict, out: dict) -> None:
    # (name, limiter, reminders, seconds between dispatcher runs after a 429 halt, longest run)
    variants = [
        ("rerun_at_once", "app", cfg["limit_n"], 0, 900),
        ("bot_interval", "app", cfg["limit_variant_n"], cfg["tick_s"], cfg["limit_cadence_wall_s"]),
        ("ptb_default_limiter", "ptb_default", cfg["limit_variant_n"], cfg["tick_s"], cfg["limit_cadence_wall_s"]),
    ]
    out["limit"] = {}
    for name, limiter, count, tick, max_wall in variants:
        url = fresh_db("sqlite", "bench_limit", run.workdir)
        seeding.seed(url, patients=count, reminders_per_patient=1, due_every=1, now=seeding.utc_now(), all_due=True)
        run.fake.reset(limit=30)
        log(f"limit {name}: {count} reminders at 30/s"
            + (f", job every {tick} s, at most {max_wall} s" if tick else ""))
        result = run.worker("drain", {"url": url, "root": run.fake.root, "rate_limited": True, "limiter": limiter,
                                      "tick_s": tick, "max_wall_s": max_wall})
        stats = run.fake.stats()
        span = (stats["last_send_wall"] or 0) - (stats["first_send_wall"] or 0)
        result.update(reminders=count, fake=stats, limiter=limiter, tick_s=tick,
                      fraction_of_30=round(result["sent"] / result["wall_s"] / 30, 3),
                      fraction_of_30_first_to_last=round((stats["sent"] - 1) / span / 30, 3) if span > 0 else None)
        out["limit"][name] = result
        log(f"limit {name}: sent {result['sent']} in {result['wall_s']} s = {result['fraction_of_30']} of 30/s, "
            f"{stats['rejected_429']} x 429")
        seeding.drop_database("sqlite", "bench_limit", run.workdir)
    run.fake.reset()


def section_scale(run: Runner, cfg: dict, kinds: list[str], out: dict) -> None:
    out["scale"] = {}
    for kind in kinds:
        res: dict = {}
        urls = {}
        for size, patients in (("small", cfg["small_patients"]), ("big", cfg["scale_patients"])):
            url = fresh_db(kind, f"bench_scale_{size}", run.workdir)
            seeded, seed_s = timed(seeding.seed, url, patients=patients, reminders_per_patient=cfg["scale_per_patient"],
                                   due_every=10, now=seeding.utc_now(), fast=True)
            urls[size] = url
            res[f"{size}_db"] = {**seeded, "seed_s": seed_s}
            log(f"scale {kind} {size}: {seeded['patients']} patients, {seeded['reminders']} reminders "
                f"({seeded['due']} due) in {seed_s} s")
        for size in ("small", "big"):
            result = run.worker("scale_queries", {"url": urls[size], "enrollments": cfg["enrollments"],
                                                  "claims": cfg["claims"], "claim_limit": cfg["claim_limit"]})
            res[f"{size}_queries"] = result
            log(f"scale {kind} {size}: enroll median {result['enroll_ms_median']} ms, claim median "
                f"{result['claim_ms_median']} ms, p99 {result['claim_ms_p99']} ms")
        for size in ("small", "big"):
            seeding.restore_due(urls[size])
            dispatcher = run.spawn_until_first_send(
                [sys.executable, "-m", "bench.workers", "dispatcher_start",
                 json.dumps({"url": urls[size], "root": run.fake.root, "stop_after": 100})])
            res[f"{size}_dispatcher"] = dispatcher
            env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
                   "BOT_TOKEN": TOKEN, "DATABASE_URL": urls[size], "TELEGRAM_API_BASE_URL": run.fake.root,
                   "LOG_LEVEL": "WARNING"}
            seeding.restore_due(urls[size])
            # An empty settings file of its own: a named --env-file must exist, and the environment gives the rest.
            (run.workdir / "empty.env").write_text("")
            real_bot = run.spawn_until_first_send(
                [sys.executable, "-m", "bot", "--env-file", str(run.workdir / "empty.env"), "run"], env=env, settle_s=5,
                timeout=30)
            res[f"{size}_bot"] = real_bot
            log(f"scale {kind} {size}: dispatcher first send {dispatcher['startup_s']} s, "
                f"RSS {dispatcher.get('rss_mb')} MB;"
                f" real bot first send {real_bot['startup_s']} s, RSS {real_bot.get('VmRSS')} MB")
        for size in ("small", "big"):
            seeding.drop_database(kind, f"bench_scale_{size}", run.workdir)
        out["scale"][kind] = res


def section_usual(run: Runner, cfg: dict, out: dict) -> None:
    res: dict = {}
    run.fake.reset()
    log(f"usual (a): run_once for {cfg['usual_a_patients']} patients x 8")
    a = run.worker("jobqueue_schedule", {"root": run.fake.root, "patients": cfg["usual_a_patients"]}, timeout=1200)
    a["extrapolated_s_800k"] = round(_extrapolate(a["checkpoints"], TARGET_JOBS), 1)
    a["extrapolated_rss_mb_800k"] = round(a["rss_before_mb"] + a["kb_per_job"] * TARGET_JOBS / 1024, 0)
    res["a_schedule"] = a
    log(f"usual (a): {a['jobs']} jobs in {a['wall_s']} s, {a['kb_per_job']} kB/job; 800k extrapolated "
        f"{a['extrapolated_s_800k']} s, {a['extrapolated_rss_mb_800k']} MB")
    res["a_restart"] = run.worker("jobqueue_restart", {"root": run.fake.root})

    path = run.workdir / "jobstore_schedule.sqlite"
    path.unlink(missing_ok=True)
    log(f"usual (b): add_job to SQLAlchemyJobStore for {cfg['usual_b_patients']} patients x 8")
    b = run.worker("jobstore_schedule", {"path": str(path), "patients": cfg["usual_b_patients"]}, timeout=1200)
    b["extrapolated_s_800k"] = round(b["ms_per_job"] * TARGET_JOBS / 1000, 0)
    res["b_schedule"] = b
    log(f"usual (b): {b['jobs']} jobs in {b['wall_s']} s = {b['ms_per_job']} ms/job; 800k extrapolated "
        f"{b['extrapolated_s_800k']} s")

    big = run.workdir / "jobstore_big.sqlite"
    big.unlink(missing_ok=True)
    synth = run.worker("jobstore_synthesize", {"path": str(big), "jobs": cfg["usual_b_synth_jobs"]}, timeout=900)
    res["b_synthesized"] = synth
    # One job due the moment the restarted process starts (grace 60 s, so a slow start is not "missed").
    run.worker("jobstore_add_due_now", {"path": str(big), "count": 1, "run_at": time.time() + 1.0, "grace": 60,
                                        "tag": "startup"})
    restart = run.spawn_until_first_send(
        [sys.executable, "-m", "bench.workers", "jobstore_restart",
         json.dumps({"path": str(big), "root": run.fake.root, "stay_s": 30, "expect_sends": 1})])
    res["b_restart_big"] = restart
    log(f"usual (b): restart on {synth['jobs']} rows: first send {restart['startup_s']} s, "
        f"RSS {restart.get('rss_mb')} MB")
    big.unlink(missing_ok=True)

    # The outage: jobs due during it, a restart after the 1 s misfire grace.
    store = run.workdir / "jobstore_outage.sqlite"
    store.unlink(missing_ok=True)
    due_at = time.time() + 3
    run.worker("jobstore_add_due_now", {"path": str(store), "count": cfg["outage_jobs"], "run_at": due_at,
                                        "tag": "outage"})
    time.sleep(max(0.0, due_at + cfg["outage_s"] - time.time()))
    run.fake.reset()
    after = run.worker("jobstore_restart", {"path": str(store), "root": run.fake.root, "stay_s": 3})
    after["fake_sent"] = run.fake.stats()["sent"]
    after["outage_s"] = cfg["outage_s"]
    res["b_outage"] = after
    log(f"usual (b) outage {cfg['outage_s']} s: {after['executed']} ran, {after['missed']} missed, "
        f"{after['fake_sent']} sent, rows {after['rows_before']} -> {after['rows_after']}")
    out["usual"] = res


def _extrapolate(checkpoints: list, target: int) -> float:
    """Fit t(n) = a*n + b*n^2 (least squares through the origin) and evaluate at ``target``."""
    s11 = sum(n * n for n, _ in checkpoints)
    s12 = sum(n ** 3 for n, _ in checkpoints)
    s22 = sum(n ** 4 for n, _ in checkpoints)
    y1 = sum(n * t for n, t in checkpoints)
    y2 = sum(n * n * t for n, t in checkpoints)
    det = s11 * s22 - s12 * s12
    a = (y1 * s22 - y2 * s12) / det
    b = (s11 * y2 - s12 * y1) / det
    if b <= 0:  # no slowdown seen: linear from the last checkpoint
        return checkpoints[-1][1] / checkpoints[-1][0] * target
    return a * target + b * target * target


def section_outage(run: Runner, cfg: dict, out: dict) -> None:
    url = fresh_db("sqlite", "bench_outage", run.workdir)
    seeding.seed_outage(url, due=cfg["ours_outage_due"], stale=cfg["ours_outage_stale"], now=seeding.utc_now())
    run.fake.reset()
    result = run.worker("outage_ours", {"url": url, "root": run.fake.root})
    stats = run.fake.stats()
    result.update(due=cfg["ours_outage_due"], stale=cfg["ours_outage_stale"], fake_sent=stats["sent"],
                  fake_chats_with_more_than_one=stats["chats_with_more_than_one"])
    out["outage"] = result
    log(f"outage (ours): first pass {result['first_pass']}, second pass {result['second_pass']}")
    seeding.drop_database("sqlite", "bench_outage", run.workdir)


# ---------------------------------------------------------------------------------------------- report

def section_burst(run: Runner, cfg: dict, kinds: list[str], out: dict) -> None:
    out["burst"] = {}
    for kind in kinds:
        url = fresh_db(kind, "bench_burst", run.workdir)
        result = run.worker("burst", {"url": url, "patients": cfg["burst_patients"], "backlog": cfg["burst_backlog"],
                                      "workdir": str(run.workdir)}, timeout=300)
        out["burst"][kind] = result
        log(f"burst {kind}: {result['greeted']} of {result['patients']} greeted; "
            f"wait median {result['wait_s_median']} s, p95 {result['wait_s_p95']} s, max {result['wait_s_max']} s; "
            f"{result['backlog_sent_meanwhile']} backlog messages sent meanwhile")
        seeding.drop_database(kind, "bench_burst", run.workdir)


def section_staff(run: Runner, cfg: dict, out: dict) -> None:
    """Reminders' lateness while a forum staff group has a backlog of silence alerts (bench/staff_backlog.py)."""
    result = run.worker("staff_backlog", {"patients": cfg["staff_patients"], "seconds": cfg["staff_seconds"]},
                        timeout=cfg["staff_seconds"] + 300)
    out["staff"] = result
    log(f"staff backlog: {result['reminders_sent']} of {result['reminders_due_at_45s']} reminders sent, "
        f"lateness median {result['lateness_median_s']} s, max {result['lateness_max_s']} s; "
        f"{result['staff_alerts_sent']} of {result['staff_alerts_queued']} alerts out, {result['group_429s']} 429s")


def machine() -> dict:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    packages = {}
    for name in ("python-telegram-bot", "APScheduler", "httpx", "httpcore", "h11", "anyio", "sniffio", "aiolimiter",
                 "SQLAlchemy", "sqlmodel", "alembic", "psycopg", "aiohttp"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    pg = None
    if seeding.pg_available():
        from sqlalchemy import create_engine, text

        engine = create_engine(seeding.PG_ADMIN_URL)
        with engine.connect() as connection:
            pg = connection.execute(text("show server_version")).scalar()
        engine.dispose()
    git = {}
    try:
        git["head"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                     text=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--short", "--", "bot", "jobs", "messages"], cwd=ROOT,
                                 capture_output=True, text=True).stdout.split("\n")
        git["uncommitted_in_bot_jobs_messages"] = [line.strip() for line in changed if line.strip()]
    except OSError:
        pass
    with open("/proc/meminfo") as meminfo:
        memory_gb = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gb": memory_gb, "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "postgresql": pg, "packages": packages, "git": git, "load_at_start": [round(x, 2) for x in os.getloadavg()]}


def _get(data: dict, *path, default=None):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def _fmt(value, suffix: str = "", digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.{digits}f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return text + suffix


def section_import(run: Runner, cfg: dict, kinds: list[str], out: dict) -> None:
    """``aftercare import`` of a CSV beside the one-by-one path and the usual ORM import (bench/importing.py)."""
    out["import"] = {}
    for kind in kinds:
        res: dict = {}
        for worker, rows in (("import_bulk", cfg["import_rows"]), ("import_small", 1000),
                             ("import_one_by_one", cfg["import_one_by_one"]), ("import_orm", cfg["import_orm"])):
            url = fresh_db(kind, f"bench_{worker}", run.workdir)
            arguments = {"url": url, "rows": rows, "target": TARGET_PATIENTS, "workdir": str(run.workdir)}
            res[worker] = run.worker(worker.replace("import_small", "import_bulk"), arguments, timeout=1800)
            seeding.drop_database(kind, f"bench_{worker}", run.workdir)
            log(f"import {kind} {worker}: {res[worker]}")
        out["import"][kind] = res
    url = fresh_db("sqlite", "bench_import_cards", run.workdir)
    out["import"]["cards"] = run.worker("import_cards", {"url": url, "cards": cfg["import_cards"]})
    seeding.drop_database("sqlite", "bench_import_cards", run.workdir)
    log(f"import cards: {out['import']['cards']}")


def render(results: dict, cfg: dict, quick: bool) -> str:
    m = results["machine"]
    tp = results.get("throughput", {})
    lim = results.get("limit", {})
    sc = results.get("scale", {})
    us = results.get("usual", {})
    ot = results.get("outage", {})
    big_p = f"{cfg['scale_patients']:,}"
    rows = []

    def row(measure, target, sqlite_value, pg_value, a_value, b_value):
        rows.append(f"| {measure} | {target} | {sqlite_value} | {pg_value} | {a_value} | {b_value} |")

    def tpv(kind, key, digits=1):
        return _fmt(_get(tp, kind, key), digits=digits)

    row(f"Dispatch throughput, {cfg['tp_n']:,} due, no rate limit (msg/s)", "≥ 1,000",
        tpv("sqlite", "msgs_per_s", 0), tpv("postgres", "msgs_per_s", 0), "—", "—")
    row("… load average (1 min) just before the drain", "", tpv("sqlite", "load_before", 2),
        tpv("postgres", "load_before", 2), "", "")
    row("… CPU of the dispatcher process per message (ms)", "", tpv("sqlite", "cpu_ms_per_msg", 2),
        tpv("postgres", "cpu_ms_per_msg", 2), "—", "—")
    best = lim.get("rerun_at_once", {})
    interval = lim.get("bot_interval", {})
    ptb = lim.get("ptb_default_limiter", {})
    row(f"At Telegram's limit, {best.get('reminders', cfg['limit_n']):,} due, the bot as bot/app.py builds it "
        f"(`{best.get('limiter_config', '?')}`), dispatcher re-run at once after a 429 (fraction of 30 msg/s)",
        "≥ 0.95", _fmt(best.get("fraction_of_30"), digits=2), "", "", "")
    row("… 429 answers from the fake", "0", _fmt(_get(best, "fake", "rejected_429")), "", "", "")
    row(f"… same limiter, re-run at the bot's job interval ({cfg['tick_s']} s) after a 429, "
        f"{interval.get('reminders', 0):,} due (fraction / 429s)", "≥ 0.95 / 0",
        f"{_fmt(interval.get('fraction_of_30'), digits=2)} / {_fmt(_get(interval, 'fake', 'rejected_429'))}",
        "", "", "")
    row(f"… for reference, PTB's default `{ptb.get('limiter_config', 'AIORateLimiter()')}`, re-run at the bot's "
        f"job interval, {ptb.get('reminders', 0):,} due, first {ptb.get('wall_s', 0):.0f} s (fraction / 429s)",
        "", f"{_fmt(ptb.get('fraction_of_30'), digits=2)} / {_fmt(_get(ptb, 'fake', 'rejected_429'))}", "", "", "")

    def scv(kind, *path, digits=1, suffix=""):
        return _fmt(_get(sc, kind, *path), suffix=suffix, digits=digits)

    def pair(kind, first_section, first_key, second_section, second_key, digits=1):
        first = scv(kind, first_section, first_key, digits=digits)
        return f"{first} / {scv(kind, second_section, second_key, digits=digits)}"

    a = us.get("a_schedule", {})
    b = us.get("b_schedule", {})
    restart_a = _get(us, "a_restart", "jobs_after_restart")
    ours_enroll = {k: _get(sc, k, "big_queries", "enroll_ms_mean") for k in ("sqlite", "postgres")}
    row(f"Schedule the reminders of {TARGET_PATIENTS:,} patients (8 each = {TARGET_JOBS:,})", "",
        _fmt(ours_enroll["sqlite"] * TARGET_PATIENTS / 1000 if ours_enroll["sqlite"] else None, " s*", 0),
        _fmt(ours_enroll["postgres"] * TARGET_PATIENTS / 1000 if ours_enroll["postgres"] else None, " s*", 0),
        f"{_fmt(a.get('extrapolated_s_800k'), ' s', 0)}† (measured {_fmt(a.get('jobs'))} jobs: "
        f"{_fmt(a.get('wall_s'), ' s')})",
        f"{_fmt(b.get('extrapolated_s_800k'), ' s', 0)}‡ (measured {_fmt(b.get('jobs'))} jobs: "
        f"{_fmt(b.get('wall_s'), ' s')})")
    row(f"Enroll one more patient at {big_p} patients / {cfg['scale_patients'] * cfg['scale_per_patient']:,} rows "
        "(median / p99 ms)", "",
        f"{scv('sqlite', 'big_queries', 'enroll_ms_median')} / {scv('sqlite', 'big_queries', 'enroll_ms_p99')}",
        f"{scv('postgres', 'big_queries', 'enroll_ms_median')} / {scv('postgres', 'big_queries', 'enroll_ms_p99')}",
        _fmt(a["ms_per_job"] * 8 if a else None, " ms (8 × run_once, at the measured size)", 2),
        _fmt(b["ms_per_job"] * 8 if b else None, " ms (8 × add_job)", 1))
    row(f"One claim (limit {cfg['claim_limit']}) at {big_p} patients, 1% due (median / p99 ms)", "p99 < 10",
        f"{scv('sqlite', 'big_queries', 'claim_ms_median')} / {scv('sqlite', 'big_queries', 'claim_ms_p99')}",
        f"{scv('postgres', 'big_queries', 'claim_ms_median')} / {scv('postgres', 'big_queries', 'claim_ms_p99')}",
        "— (no claim)", "— (no claim)")
    row("… of which inside the database driver (median ms)", "",
        scv("sqlite", "big_queries", "claim_ms_in_driver_median", digits=2),
        scv("postgres", "big_queries", "claim_ms_in_driver_median", digits=2), "", "")
    row("… same claims with `gc.freeze()` after warm-up (median / p99 ms)", "p99 < 10",
        pair("sqlite", "big_queries", "claim_ms_gc_frozen_median", "big_queries", "claim_ms_gc_frozen_p99"),
        pair("postgres", "big_queries", "claim_ms_gc_frozen_median", "big_queries", "claim_ms_gc_frozen_p99"),
        "", "")
    row(f"Start-up to first send, minimal dispatcher process ({cfg['small_patients']:,} / {big_p} patients, s)", "",
        pair("sqlite", "small_dispatcher", "startup_s", "big_dispatcher", "startup_s", digits=2),
        pair("postgres", "small_dispatcher", "startup_s", "big_dispatcher", "startup_s", digits=2),
        "never: nothing is left after a restart" if restart_a is not None else "—",
        f"{_fmt(_get(us, 'b_restart_big', 'startup_s'), ' s', 2)} ({_fmt(_get(us, 'b_synthesized', 'jobs'))} rows)")
    row(f"Start-up to first send, the real bot `python -m bot run` ({cfg['small_patients']:,} / {big_p} patients, s)",
        "", f"{scv('sqlite', 'small_bot', 'startup_s', digits=2)} / {scv('sqlite', 'big_bot', 'startup_s', digits=2)}",
        f"{scv('postgres', 'small_bot', 'startup_s', digits=2)} / {scv('postgres', 'big_bot', 'startup_s', digits=2)}",
        "", "")
    row(f"Resident memory, minimal dispatcher ({cfg['small_patients']:,} / {big_p} patients, MB)", "< 150, flat",
        f"{scv('sqlite', 'small_dispatcher', 'rss_mb')} / {scv('sqlite', 'big_dispatcher', 'rss_mb')}",
        f"{scv('postgres', 'small_dispatcher', 'rss_mb')} / {scv('postgres', 'big_dispatcher', 'rss_mb')}",
        f"{_fmt(a.get('extrapolated_rss_mb_800k'), ' MB', 0)}† for {TARGET_JOBS:,} jobs (measured "
        f"{_fmt(a.get('rss_after_mb'), ' MB', 0)} for {_fmt(a.get('jobs'))})",
        f"{_fmt(_get(us, 'b_restart_big', 'rss_mb'), ' MB', 0)} "
        f"(scheduler on {_fmt(_get(us, 'b_synthesized', 'jobs'))} rows)")
    row(f"Resident memory, the real bot after 5 s ({cfg['small_patients']:,} / {big_p} patients, MB)", "< 150, flat",
        f"{scv('sqlite', 'small_bot', 'VmRSS')} / {scv('sqlite', 'big_bot', 'VmRSS')}",
        f"{scv('postgres', 'small_bot', 'VmRSS')} / {scv('postgres', 'big_bot', 'VmRSS')}", "", "")
    ours_state = "every row (the database is the state)"
    row("What survives a restart", "everything", ours_state if "sqlite" in sc or ot else "—",
        ours_state if "postgres" in sc else "—",
        f"nothing ({_fmt(restart_a)} jobs after restart)" if restart_a is not None else "—",
        f"the rows (all {_fmt(_get(us, 'b_restart_big', 'rows_before'))} found at start)"
        if _get(us, "b_restart_big") else "—")
    bo = us.get("b_outage", {})
    first = ot.get("first_pass", {})
    row("After an outage longer than the misfire grace (sent / due)", "all due and not stale, once",
        f"{_fmt(first.get('sent'))} / {_fmt(ot.get('due'))} sent once, {_fmt(first.get('skipped'))} stale skipped, "
        f"second pass {_fmt(_get(ot, 'second_pass', 'sent'))} "
        f"(duplicates {_fmt(ot.get('fake_chats_with_more_than_one'))})",
        "", "0 / all (nothing was left to run)" if restart_a is not None else "—",
        f"{_fmt(bo.get('fake_sent'))} / {_fmt(bo.get('rows_before'))}: {_fmt(bo.get('missed'))} reported missed, "
        f"rows {_fmt(bo.get('rows_before'))} → {_fmt(bo.get('rows_after'))}")
    bu = results.get("burst", {})

    def burst(kind):
        r = bu.get(kind)
        return (f"{_fmt(r.get('wait_s_median'), digits=2)} / **{_fmt(r.get('wait_s_p95'), digits=2)}** / "
                f"{_fmt(r.get('wait_s_max'), digits=2)} ({r['greeted']} of {r['patients']} greeted)") if r else "—"

    row(f"{cfg['burst_patients']} patients open their links within 1 s while the real bot sends a backlog of "
        f"{cfg['burst_backlog']:,}: /start to greeting (median / p95 / max s)", "p95 ≤ 2",
        burst("sqlite"), burst("postgres"), "", "")

    st = results.get("staff")
    if st:
        row(f"{st['patients']} silence alerts due at once to a forum staff group (3 group calls each, Telegram's 20 a "
            f"minute), {st['reminders_due_at_45s']} patient reminders due 45 s later: reminders' lateness (median / "
            f"max s); alerts out after {st['seconds']:.0f} s; 429s", "on time whatever the backlog",
            f"**{_fmt(st['lateness_median_s'], digits=2)} / {_fmt(st['lateness_max_s'], digits=2)}** "
            f"({st['reminders_sent']} of {st['reminders_due_at_45s']} sent); {st['staff_alerts_sent']} of "
            f"{st['staff_alerts_queued']} alerts; {st['group_429s']} 429s", "", "", "")

    im = results.get("import", {})

    def imp(kind, worker, key, digits=1, suffix=""):
        return _fmt(_get(im, kind, worker, key), suffix=suffix, digits=digits)

    if im:
        probes = sum(_get(im, "sqlite", "import_bulk", key) or 0 for key in ("probe_writes", "probe_failures"))
        row(f"Import {cfg['import_rows']:,} patients from a CSV (`aftercare import`: checked, planned, written in one "
            "transaction, invites CSV; s)", "< 20 / < 60",
            f"**{imp('sqlite', 'import_bulk', 'wall_s')}**", f"**{imp('postgres', 'import_bulk', 'wall_s')}**", "", "")
        row("… of which the writing transaction (the write lock held on SQLite; s)", "",
            _fmt(_get(im, "sqlite", "import_bulk", "phases_s", "transaction")),
            _fmt(_get(im, "postgres", "import_bulk", "phases_s", "transaction")), "", "")
        row("… the same for a day's import of 1,000 patients: whole import / writing transaction (s)", "",
            f"{imp('sqlite', 'import_small', 'wall_s', 2)} / "
            f"{_fmt(_get(im, 'sqlite', 'import_small', 'phases_s', 'transaction'), digits=2)}",
            f"{imp('postgres', 'import_small', 'wall_s', 2)} / "
            f"{_fmt(_get(im, 'postgres', 'import_small', 'phases_s', 'transaction'), digits=2)}", "", "")
        row("… a bot's write meanwhile, every 50 ms waiting at most 2 s: longest wait of those that got through / "
            "refused (busy)", "",
            f"{imp('sqlite', 'import_bulk', 'probe_max_wait_s', 2)} s / "
            f"{imp('sqlite', 'import_bulk', 'probe_failures')} of "
            f"{_fmt(probes)}",
            f"{imp('postgres', 'import_bulk', 'probe_max_wait_s', 2)} s / "
            f"{imp('postgres', 'import_bulk', 'probe_failures')}", "", "")
        row(f"… the same rows one transaction each, today's `/enroll` path (measured on "
            f"{cfg['import_one_by_one']:,}, × {TARGET_PATIENTS:,}; s)", "",
            imp("sqlite", "import_one_by_one", "extrapolated_s", 0), imp("postgres", "import_one_by_one",
                                                                          "extrapolated_s", 0), "", "")
        row(f"… the usual ORM import: `enroll_patient` per row, one commit (measured on {cfg['import_orm']:,}, × "
            f"{TARGET_PATIENTS:,}; s)", "",
            imp("sqlite", "import_orm", "extrapolated_s", 0), imp("postgres", "import_orm", "extrapolated_s", 0),
            "", "")
        cards = im.get("cards", {})
        row(f"Invite cards PDF ({_fmt(cards.get('cards'))} cards, {_fmt(cards.get('pages'))} pages): ms per card", "",
            _fmt(cards.get("ms_per_card"), digits=1), "(the same code)", "", "")

    lines = [
        f"# Aftercare benchmark{' (quick run)' if quick else ''}",
        "",
        f"{m['date']} · {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB · Python {m['python']} · "
        f"SQLite {m['sqlite']} · PostgreSQL {m['postgresql'] or 'not available'} · load average at start "
        f"{', '.join(str(x) for x in m['load_at_start'])}",
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        "",
        f"Code: commit {m['git'].get('head', '?')}" + (
            f" with uncommitted changes in {len(m['git']['uncommitted_in_bot_jobs_messages'])} files of bot/, jobs/, "
            "messages/" if m["git"].get("uncommitted_in_bot_jobs_messages") else ""),
        *([f"**The code changed during the run** (at the end: commit {m['git_at_end'].get('head')}, "
           f"{len(m['git_at_end'].get('uncommitted_in_bot_jobs_messages', []))} files uncommitted): figures may mix "
           "versions.", ""] if m.get("git_at_end") and m["git_at_end"] != m["git"] else []),
        "",
        "| measure | target | ours, SQLite | ours, PostgreSQL | (a) `job_queue.run_once` per reminder | "
        "(b) APScheduler `SQLAlchemyJobStore` (SQLite) |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"\\* ours: mean time of one `enroll_patient` through `Store.call` at {big_p} patients "
        f"(over {cfg['enrollments']} enrollments) × {TARGET_PATIENTS:,}: extrapolated, each patient is its own "
        "transaction. † (a): measured on "
        f"{cfg['usual_a_patients']:,} patients, extrapolated to {TARGET_JOBS:,} jobs with t(n) = a·n + b·n² fitted to "
        "10 checkpoints (adding to APScheduler's MemoryJobStore slows as it fills); memory: measured kB per job × "
        f"{TARGET_JOBS:,}. ‡ (b): measured on {cfg['usual_b_patients']:,} patients, ms per job × {TARGET_JOBS:,} "
        "(each add_job is its own transaction).",
    ]
    components = results.get("components", {})
    if components:
        lines += ["", "CPU per message of each piece alone (ms, dispatcher process):", "",
                  "| piece | " + " | ".join(components) + " |", "|---|" + "---|" * len(components)]
        names = list(next(iter(components.values())).keys())
        for name in names:
            lines.append(f"| {name} | " + " | ".join(_fmt(_get(components, k, name, "cpu_ms_per_msg"), digits=3)
                                                    for k in components) + " |")
    sweep = results.get("sweep", {})
    if sweep.get("rows"):
        lines += ["", f"Concurrency sweep (SQLite, {sweep['reminders']:,} due each):", "",
                  "| concurrency | msg/s | CPU ms/msg | load average before |", "|---|---|---|---|"]
        for r in sweep["rows"]:
            lines.append(f"| {r['concurrency']} | {r['msgs_per_s']:.0f} | {r['cpu_ms_per_msg']:.2f} "
                         f"| {r['load_before']} |")
    prof = _get(results, "profile", "profile")
    if prof:
        shares = prof["share_by_package"]
        lines += ["", "Profile of a drain (cProfile in every thread, CPU time; profiling inflates Python-heavy code): "
                  + ", ".join(f"{k} {v:.0%}" for k, v in shares.items() if v >= 0.01) + "."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description="Aftercare benchmark (see the module docstring).")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a few minutes)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only these sections (repeatable or comma-separated): {', '.join(SECTIONS)}")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL measurements")
    parser.add_argument("--workdir", default="/tmp/aftercare-bench", help="SQLite files, jobstores and logs")
    parser.add_argument("--output", default=str(ROOT / "bench" / "last_run"),
                        help="write <output>.md and <output>.json (default bench/last_run)")
    parser.add_argument("--render", metavar="JSON", help="measure nothing: print the table of a saved run")
    parser.add_argument("--usual-a-patients", type=int, metavar="N",
                        help="patients for approach (a) (default 20,000; 100,000 measures the full workload "
                             "without extrapolating: about 3 minutes and 850 MB more)")
    args = parser.parse_args()
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        print(render(saved, saved["config"], saved.get("quick", False)))
        return 0
    only = {name.strip() for item in args.only for name in item.split(",") if name.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    wanted = [name for name in SECTIONS if not only or name in only]
    cfg = dict(QUICK if args.quick else FULL)
    if args.usual_a_patients:
        cfg["usual_a_patients"] = args.usual_a_patients
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite"]
    if not args.no_postgres:
        if seeding.pg_available():
            kinds.append("postgres")
        else:
            log(f"PostgreSQL not reachable at {seeding.PG_ADMIN_URL}: SQLite only")

    results: dict = {"machine": machine(), "config": cfg, "quick": args.quick, "sections": wanted, "durations_s": {}}
    fake = FakeAPI(workdir)
    run = Runner(workdir, fake)
    log(f"fake Bot API on {fake.root}; sections: {', '.join(wanted)}; databases: {', '.join(kinds)}; "
        f"logs in {workdir}")
    started = time.perf_counter()
    try:
        for name in wanted:
            section_started = time.perf_counter()
            try:
                if name == "throughput":
                    section_throughput(run, cfg, kinds, results)
                elif name == "sweep":
                    if cfg["sweep"]:
                        section_sweep(run, cfg, results)
                elif name == "components":
                    section_components(run, cfg, kinds, results)
                elif name == "profile":
                    section_profile(run, cfg, results)
                elif name == "limit":
                    section_limit(run, cfg, results)
                elif name == "scale":
                    section_scale(run, cfg, kinds, results)
                elif name == "usual":
                    section_usual(run, cfg, results)
                elif name == "outage":
                    section_outage(run, cfg, results)
                elif name == "burst":
                    section_burst(run, cfg, kinds, results)
                elif name == "import":
                    section_import(run, cfg, kinds, results)
                elif name == "staff":
                    section_staff(run, cfg, results)
            except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
                log(f"section {name} failed: {type(exc).__name__}: {exc}")
                results.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
            results["durations_s"][name] = round(time.perf_counter() - section_started, 1)
            Path(args.output + ".json").write_text(json.dumps(results, indent=1, default=str))
    finally:
        fake.stop()
    results["durations_s"]["total"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["machine"]["git_at_end"] = machine()["git"]
    table = render(results, cfg, args.quick)
    Path(args.output + ".md").write_text(table)
    Path(args.output + ".json").write_text(json.dumps(results, indent=1, default=str))
    print(table)
    log(f"done in {results['durations_s']['total']} s; {args.output}.md and .json written")
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
