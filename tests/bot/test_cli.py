"""The ``aftercare`` command: preview a timeline without Telegram, and fail early with one clear line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from messages.catalog import DEFAULTS_DIR

TOKEN = "1234567:TEST_token_for_cli_tests_abcdefghij"


def run(argv, monkeypatch, tmp_path, env=None):
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("BOT_", "CLINIC_", "MESSAGES_", "QUIET_", "SERIES_", "DATABASE_")):
            monkeypatch.delenv(key)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    return main(argv)


def test_preview_prints_the_timeline_in_local_time(monkeypatch, tmp_path, capsys):
    code = run(["preview", "--session", "2026-11-24 15:30"], monkeypatch, tmp_path,
               {"CLINIC_TIMEZONE": "Europe/Madrid"})
    out = capsys.readouterr().out
    assert code == 0
    assert "session 1 of 3" in out and "Europe/Madrid" in out
    lines = [line.split() for line in out.splitlines() if line.startswith("  ") and "step" not in line]
    steps = [line[4] for line in lines]
    assert steps == ["expect", "evening_checkin", "sun_care", "settling_check", "↳", "↳", "photo_day3", "↳", "↳",
                     "week_sunscreen", "rebook_open", "rebook_closing"]
    # Under the day-2 check-in: the nudge 4 h after it (if unanswered), and staff told 24 h after.
    assert " ".join(lines[4]) == "Thu 26 Nov 14:00 ↳ nudge if no answer nudge Fri 27 Nov 10:00"
    assert " ".join(lines[5]).startswith("Fri 27 Nov 10:00 ↳ staff alert if no answer silence")
    assert lines[1][:4] == ["Tue", "24", "Nov", "19:00"]
    assert lines[2][:4] == ["Wed", "25", "Nov", "09:00"]


def test_preview_with_texts_and_the_final_session(monkeypatch, tmp_path, capsys):
    code = run(["preview", "--session", "2026-11-24 15:30", "--number", "3", "--texts", "--name", "Lucía"],
               monkeypatch, tmp_path, {"CLINIC_NAME": "Clínica Sol"})
    out = capsys.readouterr().out
    assert code == 0 and "final_thanks" in out and "rebook_open" not in out
    assert "Lucía" in out and "Clínica Sol" in out and "<b>" not in out


def test_preview_bad_input_is_one_clear_line(monkeypatch, tmp_path, capsys):
    assert run(["preview", "--session", "teatime"], monkeypatch, tmp_path) == 2
    assert "cannot read 'teatime'" in capsys.readouterr().err
    assert run(["preview", "--session", "2026-11-24 15:30", "--protocol", "botox"], monkeypatch, tmp_path) == 2
    assert "no protocol 'botox'" in capsys.readouterr().err
    assert run(["preview", "--session", "2026-11-24 15:30", "--number", "4"], monkeypatch, tmp_path) == 2
    assert "does not fit a series of 3" in capsys.readouterr().err


def test_run_without_a_token_names_the_key(monkeypatch, tmp_path, capsys):
    assert run(["run"], monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.strip() == "aftercare: BOT_TOKEN: missing: put BOT_TOKEN=<the token from @BotFather> in .env"


def test_settings_come_from_the_env_file(monkeypatch, tmp_path, capsys):
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nSERIES_LENGTH=zero\n")
    assert run(["run"], monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err
    assert "SERIES_LENGTH: 'zero' is not a whole number" in err and TOKEN not in err


def test_a_broken_message_file_stops_start_up_naming_file_and_step(monkeypatch, tmp_path, capsys):
    folder = tmp_path / "mine"
    shutil.copytree(DEFAULTS_DIR, folder)
    protocol = folder / "protocols" / "microneedling.toml"
    protocol.write_text(protocol.read_text().replace('at = "day 1 at 09:00"', 'at = "tomorrow"'))
    code = run(["check"], monkeypatch, tmp_path, {"BOT_TOKEN": TOKEN, "MESSAGES_DIR": str(folder)})
    err = capsys.readouterr().err
    assert code == 2
    assert "microneedling.toml: step 'sun_care': 'at': bad offset 'tomorrow'" in err
    assert not (tmp_path / "aftercare.db").exists()


def test_check_and_db_commands(monkeypatch, tmp_path, capsys):
    from jobs.storage.db import head_revision, make_engine

    head = head_revision(make_engine(f"sqlite:///{tmp_path / 'probe.db'}"))
    (tmp_path / "probe.db").unlink(missing_ok=True)
    assert run(["check"], monkeypatch, tmp_path, {"BOT_TOKEN": TOKEN}) == 0  # no database yet: fine, said so
    assert "database: none yet" in capsys.readouterr().out
    assert run(["db", "current"], monkeypatch, tmp_path) == 0
    assert f"current: empty (head: {head})" in capsys.readouterr().out
    assert run(["db", "upgrade"], monkeypatch, tmp_path) == 0
    assert f"current: {head} (head: {head})" in capsys.readouterr().out
    assert run(["check"], monkeypatch, tmp_path, {"BOT_TOKEN": TOKEN}) == 0
    out = capsys.readouterr().out
    assert "messages: ok (2 protocols, locales en, ar, es, pt, ru, tr, uk)" in out and f"schema {head}" in out


async def test_check_telegram_asks_getme(monkeypatch, tmp_path, capsys, fake_api):
    import asyncio

    env = {"BOT_TOKEN": fake_api.token, "TELEGRAM_API_BASE_URL": fake_api.root_url}
    assert await asyncio.to_thread(run, ["db", "upgrade"], monkeypatch, tmp_path) == 0
    assert await asyncio.to_thread(run, ["check", "--telegram"], monkeypatch, tmp_path, env) == 0
    assert "telegram: ok, the bot is @aftercare_test_bot" in capsys.readouterr().out
    env["BOT_TOKEN"] = "1234567:WRONG_token_for_the_fake_server_xyz"
    assert await asyncio.to_thread(run, ["check", "--telegram"], monkeypatch, tmp_path, env) == 2
    assert "Telegram rejected this token" in capsys.readouterr().err


async def test_check_telegram_says_whether_the_staff_chat_gets_a_topic_per_patient(monkeypatch, tmp_path, capsys,
                                                                                     fake_api):
    import asyncio

    assert await asyncio.to_thread(run, ["db", "upgrade"], monkeypatch, tmp_path) == 0
    for chat_id, kwargs, expected in (
        (-1001000000001, {}, "a forum: each patient gets a topic"),
        (-1001000000002, {"forum": False}, "topics off"),
        (-1001000000003, {"can_manage_topics": False}, "may not manage topics"),
        (-1001000000004, {"bot_admin": False}, "may not manage topics"),
    ):
        fake_api.add_group(chat_id, **kwargs)
        env = {"BOT_TOKEN": fake_api.token, "TELEGRAM_API_BASE_URL": fake_api.root_url,
               "STAFF_CHAT_ID": str(chat_id)}
        assert await asyncio.to_thread(run, ["check", "--telegram"], monkeypatch, tmp_path, env) == 0
        output = capsys.readouterr()
        assert expected in output.out + output.err, (chat_id, output)


def test_installed_package_runs_from_any_directory(tmp_path):
    """``python -m bot`` from a folder without the sources: message files ship inside the package."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BOT_", "PYTHONPATH"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "preview", "--session", "2026-11-24 15:30"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "rebook_closing" in result.stdout
    missing = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 2 and "BOT_TOKEN: missing" in missing.stderr
    assert Path(tmp_path).joinpath("aftercare.db").exists() is False


