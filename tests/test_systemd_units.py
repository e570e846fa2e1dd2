"""The systemd units shipped in docs/systemd/: systemd itself finds nothing wrong with them, and systemd waits
longer for the bot to stop than the bot's own shutdown takes."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.intake import Intake
from jobs.storage.db import SQLITE_BUSY_TIMEOUT_MS

UNITS = Path(__file__).resolve().parent.parent / "docs" / "systemd"
INSTALLED = "/srv/aftercare/.venv/bin/aftercare"


def test_the_bot_gets_longer_to_stop_than_its_own_shutdown_takes():
    unit = (UNITS / "aftercare.service").read_text()
    [timeout] = re.findall(r"^TimeoutStopSec=(\d+)$", unit, re.MULTILINE)
    # Updates in flight get the intake's grace; a send or write in progress may wait out SQLite's lock.
    grace = inspect.signature(Intake.stop).parameters["grace"].default
    assert int(timeout) > 2 * (grace + SQLITE_BUSY_TIMEOUT_MS / 1000)
    assert re.search(r"^ExecStart=\S+ --env-file \S+ run$", unit, re.MULTILINE)
    backup = (UNITS / "aftercare-backup.service").read_text()
    assert " backup " in backup and "Type=oneshot" in backup
    assert "Unit=aftercare-backup.service" in (UNITS / "aftercare-backup.timer").read_text()


def test_systemd_analyze_verify_finds_nothing_wrong(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (no systemd): the units are checked where it is")
    # verify checks that each command exists: point them at this installation's aftercare.
    here = str(Path(sys.executable).with_name("aftercare"))
    if not Path(here).exists():
        pytest.skip(f"no aftercare command beside {sys.executable} to stand in for {INSTALLED}")
    for unit in sorted(UNITS.iterdir()):
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, here))
    done = subprocess.run([analyze, "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
