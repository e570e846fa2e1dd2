"""Small helpers the benchmark's worker processes share."""

from __future__ import annotations

import json
import resource

TOKEN = "123456789:BENCH_token_for_fake_api_only_abcdef"


def rss_mb() -> float:
    """Current resident set size of this process, from /proc (MB)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """The most this process has been resident so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(result: dict) -> None:
    """Hand a worker's result to the driver: one line on stdout."""
    print("RESULT " + json.dumps(result, default=str), flush=True)