def test_export_messages_gives_a_folder_that_loads_as_messages_dir(monkeypatch, tmp_path, capsys):
    assert run(["export-messages", "mine"], monkeypatch, tmp_path) == 0
    assert "MESSAGES_DIR=" in capsys.readouterr().out
    assert (tmp_path / "mine" / "protocols" / "microneedling.toml").is_file()
    assert run(["preview", "--session", "2026-11-24 15:30"], monkeypatch, tmp_path,
               {"MESSAGES_DIR": str(tmp_path / "mine")}) == 0
    assert run(["export-messages", "mine"], monkeypatch, tmp_path) == 2
    assert "already exists" in capsys.readouterr().err


def test_db_and_check_commands_on_postgresql(monkeypatch, tmp_path, capsys, postgres_url):
    env = {"DATABASE_URL": postgres_url}
    assert run(["db", "upgrade"], monkeypatch, tmp_path, env) == 0
    out = capsys.readouterr().out
    assert out.startswith("current: ") and "(head: " in out
    head = out.split("(head: ")[1].rstrip(")\n")
    assert out.startswith(f"current: {head}")
    assert run(["check"], monkeypatch, tmp_path, {**env, "BOT_TOKEN": TOKEN}) == 0
    assert "database: reachable (postgresql)" in capsys.readouterr().out


