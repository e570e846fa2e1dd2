"""No patient name or token in any log line, private database files, clear lines for Conflict and busy (issue 11)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from telegram.error import Conflict

from bot.logs import PrivateExceptionFilter, RedactFilter, install_filters
from jobs.storage.db import make_engine, upgrade
from tests.conftest import PATIENT_ID, STAFF_ID, BotHarness, bot_env, selected_backend

SECRET_NAME = "Zelda Quintana-Secret"


def _format(record: logging.LogRecord, *filters: logging.Filter) -> str:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    for item in filters:
        item.filter(record)
    return handler.format(record)


def _record_of(error: BaseException) -> logging.LogRecord:
    return logging.LogRecord("bot", logging.ERROR, __file__, 1, "error while handling update %s", (7,),
                             (type(error), error, error.__traceback__))


def test_exception_texts_never_reach_the_log_but_where_they_happened_does():
    token = "999:SECRET-token-abc"
    try:
        try:
            raise KeyError(SECRET_NAME)
        except KeyError as inner:
            raise ValueError(f"cannot enroll {SECRET_NAME} with {token}") from inner
    except ValueError as error:
        line = _format(_record_of(error), PrivateExceptionFilter(), RedactFilter(token))
    assert SECRET_NAME not in line and token not in line
    assert "builtins.ValueError" in line and "builtins.KeyError" in line
    assert "test_exception_texts_never_reach_the_log" in line  # the frame is still there
    assert "error while handling update 7" in line


def test_the_token_is_redacted_from_telegram_errors_it_keeps():
    from telegram.error import NetworkError

    token = "999:SECRET-token-abc"
    try:
        raise NetworkError(f"httpx.ConnectError: https://api.telegram.org/bot{token}/getMe")
    except NetworkError as error:
        record = _record_of(error)
    handler = logging.StreamHandler()
    install_filters(handler, token)
    assert all(item.filter(record) for item in handler.filters)
    line = handler.format(record)
    assert token not in line and "ConnectError" in line and "<redacted>" in line


def test_database_errors_carry_no_parameters(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection, pytest.raises(SQLAlchemyError) as raised:
            connection.execute(text("INSERT INTO no_such_table (name) VALUES (:name)"), {"name": SECRET_NAME})
    finally:
        engine.dispose()
    assert SECRET_NAME not in str(raised.value)
    assert "[parameters:" not in str(raised.value)
    line = _format(_record_of(raised.value), PrivateExceptionFilter())
    assert SECRET_NAME not in line and "no_such_table" not in line.split("Traceback")[0]


@pytest.mark.parametrize("name", ["Zelda\x00Secret", "Zelda Secret " + "x" * 4000])
async def test_a_name_the_database_would_refuse_never_reaches_it_or_the_log(harness, fake_api, caplog, name):
    caplog.set_level(logging.DEBUG)
    await harness.send(STAFF_ID, f"/enroll {name}")
    await harness.send(STAFF_ID, "/enroll")
    await harness.send(STAFF_ID, name)
    assert all("something went wrong" not in reply for reply in fake_api.texts(STAFF_ID))
    assert "[parameters:" not in caplog.text and "Zelda" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.skipif(selected_backend() != "sqlite", reason="file permissions are SQLite's")
def test_the_sqlite_files_are_readable_by_their_owner_only(tmp_path):
    old = os.umask(0o022)  # the usual umask, under which SQLite makes 0644 files
    try:
        path = tmp_path / "data" / "aftercare.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        with engine.begin() as connection:  # WAL: the -wal and -shm files exist while connected
            connection.execute(text("INSERT INTO heartbeat (name, at) VALUES ('x', '2026-01-01 00:00:00')"))
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
        engine.dispose()
    finally:
        os.umask(old)
    assert {"aftercare.db", "aftercare.db-wal", "aftercare.db-shm"} <= set(modes)
    assert set(modes.values()) == {0o600}, modes


@pytest.mark.skipif(selected_backend() != "sqlite", reason="file permissions are SQLite's")
def test_check_warns_when_env_or_database_is_readable_by_others(monkeypatch, tmp_path, capsys):
    from tests.bot.test_cli import TOKEN, run

    database = tmp_path / "aftercare.db"
    env_file = tmp_path / ".env"
    env_file.write_text(f"BOT_TOKEN={TOKEN}\nDATABASE_URL=sqlite:///{database}\n")
    env_file.chmod(0o644)
    assert run(["db", "upgrade"], monkeypatch, tmp_path) == 0
    database.chmod(0o644)  # e.g. copied in from elsewhere
    capsys.readouterr()
    assert run(["check"], monkeypatch, tmp_path) == 0
    err = capsys.readouterr().err
    assert f"{env_file.name} holds the bot token" in err and "aftercare.db holds patient data" in err
    assert "chmod 600" in err
    env_file.chmod(0o600)
    database.chmod(0o600)
    assert run(["check"], monkeypatch, tmp_path) == 0
    assert "other users of this machine" not in capsys.readouterr().err


async def test_a_failed_alert_says_the_send_failed_not_that_no_chat_is_set(harness, fake_api, caplog):
    await harness.link()
    fake_api.fail("sendMessage", status=403, chat_id=STAFF_ID)
    await harness.send(PATIENT_ID, "a question")
    # The staff outbox sent it, and says which chat refused it and why.
    assert f"could not alert staff chat {STAFF_ID}: Forbidden" in caplog.text
    assert "set STAFF_CHAT_ID or STAFF_IDS" not in caplog.text


async def test_two_polling_instances_give_one_clear_line(harness, caplog):
    caplog.set_level(logging.INFO)
    for _ in range(38):  # what Updater's retry loop hands the application while another instance polls
        await harness.app.process_error(update=None, error=Conflict("Conflict: terminated by other getUpdates request"))
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "another process is polling" in lines[0].getMessage()
    assert lines[0].exc_info is None


@pytest.mark.skipif(selected_backend() != "sqlite", reason="an outside lock on the SQLite file")
async def test_a_locked_database_gets_busy_try_again_quickly(fake_api, database_url, clock, caplog):
    bot = await BotHarness(fake_api, bot_env(fake_api, database_url), clock).start()
    try:
        await bot.link()
        outside = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        outside.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        try:
            started = time.monotonic()
            await bot.send(PATIENT_ID, "/status")
            elapsed = time.monotonic() - started
        finally:
            outside.execute("ROLLBACK")
            outside.close()
        assert "busy" in fake_api.texts(PATIENT_ID)[-1]
        assert elapsed < 5, elapsed  # Telegram users wait a few seconds, not 17.8
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        await bot.stop()
