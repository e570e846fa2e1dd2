"""Small helpers the benchmark's worker processes share."""

from __future__ import annotations

import json

TOKEN = "1234567:BENCH_token_for_fake_api_only_abcdef"


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Current resident set size of this process, from /proc (MB)."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """The most this process has been resident so far (VmHWM, MB).

    Not getrusage's ru_maxrss: Linux carries that over from the parent across fork and exec, so a
    small child of a big parent would report the parent's peak.
    """
    return _status_mb("VmHWM")


def emit(result: dict) -> None:
    """Hand a worker's result to the driver: one line on stdout."""
    print("RESULT " + json.dumps(result, default=str), flush=True)