def test_an_unreachable_database_is_one_line_without_the_password(monkeypatch, tmp_path, capsys):
    url = "postgresql+psycopg://aftercare:s3cret-pw@127.0.0.1:1/aftercare?connect_timeout=2"
    assert run(["db", "upgrade"], monkeypatch, tmp_path, {"DATABASE_URL": url}) == 2
    err = capsys.readouterr().err
    assert err.startswith("aftercare: DATABASE_URL: cannot use the database") and "s3cret-pw" not in err
    assert len(err.strip().splitlines()) == 1


def test_default_protocol_and_staff_language_are_checked_against_the_files(monkeypatch, tmp_path, capsys):
    assert run(["check"], monkeypatch, tmp_path, {"BOT_TOKEN": TOKEN, "DEFAULT_PROTOCOL": "nope"}) == 2
    assert capsys.readouterr().err.startswith("aftercare: DEFAULT_PROTOCOL: 'nope' is not a protocol file")
    assert run(["check"], monkeypatch, tmp_path, {"BOT_TOKEN": TOKEN, "DEFAULT_PROTOCOL": "", "STAFF_LANGUAGE": "fr"}) == 2
    assert capsys.readouterr().err.startswith("aftercare: STAFF_LANGUAGE: 'fr' has no texts (have: en, ar, es, pt, ru, tr, uk)")


def test_check_in_a_fresh_folder_passes_and_leaves_nothing_behind(monkeypatch, tmp_path, capsys):
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nCLINIC_PHONE=+34 600 000 000\nSTAFF_IDS=1001\n"
                                   "CLINIC_NAME=Clínica Sol\nCLINIC_TIMEZONE=Europe/Madrid\n")
    (tmp_path / ".env").chmod(0o600)  # as the README says: the token is for this account only
    assert run(["check"], monkeypatch, tmp_path) == 0
    captured = capsys.readouterr()
    assert "database: none yet" in captured.out and "`aftercare run` creates it" in captured.out
    assert captured.err == ""
    assert sorted(path.name for path in tmp_path.iterdir()) == [".env"]


def test_check_on_an_empty_database_passes_and_says_run_creates_the_schema(monkeypatch, tmp_path, capsys):
    from jobs.storage.db import make_engine

    with make_engine(f"sqlite:///{tmp_path / 'aftercare.db'}").connect():
        pass  # an empty file, as an earlier version's `check` left behind
    assert run(["check"], monkeypatch, tmp_path, {"BOT_TOKEN": TOKEN}) == 0
    assert "database: empty; `aftercare run`" in capsys.readouterr().out


def test_a_missing_env_file_is_named(monkeypatch, tmp_path, capsys):
    assert run(["--env-file", "/nonexistent/.env", "check"], monkeypatch, tmp_path) == 2
    assert capsys.readouterr().err == "aftercare: --env-file: no such file '/nonexistent/.env'\n"
    assert run(["--env-file", str(tmp_path), "check"], monkeypatch, tmp_path) == 2
    assert "is a folder, not a file" in capsys.readouterr().err


def test_a_misspelt_key_in_env_is_warned_about(monkeypatch, tmp_path, capsys):
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nSTAF_IDS=1001\nCLINIC_PHONE=+34 600\n")
    assert run(["check"], monkeypatch, tmp_path) == 0
    err = capsys.readouterr().err
    assert "aftercare: warning: .env: STAF_IDS: unknown setting, ignored (did you mean STAFF_IDS?)" in err
    assert "STAFF_IDS is empty" in err


def test_check_warns_without_a_clinic_phone_name_or_zone_one_line_each(monkeypatch, tmp_path, capsys):
    assert run(["check"], monkeypatch, tmp_path, {"BOT_TOKEN": TOKEN, "STAFF_IDS": "1001"}) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["aftercare: warning: CLINIC_NAME is not set: patients read 'our clinic' instead of the clinic's "
                   "name; put it in .env",
                   "aftercare: warning: CLINIC_TIMEZONE is not set: every time patients and staff read is UTC; put "
                   "the clinic's zone in .env, e.g. CLINIC_TIMEZONE=Europe/Madrid",
                   "aftercare: warning: CLINIC_PHONE is not set: the red-flag texts tell patients to call "
                   "\"the clinic's usual number\"; put the clinic's number in .env"]
    # A clinic that really is on UTC says so, and is not warned.
    env = {"BOT_TOKEN": TOKEN, "STAFF_IDS": "1001", "CLINIC_NAME": "Sol", "CLINIC_TIMEZONE": "UTC", "CLINIC_PHONE": "1"}
    assert run(["check"], monkeypatch, tmp_path, env) == 0
    assert capsys.readouterr().err == ""


