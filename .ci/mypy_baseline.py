"""mypy with a baseline that only shrinks: CI fails when a file has more type errors than
.ci/mypy-baseline.txt allows (or a file not listed there has any), and says which lines to lower
when a file has fewer.

    python .ci/mypy_baseline.py            # check (what .ci/run does)
    python .ci/mypy_baseline.py --update   # write the current counts as the new baseline

mypy runs with the interpreter that runs this script and the [tool.mypy] settings in pyproject.toml.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / ".ci" / "mypy-baseline.txt"
ERROR = re.compile(r"^(?P<path>[^:\s][^:]*):\d+(?::\d+)?: error: ")
HEADER = ("# mypy errors per file that CI still tolerates; the counts may only go down.\n"
          "# Lower a line when a file gets better; `python .ci/mypy_baseline.py --update` rewrites this file.\n")


def count_errors(output: str) -> Counter[str]:
    """Errors per file in mypy's output (notes are not errors)."""
    counts: Counter[str] = Counter()
    for line in output.splitlines():
        match = ERROR.match(line)
        if match:
            counts[match.group("path").replace("\\", "/")] += 1
    return counts


def read_baseline(text: str) -> dict[str, int]:
    """The baseline's lines, `<count> <path>`; blank lines and # comments are skipped."""
    baseline = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        count, _, path = line.partition(" ")
        if not count.isdigit() or not path.strip():
            raise ValueError(f"{BASELINE.name}, line {number}: expected '<count> <path>', got {line!r}")
        baseline[path.strip()] = int(count)
    return baseline


def render_baseline(counts: Counter[str]) -> str:
    return HEADER + "".join(f"{counts[path]} {path}\n" for path in sorted(counts) if counts[path])


def compare(current: Counter[str], baseline: dict[str, int]) -> tuple[list[str], list[str]]:
    """(what fails CI, what may be lowered): more errors than the baseline fails; fewer is a hint."""
    failures, lower = [], []
    for path in sorted(set(current) | set(baseline)):
        now, allowed = current.get(path, 0), baseline.get(path, 0)
        if now > allowed:
            where = "" if path in baseline else " (not in the baseline)"
            failures.append(f"{path}: {now} mypy error(s), the baseline allows {allowed}{where}")
        elif now < allowed:
            lower.append(f"{path}: {now} error(s) now, the baseline says {allowed}: lower it to {now}")
    return failures, lower


def run_mypy() -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="write the current counts to the baseline")
    args = parser.parse_args(argv)

    code, output = run_mypy()
    if code not in (0, 1) or not re.search(r"^(Success|Found \d+ error)", output, re.MULTILINE):
        print(output, end="")
        print(f"mypy baseline: mypy itself failed (exit {code}); see its output above", file=sys.stderr)
        return 2
    current = count_errors(output)
    total = sum(current.values())

    if args.update:
        old = read_baseline(BASELINE.read_text()) if BASELINE.exists() else {}
        BASELINE.write_text(render_baseline(current))
        print(f"mypy baseline: wrote {BASELINE.relative_to(ROOT)}: {total} error(s) in {len(current)} file(s) "
              f"(was {sum(old.values())})")
        return 0

    baseline = read_baseline(BASELINE.read_text()) if BASELINE.exists() else {}
    failures, lower = compare(current, baseline)
    if failures:
        print(output, end="")
    if lower:
        print("mypy baseline: fewer errors than the baseline allows, well done; lower these lines in "
              f"{BASELINE.relative_to(ROOT)} (or run python .ci/mypy_baseline.py --update):\n  " + "\n  ".join(lower))
    if failures:
        print("mypy baseline: new type errors (fix them; the baseline only goes down):\n  " + "\n  ".join(failures),
              file=sys.stderr)
        return 1
    print(f"mypy baseline: {total} error(s) in {len(current)} file(s), none above the baseline "
          f"({sum(baseline.values())} allowed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
