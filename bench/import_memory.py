"""Peak memory of ``aftercare import`` against the file's size: ``python -m bench.import_memory``.

For each size (100,000 and 1,000,000 rows by default) a realistic patients file is written (as
bench/importing.py writes it), then a fresh process runs the command's own code
(``bot.bulk_import.run_import``) on it against a migrated SQLite database and reports its peak
resident memory (VmHWM) and time. ``--check`` runs ``aftercare import --check`` (every row read and
checked, nothing written): memory should stay flat in the file's size (the target: under 300 MB at
a million rows). Without ``--check`` the rows are imported too.

    python -m bench.import_memory --check                    # 100k and 1M rows, checked
    python -m bench.import_memory --rows 20000 200000        # imported
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import emit, peak_rss_mb, rss_mb
from bench.importing import _setup, write_csv

TARGET_MB = 300


def worker(source: Path, url: str, check_only: bool) -> dict:
    """Run the import (or its check) in this process; what it took."""
    from bot.bulk_import import run_import
    from jobs.storage.db import upgrade

    settings, catalog, engine = _setup(url)
    upgrade(engine)
    baseline = rss_mb()
    started, cpu0 = time.perf_counter(), time.process_time()
    outcome = run_import(source, engine=engine, settings=settings, catalog=catalog, bot_username="aftercare_bench_bot",
                         now=datetime.now(UTC), out_dir=source.parent, check_only=check_only, cards=False,
                         say=lambda line: None, complain=lambda line: None)
    wall = time.perf_counter() - started
    assert outcome.status == 0, outcome.status
    engine.dispose()
    return {"rows": outcome.checked.total if outcome.checked else 0, "check_only": check_only,
            "wall_s": round(wall, 1), "cpu_s": round(time.process_time() - cpu0, 1),
            "baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the rows (aftercare import --check)")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--worker", nargs=3, metavar=("FILE", "URL", "CHECK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        source, url, check = args.worker
        emit(worker(Path(source), url, check == "1"))
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="aftercare-import-memory-") as folder:
        for rows in args.rows:
            source = write_csv(Path(folder) / f"patients-{rows}.csv", rows, now=datetime.now(UTC))
            url = f"sqlite:///{folder}/bench-{rows}.db"
            done = subprocess.run([sys.executable, "-m", "bench.import_memory", "--worker", str(source), url,
                                   "1" if args.check else "0"], capture_output=True, text=True, check=False)
            line = next((line for line in done.stdout.splitlines() if line.startswith("RESULT ")), None)
            if line is None:
                print(done.stderr[-2000:], file=sys.stderr)
                return 1
            result = json.loads(line.removeprefix("RESULT "))
            result["file_mb"] = round(source.stat().st_size / 2**20, 1)
            results.append(result)
            print(f"{rows:>9,} rows ({result['file_mb']} MB file), {'checked' if args.check else 'imported'}: "
                  f"peak RSS {result['peak_rss_mb']} MB (at start {result['baseline_rss_mb']} MB), "
                  f"{result['wall_s']} s", flush=True)
    worst = max(result["peak_rss_mb"] for result in results)
    if args.check and worst >= TARGET_MB:
        print(f"over the target of {TARGET_MB} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