def test_bad_telegram_ids_and_addresses_stop_check_naming_the_key(monkeypatch, tmp_path, capsys):
    for key, value in (("STAFF_IDS", "-5"), ("STAFF_CHAT_ID", "1" * 20), ("WEBHOOK_LISTEN", "not-an-ip")):
        assert run(["check"], monkeypatch, tmp_path, {"BOT_TOKEN": TOKEN, key: value}) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"aftercare: {key}: ") and len(err.splitlines()) == 1
        monkeypatch.delenv(key)


def test_a_database_folder_that_cannot_be_created_is_one_line(monkeypatch, tmp_path, capsys):
    (tmp_path / "blocker").write_text("a file where the folder should be")
    url = f"sqlite:///{tmp_path / 'blocker' / 'data' / 'aftercare.db'}"
    assert run(["db", "upgrade"], monkeypatch, tmp_path, {"DATABASE_URL": url}) == 2
    err = capsys.readouterr().err
    assert err.startswith("aftercare: DATABASE_URL: cannot create the database's folder") and len(err.splitlines()) == 1


def test_a_message_file_that_is_a_folder_or_nested_too_deeply_is_one_line(monkeypatch, tmp_path, capsys):
    folder = tmp_path / "mine"
    shutil.copytree(DEFAULTS_DIR, folder)
    (folder / "protocols" / "extra.toml").mkdir()
    env = {"BOT_TOKEN": TOKEN, "MESSAGES_DIR": str(folder)}
    assert run(["check"], monkeypatch, tmp_path, env) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith("extra.toml: is a folder, not a file") and len(err.splitlines()) == 1
    (folder / "protocols" / "extra.toml").rmdir()
    (folder / "texts" / "de.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert run(["check"], monkeypatch, tmp_path, env) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith("de.toml: not valid TOML: nested too deeply") and len(err.splitlines()) == 1


def test_a_failed_start_without_network_is_one_clean_line(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BOT_", "PYTHONPATH"))}
    env.update(BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL="http://127.0.0.1:9", CLINIC_PHONE="+34 600", STAFF_IDS="1001",
               CLINIC_NAME="Clínica Sol", CLINIC_TIMEZONE="Europe/Madrid", LOG_LEVEL="WARNING")
    result = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == ["aftercare: cannot reach the Bot API at http://127.0.0.1:9: "
                                                  "aiohttp.ClientConnectorError"]
    # Without a clinic phone, start-up says so in one line before anything else.
    del env["CLINIC_PHONE"]
    result = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and "WARNING aftercare: CLINIC_PHONE is not set: the red-flag texts" in lines[0]


def test_preview_shows_seconds_when_a_protocol_has_them(monkeypatch, tmp_path, capsys):
    folder = tmp_path / "mine"
    shutil.copytree(DEFAULTS_DIR, folder)
    (folder / "protocols" / "quick.toml").write_text(
        'name = "quick"\n[[steps]]\nkey = "expect"\nat = "30s"\nexpires = "90s"\n'
        '[[steps]]\nkey = "sun_care"\nat = "2m"\nexpires = "1h"\n')
    env = {"MESSAGES_DIR": str(folder), "QUIET_HOURS": "off"}
    assert run(["preview", "--session", "2026-11-24 12:00", "--protocol", "quick"], monkeypatch, tmp_path, env) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("  ") and "step" not in line]
    assert [(line[3], line[4], line[-1]) for line in lines] == [("12:00:30", "expect", "12:02:00"),
                                                                ("12:02:00", "sun_care", "13:02:00")]
    assert run(["preview", "--session", "2026-11-24 12:00"], monkeypatch, tmp_path, env) == 0
    out = capsys.readouterr().out
    assert "19:00 " in out and "19:00:00" not in out  # the usual protocol: to the minute


def test_preview_refuses_a_locale_without_texts_and_names_a_bad_zone_plainly(monkeypatch, tmp_path, capsys):
    assert run(["preview", "--session", "2026-11-24 15:30", "--locale", "fr"], monkeypatch, tmp_path) == 2
    assert capsys.readouterr().err == "aftercare: --locale: no texts in 'fr' (have: en, ar, es, pt, ru, tr, uk)\n"
    assert run(["preview", "--session", "2026-11-24 15:30", "--locale", "es-ES", "--texts"], monkeypatch, tmp_path) == 0
    assert "Gracias por venir" in capsys.readouterr().out
    assert run(["preview", "--session", "2026-11-24 15:30", "--tz", "Mars/Base"], monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err
    assert err == "aftercare: --tz: 'Mars/Base' is not an IANA time zone such as Europe/Madrid\n"


def test_exported_protocols_show_every_tunable_key_with_its_default(monkeypatch, tmp_path, capsys):
    import tomllib
    from dataclasses import fields

    from messages.durations import parse_offset
    from messages.protocol import Protocol

    assert run(["export-messages", "mine"], monkeypatch, tmp_path) == 0
    defaults = {item.name: item.default for item in fields(Protocol) if item.name in
                ("next_session_after", "next_session_before", "rebook_snooze", "red_expected_days")}
    for path in sorted((tmp_path / "mine" / "protocols").glob("*.toml")):
        text = path.read_text()
        data = tomllib.loads(text)
        assert {key: parse_offset(data[key]) for key in ("next_session_after", "next_session_before", "rebook_snooze")} \
            == {key: defaults[key] for key in ("next_session_after", "next_session_before", "rebook_snooze")}, path.name
        # The combined protocol sets its own (redness up to a week is expected there).
        own = {"microneedling_peel_laser.toml": 7}.get(path.name, defaults["red_expected_days"])
        assert data["escalation"] == {"red_expected_days": own}
        for key in ("next_session_after", "rebook_snooze", "[escalation]"):
            line = text.index(key)
            assert text[:line].rstrip().splitlines()[-1].lstrip().startswith("#"), (path.name, key)  # a comment each


def test_a_locale_lacking_a_text_starts_with_a_warning_and_check_lists_it(monkeypatch, tmp_path, capsys):
    folder = tmp_path / "mine"
    shutil.copytree(DEFAULTS_DIR, folder)
    spanish = (folder / "texts" / "es.toml").read_text()
    start = spanish.index("\nsun_care = ") + 1
    end = spanish.index('"""', spanish.index('"""', start) + 3) + 3
    # Catalan, begun from the Spanish file (the same plural forms: one, many, other).
    (folder / "texts" / "ca.toml").write_text(spanish[:start] + spanish[end:])
    env = {"BOT_TOKEN": TOKEN, "MESSAGES_DIR": str(folder), "CLINIC_PHONE": "1", "STAFF_IDS": "1001",
           "CLINIC_NAME": "Sol", "CLINIC_TIMEZONE": "Europe/Madrid"}
    assert run(["check"], monkeypatch, tmp_path, env) == 0
    captured = capsys.readouterr()
    assert "locales en, ar, ca, es, pt, ru, tr, uk" in captured.out
    assert captured.err == ("aftercare: warning: texts/ca.toml lacks 1 text(s), English is used for them: "
                            "[steps] sun_care\n")


def test_check_says_when_a_clinic_texts_file_has_no_red_flag_vocabulary(monkeypatch, tmp_path, capsys):
    folder = tmp_path / "mine"
    shutil.copytree(DEFAULTS_DIR, folder)
    english = (folder / "texts" / "en.toml").read_text()
    start = english.index("[red_flags]")
    (folder / "texts" / "en.toml").write_text(english[:start] + english[english.index("# ----", start):])
    env = {"BOT_TOKEN": TOKEN, "MESSAGES_DIR": str(folder), "CLINIC_PHONE": "1", "STAFF_IDS": "1001",
           "CLINIC_NAME": "Sol", "CLINIC_TIMEZONE": "Europe/Madrid"}
    assert run(["check"], monkeypatch, tmp_path, env) == 0
    assert capsys.readouterr().err == ("aftercare: warning: texts/en.toml has no [red_flags] table: patients' words "
                                       "are read with the vocabulary shipped with aftercare; copy it from the "
                                       "shipped file to edit it\n")
    (folder / "texts" / "en.toml").write_text(english.replace('blisters = ["blister*"', 'blisters = ["b*"'))
    assert run(["check"], monkeypatch, tmp_path, env) == 2
    err = capsys.readouterr().err
    assert "en.toml: [red_flags] blisters: 'b*': a word ending in * needs at least 3 letters" in err


def test_the_readme_set_up_checks_before_the_first_run():
    import re

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)\n```", readme, re.DOTALL).group(1)
    assert ".venv/bin/aftercare check && .venv/bin/aftercare run" in first_block
    set_up = readme[readme.index("## Set-up"):readme.index("```sh")]
    assert all(f"`{key}=" in set_up for key in ("CLINIC_NAME", "CLINIC_PHONE", "CLINIC_TIMEZONE"))


def test_copy_to_postgresql_without_its_driver_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgres extra were not installed
    assert run(["db", "copy-to", "postgresql+psycopg://u:s3cret@127.0.0.1/x"], monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.startswith("aftercare: db copy-to: the target's driver (psycopg) is not installed")
    assert '".[postgres]"' in err and "s3cret" not in err and len(err.splitlines()) == 1
def test_a_second_instance_on_one_sqlite_file_is_refused(monkeypatch, tmp_path, capsys):
    """SQLite serves one instance: the running one holds the file's presence lock (which is also
    how a restarted bot knows every older claim belongs to a dead process)."""
    from jobs.storage.db import make_engine
    from jobs.storage.presence import Presence

    url = f"sqlite:///{tmp_path / 'aftercare.db'}"
    running = Presence(make_engine(url)).acquire()
    try:
        code = run(["run"], monkeypatch, tmp_path, {"BOT_TOKEN": TOKEN, "DATABASE_URL": url,
                                                    "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9"})
    finally:
        running.release()
    err = capsys.readouterr().err
    assert code == 2
    assert f"another bot process (pid {os.getpid()}) is running on this database file" in err
    # Once it has stopped, the file is free again.
    Presence(make_engine(url)).acquire().release()


def test_api_key_create_shows_the_key_once_list_and_revoke(monkeypatch, tmp_path, capsys):
    import re

    from jobs.ops.api_keys import hash_key
    from jobs.storage.db import make_engine

    assert run(["api-key", "create", "booking-system"], monkeypatch, tmp_path) == 0
    key = capsys.readouterr().out.strip()
    assert re.fullmatch(r"ak_[A-Za-z0-9_-]{43}", key)
    with make_engine(f"sqlite:///{tmp_path / 'aftercare.db'}").connect() as connection:
        stored = connection.exec_driver_sql("SELECT key_hash FROM api_key").scalar_one()
    assert stored == hash_key(key) and key not in stored
    assert run(["api-key", "create", "booking-system"], monkeypatch, tmp_path) == 1
    assert "already a key called booking-system" in capsys.readouterr().err
    assert run(["api-key", "create"], monkeypatch, tmp_path) == 2
    assert run(["api-key", "list"], monkeypatch, tmp_path) == 0
    listed = capsys.readouterr().out
    assert "booking-system" in listed and "live" in listed and "never used" in listed and key not in listed
    assert run(["api-key", "revoke", "booking-system"], monkeypatch, tmp_path) == 0
    assert "revoked" in capsys.readouterr().out
    assert run(["api-key", "list"], monkeypatch, tmp_path) == 0
    assert "revoked 20" in capsys.readouterr().out
    assert run(["api-key", "revoke", "nobody"], monkeypatch, tmp_path) == 1
    assert "no key called nobody" in capsys.readouterr().err


def test_check_reports_the_dispatcher_as_healthz_does(monkeypatch, tmp_path, capsys):
    assert run(["db", "upgrade"], monkeypatch, tmp_path) == 0
    capsys.readouterr()
    assert run(["check"], monkeypatch, tmp_path, {"BOT_TOKEN": TOKEN}) == 0
    captured = capsys.readouterr()
    assert "dispatcher: last heartbeat never; 0 pending, 0 due now, 0 failed" in captured.out
    assert "the dispatcher has never run on this database (GET /healthz answers 503" in captured.err


def test_preview_shows_the_outcome_scale_and_the_review_link(monkeypatch, tmp_path, capsys):
    env = {"CLINIC_TIMEZONE": "Europe/Madrid", "CLINIC_HOURS": "Mon-Fri 09:00-19:00"}
    assert run(["preview", "--session", "2026-11-24 15:30", "--number", "3"], monkeypatch, tmp_path, env) == 0
    out = capsys.readouterr().out
    assert "outcome_day30" in out and "outcome_day90" in out and "review_request" in out
    assert "↳ answers on scale 'pgic'; sent only in clinic hours (Mon 09:00-19:00" in out
    assert "Very much improved · Much improved" in out and "Very much worse (worse: to staff)" in out
    assert "↳ skipped: REVIEW_URL is not set" in out
    # The three-month step asks for a photo to compare, with consent; the one-month step does not.
    photo_line = "↳ then a photo in the same light as the day-3 one, to compare before and after"
    assert out.count(photo_line) == 1 and out.index(photo_line) > out.index("outcome_day90")
    assert "(no consent: no photo)" in out
    env["REVIEW_URL"] = "https://g.page/r/clinic/review"
    assert run(["preview", "--session", "2026-11-24 15:30", "--number", "3", "--locale", "es"],
               monkeypatch, tmp_path, env) == 0
    out = capsys.readouterr().out
    assert "↳ to every patient, whatever they answered: https://g.page/r/clinic/review (opened is not counted)" in out
    assert "Muchísimo mejor" in out
    # Not after a session that is not the last: the outcome questions follow the end of the series.
    assert run(["preview", "--session", "2026-11-24 15:30"], monkeypatch, tmp_path, env) == 0
    assert "outcome_day30" not in capsys.readouterr().out


def test_check_says_whether_review_steps_are_sent_and_validates_a_protocols_own_scale(monkeypatch, tmp_path, capsys):
    env = {"BOT_TOKEN": TOKEN, "STAFF_IDS": "1001", "CLINIC_PHONE": "1"}
    assert run(["check"], monkeypatch, tmp_path, env) == 0
    out = capsys.readouterr().out
    assert ("reviews: REVIEW_URL is not set, so these review steps are skipped: microneedling: review_request; "
            "microneedling_peel_laser: review_request") in out
    # A clinic's own scale: labels per language, which answers are worse.
    folder = tmp_path / "mine"
    shutil.copytree(DEFAULTS_DIR, folder)
    protocol = folder / "protocols" / "microneedling.toml"
    text = protocol.read_text()
    own = text.replace('key = "outcome_day90"', 'key = "outcome_day90"\nscale = "gais"') + (
        '\n[scales.gais]\nanswers = [\n'
        '  { key = "much", labels = { en = "Much better", es = "Mucho mejor" } },\n'
        '  { key = "same", labels = { en = "No different" } },\n'
        '  { key = "worse", labels = { en = "Worse", es = "Peor" }, worse = true },\n]\n')
    protocol.write_text(own)
    env.update(MESSAGES_DIR=str(folder), REVIEW_URL="https://g.page/r/clinic/review")
    assert run(["check"], monkeypatch, tmp_path, env) == 0
    captured = capsys.readouterr()
    assert "reviews: 2 review step(s) send every patient they reach to https://g.page/r/clinic/review" in captured.out
    assert "aftercare: warning: protocol 'microneedling', scale 'gais': no 'es' label for same (English shown)" \
        in captured.err
    # A scale a step names but nobody defined, or whose every answer is worse, stops check naming the place.
    protocol.write_text(own.replace('scale = "gais"', 'scale = "gias"'))
    assert run(["check"], monkeypatch, tmp_path, env) != 0
    assert "step 'outcome_day90': 'scale'" in capsys.readouterr().err
    protocol.write_text(own.replace('labels = { en = "Much better", es = "Mucho mejor" } }',
                                    'labels = { en = "Much better" }, worse = true }')
                           .replace('labels = { en = "No different" } }', 'labels = { en = "Same" }, worse = true }'))
    assert run(["check"], monkeypatch, tmp_path, env) != 0
    assert "every answer is 'worse'" in capsys.readouterr().err


def test_run_warns_at_start_about_files_others_can_read(monkeypatch, tmp_path, capsys):
    """`check`'s warnings about a world-readable .env or database, said again by `run` at start (in its log)."""
    from jobs.storage.db import make_engine
    from jobs.storage.presence import Presence

    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\n")
    (tmp_path / ".env").chmod(0o644)
    database = tmp_path / "aftercare.db"
    url = f"sqlite:///{database}"
    running = Presence(make_engine(url)).acquire()  # so that `run` stops right after its start-up checks
    database.chmod(0o644)
    try:
        code = run(["run"], monkeypatch, tmp_path, {"DATABASE_URL": url, "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9"})
    finally:
        running.release()
    err = capsys.readouterr().err
    assert code == 2
    assert "WARNING" in err and ".env holds the bot token and other users of this machine can open it (mode 0644)" in err
    assert f"{database} holds patient data and other users of this machine can open it (mode 0644)" in err
    assert TOKEN not in err


def test_check_says_where_the_console_is_and_warns_without_https(monkeypatch, tmp_path, capsys):
    env = {"BOT_TOKEN": TOKEN, "STAFF_IDS": "1001", "CLINIC_PHONE": "+34 600 000 000"}
    assert run(["check"], monkeypatch, tmp_path, env) == 0
    assert "console: off (HTTP_PORT is not set)" in capsys.readouterr().out
    assert run(["check"], monkeypatch, tmp_path, {**env, "HTTP_PORT": "8081"}) == 0
    captured = capsys.readouterr()
    assert "console: http://127.0.0.1:8081/console/ (HTTP_LISTEN:HTTP_PORT, PUBLIC_URL is not set)" in captured.out
    assert "Telegram opens Mini Apps only over HTTPS" in captured.err
    assert run(["check"], monkeypatch, tmp_path, {**env, "HTTP_PORT": "8081",
                                                  "PUBLIC_URL": "https://care.example-clinic.com"}) == 0
    captured = capsys.readouterr()
    assert "console: https://care.example-clinic.com/console/ (PUBLIC_URL)" in captured.out
    assert "HTTPS" not in captured.err


def test_check_refuses_plural_forms_that_are_not_the_languages(monkeypatch, tmp_path, capsys):
    folder = tmp_path / "mine"
    shutil.copytree(DEFAULTS_DIR, folder)
    env = {"BOT_TOKEN": TOKEN, "MESSAGES_DIR": str(folder), "CLINIC_PHONE": "1", "STAFF_IDS": "1001",
           "CLINIC_NAME": "Sol", "CLINIC_TIMEZONE": "Europe/Madrid"}
    russian = folder / "texts" / "ru.toml"
    shipped = russian.read_text(encoding="utf-8")
    few = next(line for line in shipped.splitlines() if line.startswith("withdraw_done.few = "))
    russian.write_text(shipped.replace(few + "\n", ""), encoding="utf-8")
    assert run(["check"], monkeypatch, tmp_path, env) == 2
    err = capsys.readouterr().err
    assert "ru.toml: [bot] withdraw_done: plural form 'few' is missing (Russian needs one, few, many, other)" in err
    # A form the language does not have (Russian has no "two") is named too.
    russian.write_text(shipped.replace(few, few.replace(".few", ".two")), encoding="utf-8")
    assert run(["check"], monkeypatch, tmp_path, env) == 2
    assert ("ru.toml: [bot] withdraw_done: 'two' is not a plural form of Russian (its forms are one, few, many, "
            "other)") in capsys.readouterr().err
    russian.write_text(shipped, encoding="utf-8")
    assert run(["check"], monkeypatch, tmp_path, env) == 0


@pytest.mark.parametrize("locale", ["en", "es", "ru", "uk", "pt", "tr", "ar"])
def test_preview_prints_every_text_of_the_plan_in_each_language(monkeypatch, tmp_path, capsys, locale):
    from messages.catalog import html_to_plain, load_catalog

    catalog = load_catalog()
    protocol = catalog.protocol()
    for number, length in ((1, 3), (3, 3)):  # the first session, and the last (the series' closing steps)
        assert run(["preview", "--session", "2026-11-24 15:30", "--number", str(number), "--of", str(length),
                    "--locale", locale, "--texts", "--name", "Lucía"], monkeypatch, tmp_path,
                   {"CLINIC_NAME": "Clínica Sol", "CLINIC_PHONE": "+34 600 000 000"}) == 0
        out = capsys.readouterr().out
        assert "{" not in out and "<b>" not in out
        shown = " ".join(out.split())
        for step in protocol.steps:
            if step.key not in shown:
                continue  # not in this session's plan (rebooking after the last one, the series' end before it)
            # The text's longest stretch without a placeholder, as written in the language.
            stretch = max(re.split(r"\{\w+\}", html_to_plain(catalog.texts[locale]["steps"][step.text_key])), key=len)
            assert len(stretch) > 40 and " ".join(stretch.split()) in shown, (locale, step.key)
