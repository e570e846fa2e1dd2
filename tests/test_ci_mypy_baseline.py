""".ci/mypy_baseline.py: more errors in a file than its baseline fails CI, fewer asks for a lower line."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "mypy_baseline.py"
spec = importlib.util.spec_from_file_location("mypy_baseline", SCRIPT)
assert spec and spec.loader
baseline_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(baseline_script)

OUTPUT = """\
bot/app.py:12: error: Item "None" of "User | None" has no attribute "id"  [union-attr]
bot/app.py:12: note: See https://mypy.rtfd.io
bot/app.py:40:5: error: Incompatible types in assignment  [assignment]
jobs/care/planning.py:7: error: Name "x" is not defined  [name-defined]
messages/catalog.py:252: note: By default the bodies of untyped functions are not checked  [annotation-unchecked]
Found 3 errors in 2 files (checked 108 source files)
"""


def test_errors_are_counted_per_file_and_notes_are_not():
    assert baseline_script.count_errors(OUTPUT) == Counter({"bot/app.py": 2, "jobs/care/planning.py": 1})


def test_more_errors_or_a_new_file_fails_and_fewer_asks_to_lower_the_line():
    current = Counter({"bot/app.py": 2, "jobs/care/planning.py": 1, "bot/new.py": 1})
    failures, lower = baseline_script.compare(current, {"bot/app.py": 1, "jobs/care/planning.py": 4, "gone.py": 2})
    assert failures == ["bot/app.py: 2 mypy error(s), the baseline allows 1",
                        "bot/new.py: 1 mypy error(s), the baseline allows 0 (not in the baseline)"]
    assert lower == ["gone.py: 0 error(s) now, the baseline says 2: lower it to 0",
                     "jobs/care/planning.py: 1 error(s) now, the baseline says 4: lower it to 1"]
    assert baseline_script.compare(current, dict(current)) == ([], [])


def test_the_written_baseline_reads_back_and_a_bad_line_is_named():
    counts = Counter({"jobs/care/planning.py": 1, "bot/app.py": 2})
    text = baseline_script.render_baseline(counts)
    assert text.splitlines()[-2:] == ["2 bot/app.py", "1 jobs/care/planning.py"]
    assert baseline_script.read_baseline(text) == dict(counts)
    with pytest.raises(ValueError, match="line 2: expected '<count> <path>'"):
        baseline_script.read_baseline("1 bot/app.py\nbot/cli.py three\n")


def test_the_baseline_in_the_repository_is_well_formed():
    baseline = baseline_script.read_baseline(baseline_script.BASELINE.read_text())
    assert all(count > 0 for count in baseline.values())
    assert all(path.startswith(("bot/", "jobs/", "messages/")) for path in baseline)
